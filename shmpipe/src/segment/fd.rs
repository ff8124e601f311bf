//! What the fd-based backends (POSIX, file, memfd) share: the identity of a file, sizing and
//! reserving a new one, checking the size of an existing one, and mapping.

use std::fs::{File, Metadata, Permissions};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::ptr::{self, NonNull};
use std::time::Duration;

use super::{bytes, create_os, open_os, Mapping, Named, Purpose, Unmap};
use crate::error::{CreateError, OpenError};
use crate::layout::HEADER_SIZE;
use crate::layout::{LAYOUT_VERSION, MAGIC};
use crate::lock_table::PRESENCE_BYTE;
use crate::segment::locks;
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;

/// Which file a name referred to: device and inode number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    pub(super) fn of(meta: &Metadata) -> Self {
        FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// Where a new segment's space comes from, to say how to get more when it runs out.
#[derive(Debug, Clone, Copy)]
pub(super) enum Room {
    /// A filesystem at a known mount point (`/dev/shm` for POSIX objects).
    Mount(&'static str),
    /// Some filesystem holding a file the user named.
    AnyFilesystem,
    /// Memory (memfd).
    Memory,
}

/// Sets the mode of a new, empty file (when `mode` is given), sizes it to `size` bytes,
/// reserves the space, and maps it. The file was created empty by the caller, so the mapping
/// reads as zeros.
///
/// The creator takes the presence lock first (see `ownership`): from its creation on, the
/// segment is never taken for a stale ring. The mapping keeps the file.
pub(super) fn size_and_map(
    file: File,
    size: usize,
    mode: Option<u32>,
    what: &str,
    room: Room,
) -> Result<Mapping, CreateError> {
    if !locks::try_lock(file.as_fd(), libc::F_RDLCK, PRESENCE_BYTE)
        .map_err(|e| create_os("fcntl(F_OFD_SETLK)", what, e))?
    {
        return Err(create_os(
            "fcntl(F_OFD_SETLK)",
            what,
            io::Error::other("another process holds a write lock on the new segment"),
        ));
    }
    if let Some(mode) = mode {
        // fchmod: the mode given to open was narrowed by the umask.
        file.set_permissions(Permissions::from_mode(mode))
            .map_err(|e| create_os("fchmod", what, e))?;
    }
    let len = size as u64;
    if let Room::Memory = room {
        // A memfd lives in memory with no filesystem limit above it: reserving more than the
        // machine has would not fail, it would run the machine out of memory.
        if let Some(total) = memory_total().filter(|&total| len > total) {
            return Err(CreateError::ResourceLimit {
                segment: what.to_owned(),
                limit: format!(
                    "its {} are more than this machine's {} of memory and swap; use a smaller capacity",
                    bytes(len),
                    bytes(total)
                ),
                source: None,
            });
        }
    }
    // ftruncate
    file.set_len(len)
        .map_err(|e| sizing_error("ftruncate", e, &file, len, what, room))?;
    // The magic and version first, before the reservation that can take seconds for a large
    // ring: a creator that dies from here on leaves a segment recognisably ours, which
    // `replace_stale` may replace once nobody has it open (the init word is still 0).
    let mut prefix = [0u8; 12];
    prefix[..8].copy_from_slice(&MAGIC);
    prefix[8..].copy_from_slice(&LAYOUT_VERSION.to_ne_bytes());
    file.write_all_at(&prefix, 0)
        .map_err(|e| create_os("pwrite", what, e))?;
    reserve(file.as_fd(), len).map_err(|e| sizing_error("fallocate", e, &file, len, what, room))?;
    let mut mapping = map(Some(file.as_fd()), size).map_err(|e| create_os("mmap", what, e))?;
    mapping.file = Some(OwnedFd::from(file));
    Ok(mapping)
}

/// Checks the size of an existing segment and maps all of it; returns the mapping (which
/// keeps the file) and the file's identity. For use, it first takes the presence lock (a
/// segment being replaced right now is `NotInitialised`: retry) and reserves the backing of
/// the header page; the opener reserves the rest once the header is validated
/// (`Mapping::reserve`), so a sparse segment on a full filesystem is an error, never a
/// `SIGBUS`.
pub(super) fn map_existing(
    file: File,
    what: &str,
    purpose: Purpose,
) -> Result<(Mapping, FileId), OpenError> {
    let meta = file.metadata().map_err(|e| open_os("fstat", what, e))?;
    if !meta.file_type().is_file() {
        return Err(OpenError::Incompatible {
            segment: what.to_owned(),
            reason: "it is not a regular file".to_owned(),
        });
    }
    let len = check_len(meta.len(), what)?;
    if purpose == Purpose::Use {
        let present = locks::try_lock(file.as_fd(), libc::F_RDLCK, PRESENCE_BYTE)
            .map_err(|e| open_os("fcntl(F_OFD_SETLK)", what, e))?;
        if !present {
            // A replacer holds the write lock: the name is about to refer to a new ring.
            return Err(OpenError::NotInitialised {
                segment: what.to_owned(),
                waited: Duration::ZERO,
            });
        }
        // The header page now (it is read at once); the data region once the header is
        // validated (`Mapping::reserve`), so a planted huge file is never allocated.
        reserve(file.as_fd(), HEADER_SIZE as u64)
            .map_err(|e| unbacked(what, HEADER_SIZE as u64, e))?;
    }
    let mut mapping = map(Some(file.as_fd()), len).map_err(|e| open_os("mmap", what, e))?;
    mapping.file = Some(OwnedFd::from(file));
    Ok((mapping, FileId::of(&meta)))
}

/// The size of an existing segment as a length to map: 0 means its creator has not sized it
/// yet, less than a header means it is truncated.
pub(super) fn check_len(size: u64, what: &str) -> Result<usize, OpenError> {
    if size == 0 {
        return Err(OpenError::NotInitialised {
            segment: what.to_owned(),
            waited: Duration::ZERO,
        });
    }
    if size < HEADER_SIZE as u64 {
        return Err(OpenError::Truncated {
            segment: what.to_owned(),
            needed: HEADER_SIZE as u64,
            actual: size,
        });
    }
    usize::try_from(size).map_err(|_| OpenError::Os {
        op: "mmap",
        segment: what.to_owned(),
        source: io::Error::from_raw_os_error(libc::ENOMEM),
    })
}

/// Maps `len` bytes of `fd` (or anonymous memory when `fd` is `None`) read-write and
/// `MAP_SHARED`. `len` must not be 0.
pub(super) fn map(fd: Option<BorrowedFd<'_>>, len: usize) -> io::Result<Mapping> {
    let (flags, raw) = match fd {
        Some(fd) => (libc::MAP_SHARED, fd.as_raw_fd()),
        None => (libc::MAP_SHARED | libc::MAP_ANONYMOUS, -1),
    };
    // SAFETY: a fresh mapping at an address of the kernel's choosing (no MAP_FIXED) cannot
    // touch any memory Rust knows about; `raw` is a valid fd borrowed for the call, or -1 with
    // MAP_ANONYMOUS.
    let ptr = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            raw,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let ptr = NonNull::new(ptr.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned 0"))?;
    Ok(Mapping {
        ptr,
        len,
        unmap: Unmap::Munmap,
        name: Named::None,
        file: None,
        memfd: false,
    })
}

/// Reserves the first `len` bytes of the file in its filesystem now (`fallocate(2)`, mode 0:
/// allocates what is not allocated, changes no byte), so a full filesystem is an error here
/// rather than a `SIGBUS` on first touch. A filesystem that cannot reserve space at all is
/// not an error: the segment works, unreserved.
///
/// Not `posix_fallocate(3)`: where the filesystem has no `fallocate`, glibc emulates it by
/// writing a zero into every block that reads as zero, which on a live ring could overwrite a
/// record a peer has just written.
pub(super) fn reserve(file: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    loop {
        // SAFETY: a plain system call on a valid fd; it touches no memory of ours.
        let r = unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, len) };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            Some(libc::EOPNOTSUPP | libc::ENOSYS) => return Ok(()),
            Some(libc::EINTR) => continue,
            _ => return Err(e),
        }
    }
}

/// The error for a segment whose backing cannot be reserved at open: its filesystem is full.
pub(crate) fn unbacked(what: &str, len: u64, e: io::Error) -> OpenError {
    match e.raw_os_error() {
        Some(libc::ENOSPC) => OpenError::Os {
            op: "fallocate",
            segment: what.to_owned(),
            source: io::Error::new(
                e.kind(),
                format!(
                    "its {} are not all backed by memory and its filesystem has no room left to back them (using it would crash with SIGBUS); free space or remove it",
                    bytes(len)
                ),
            ),
        },
        _ => open_os("fallocate", what, e),
    }
}

/// An error from sizing or reserving: a full filesystem or a size it cannot hold is a
/// resource limit, named with how to raise it.
fn sizing_error(
    op: &'static str,
    e: io::Error,
    file: &File,
    size: u64,
    what: &str,
    room: Room,
) -> CreateError {
    let limit = match e.raw_os_error() {
        Some(libc::ENOSPC) => no_space(file, size, room),
        Some(libc::EFBIG) => format!(
            "its filesystem does not allow a file of {}; use a smaller capacity or another filesystem",
            bytes(size)
        ),
        _ => return create_os(op, what, e),
    };
    CreateError::ResourceLimit {
        segment: what.to_owned(),
        limit,
        source: Some(e),
    }
}

/// The sentence for a full filesystem: its free space and how to raise it.
fn no_space(file: &File, size: u64, room: Room) -> String {
    if let Room::Memory = room {
        return format!(
            "there is not enough memory for its {}; free some memory or use a smaller capacity",
            bytes(size)
        );
    }
    let Some((free, total)) = space(file) else {
        return format!(
            "there is not enough free space on its filesystem for its {}; free some space or use a smaller capacity",
            bytes(size)
        );
    };
    // What the filesystem would need to hold everything it holds now plus this segment,
    // rounded up to a MiB.
    let needed_mib = (total.saturating_sub(free).saturating_add(size)).div_ceil(1 << 20);
    let (mount, remedy) = match room {
        Room::Mount(mount) => (mount, String::new()),
        _ => ("MOUNTPOINT", " if it is a tmpfs".to_owned()),
    };
    format!(
        "there is not enough free space for its {}: its filesystem has {} free of {}; free some space, or enlarge it{remedy}, e.g. `mount -o remount,size={needed_mib}M {mount}` (as root)",
        bytes(size),
        bytes(free),
        bytes(total),
    )
}

/// Free (for unprivileged users) and total bytes of the filesystem holding `file`.
// `u64::from`: the statvfs fields are u32 on some targets and u64 on others.
#[allow(clippy::useless_conversion)]
fn space(file: &File) -> Option<(u64, u64)> {
    let mut st = MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `st` is writable memory for one `statvfs`, which the call fills on success.
    let ret = unsafe { libc::fstatvfs(file.as_raw_fd(), st.as_mut_ptr()) };
    if ret != 0 {
        return None;
    }
    // SAFETY: fstatvfs succeeded, so it initialised `st`.
    let st = unsafe { st.assume_init() };
    let frsize = u64::from(st.f_frsize);
    Some((
        u64::from(st.f_bavail).saturating_mul(frsize),
        u64::from(st.f_blocks).saturating_mul(frsize),
    ))
}

/// Bytes of RAM plus swap: the most a memfd could ever hold.
// `u64::from`: the sysinfo fields are u32 on some targets and u64 on others.
#[allow(clippy::useless_conversion)]
fn memory_total() -> Option<u64> {
    let mut info = MaybeUninit::<libc::sysinfo>::uninit();
    // SAFETY: `info` is writable memory for one `sysinfo`, which the call fills on success.
    if unsafe { libc::sysinfo(info.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: sysinfo succeeded, so it initialised `info`.
    let info = unsafe { info.assume_init() };
    let unit = u64::from(info.mem_unit).max(1);
    Some(
        u64::from(info.totalram)
            .saturating_add(u64::from(info.totalswap))
            .saturating_mul(unit),
    )
}
