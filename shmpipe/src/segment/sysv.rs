//! System V shared memory: `shmget` segments found by a key, given directly or made by
//! `ftok`.

use std::ffi::CString;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::ptr::{self, NonNull};

use super::{bytes, create_os, cvt, fd, open_os, Mapping, NameError, Named, SysvKey, Unmap};
use crate::error::{CreateError, OpenError};
use crate::layout::HEADER_SIZE;

/// Resolves a [`SysvKey`] to the key to pass to `shmget`, refusing `IPC_PRIVATE`.
pub(super) fn key(key: &SysvKey) -> Result<libc::key_t, NameError> {
    match key {
        SysvKey::Key(key) if *key == libc::IPC_PRIVATE => Err(NameError::new(
            format!("{:#010x}", *key as u32),
            "key 0 is IPC_PRIVATE, which no other process could find; use a nonzero key",
        )),
        SysvKey::Key(key) => Ok(*key),
        SysvKey::Ftok { path, id } => {
            let name = format!("ftok({path:?}, {id})");
            if *id == 0 {
                return Err(NameError::new(name, "ftok's project id must not be 0"));
            }
            let Ok(c_path) = CString::new(path.as_os_str().as_bytes()) else {
                return Err(NameError::new(name, "the path contains a NUL byte"));
            };
            // SAFETY: `c_path` is a NUL-terminated string that outlives the call.
            let key = unsafe { libc::ftok(c_path.as_ptr(), libc::c_int::from(*id)) };
            if key == -1 {
                let e = io::Error::last_os_error();
                return Err(NameError::new(
                    name,
                    format!(
                        "ftok failed on {}: {e}; the path must exist and be accessible",
                        path.display()
                    ),
                ));
            }
            if key == libc::IPC_PRIVATE {
                return Err(NameError::new(
                    name,
                    "ftok gave key 0 (IPC_PRIVATE), which no other process could find; use another path or id",
                ));
            }
            Ok(key)
        }
    }
}

/// Creates the segment exclusively and attaches it; see [`super::create`].
pub(super) fn create(
    key: libc::key_t,
    what: &str,
    size: usize,
    mode: u32,
) -> Result<Mapping, CreateError> {
    let resource_limit = |limit: String, source: Option<io::Error>| CreateError::ResourceLimit {
        segment: what.to_owned(),
        limit,
        source,
    };
    if let Some(max) = sysctl("shmmax") {
        if size as u64 > max {
            return Err(resource_limit(shmmax_limit(size, max), None));
        }
    }
    // System V IPC does not apply the umask: the permission bits given here are the
    // segment's mode exactly, so no IPC_SET is needed afterwards.
    let flags = libc::IPC_CREAT | libc::IPC_EXCL | mode as libc::c_int;
    let shmid = shmget(key, size, flags).map_err(|e| match e.raw_os_error() {
        Some(libc::EINVAL) => {
            let max = sysctl("shmmax").unwrap_or(u64::MAX);
            resource_limit(shmmax_limit(size, max), Some(e))
        }
        Some(libc::ENOSPC) => resource_limit(
            format!(
                "the system-wide System V shared memory limits are reached (kernel.shmall = {} pages in all, kernel.shmmni = {} segments); remove unused segments (`ipcs -m`, `ipcrm`) or raise the limits, e.g. `sysctl kernel.shmall=...` (as root)",
                display_sysctl("shmall"),
                display_sysctl("shmmni"),
            ),
            Some(e),
        ),
        Some(libc::ENOMEM) => resource_limit(
            format!(
                "there is not enough memory for its {}; free some memory or use a smaller capacity",
                bytes(size as u64)
            ),
            Some(e),
        ),
        _ => create_os("shmget", what, e),
    })?;
    // A new System V segment is zero-filled by the kernel.
    match attach(shmid, size) {
        Ok(mut mapping) => {
            mapping.name = Named::SysV { shmid };
            Ok(mapping)
        }
        Err(e) => {
            let _ = remove_id(shmid);
            Err(create_os("shmat", what, e))
        }
    }
}

/// Opens an existing segment read-write and attaches all of it; see [`super::open`].
pub(super) fn open(key: libc::key_t, what: &str) -> Result<Mapping, OpenError> {
    let shmid = shmget(key, 0, 0).map_err(|e| open_os("shmget", what, e))?;
    let ds = stat(shmid).map_err(|e| open_error("shmctl(IPC_STAT)", what, e))?;
    let len = fd::check_len(ds.shm_segsz as u64, what)?;
    let mut mapping = attach(shmid, len).map_err(|e| open_error("shmat", what, e))?;
    mapping.name = Named::SysV { shmid };
    Ok(mapping)
}

/// Marks the segment with this key for removal: `shmget(key, 0, 0)` then `IPC_RMID`. A
/// missing segment is an error.
pub(super) fn remove(key: libc::key_t) -> io::Result<()> {
    let shmid = shmget(key, 0, 0)?;
    rmid(shmid).map_err(|e| match e.raw_os_error() {
        // Removed by someone else between the two calls.
        Some(libc::EINVAL | libc::EIDRM) => io::Error::new(io::ErrorKind::NotFound, e),
        _ => e,
    })
}

/// `IPC_RMID` on our own segment id: the key is freed at once, the memory once the last
/// process detaches. A segment already removed is `Ok(())`.
pub(super) fn remove_id(shmid: libc::c_int) -> io::Result<()> {
    match rmid(shmid) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EIDRM)) => Ok(()),
        other => other,
    }
}

/// `shmctl(IPC_STAT)`: the segment's size, mode and owner.
pub(super) fn stat(shmid: libc::c_int) -> io::Result<libc::shmid_ds> {
    let mut ds = MaybeUninit::<libc::shmid_ds>::uninit();
    // SAFETY: `ds` is writable memory for one `shmid_ds`, which IPC_STAT fills on success.
    cvt(unsafe { libc::shmctl(shmid, libc::IPC_STAT, ds.as_mut_ptr()) })?;
    // SAFETY: IPC_STAT succeeded, so it initialised `ds`.
    Ok(unsafe { ds.assume_init() })
}

/// The first 16 bytes of segment `shmid` (magic and version), read through a short read-only
/// attachment; `None` if the segment is shorter than a header.
pub(super) fn read_header(shmid: libc::c_int) -> io::Result<Option<[u8; 16]>> {
    let ds = stat(shmid)?;
    if (ds.shm_segsz as u64) < HEADER_SIZE as u64 {
        return Ok(None);
    }
    // SAFETY: with a null address the kernel picks free address space; read-only.
    let ptr = unsafe { libc::shmat(shmid, ptr::null(), libc::SHM_RDONLY) };
    if ptr as isize == -1 {
        return Err(io::Error::last_os_error());
    }
    let mut out = [0u8; 16];
    // SAFETY: the attachment is at least HEADER_SIZE bytes (checked above), readable, and
    // page-aligned; the 16 bytes are read as two volatile words (another process may be
    // writing them: any value read is validated by the caller).
    unsafe {
        let words = ptr.cast::<u64>();
        out[..8].copy_from_slice(&words.read_volatile().to_ne_bytes());
        out[8..].copy_from_slice(&words.add(1).read_volatile().to_ne_bytes());
        libc::shmdt(ptr);
    }
    Ok(Some(out))
}

/// `shmget`.
pub(super) fn shmget(key: libc::key_t, size: usize, flags: libc::c_int) -> io::Result<libc::c_int> {
    // SAFETY: a plain system call; it touches no memory of ours.
    cvt(unsafe { libc::shmget(key, size, flags) })
}

/// `shmctl(IPC_RMID)`.
fn rmid(shmid: libc::c_int) -> io::Result<()> {
    // SAFETY: IPC_RMID reads no buffer; a null one is allowed.
    cvt(unsafe { libc::shmctl(shmid, libc::IPC_RMID, ptr::null_mut()) }).map(drop)
}

/// Attaches the segment read-write at an address of the kernel's choosing; `len` is its size.
fn attach(shmid: libc::c_int, len: usize) -> io::Result<Mapping> {
    // SAFETY: with a null address the kernel picks free address space, so the new mapping
    // cannot overlap memory Rust knows about.
    let ptr = unsafe { libc::shmat(shmid, ptr::null(), 0) };
    if ptr as isize == -1 {
        return Err(io::Error::last_os_error());
    }
    let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("shmat returned 0"))?;
    Ok(Mapping {
        ptr,
        len,
        unmap: Unmap::Shmdt,
        name: Named::None,
        file: None,
        memfd: false,
    })
}

/// An error from a step after `shmget` found the segment: if it is gone by now, that is
/// `NotFound` like a missing key.
fn open_error(op: &'static str, what: &str, e: io::Error) -> OpenError {
    match e.raw_os_error() {
        Some(libc::EINVAL | libc::EIDRM) => OpenError::NotFound {
            segment: what.to_owned(),
        },
        _ => open_os(op, what, e),
    }
}

/// The sentence for a segment larger than `kernel.shmmax`.
fn shmmax_limit(size: usize, max: u64) -> String {
    format!(
        "its {} exceed the System V segment size limit kernel.shmmax = {}; raise it with `sysctl kernel.shmmax={size}` (as root), or use the POSIX backend",
        bytes(size as u64),
        bytes(max),
    )
}

/// A number from `/proc/sys/kernel/NAME`.
fn sysctl(name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A number from `/proc/sys/kernel/NAME` for a message, or `?`.
fn display_sysctl(name: &str) -> String {
    sysctl(name).map_or_else(|| "?".to_owned(), |v| v.to_string())
}
