//! POSIX shared memory: `shm_open` objects named `/name` (on Linux, files in `/dev/shm`).

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use super::fd::{self, FileId, Room};
use super::{create_os, cvt, open_os, Mapping, NameError, Named, Purpose};
use crate::error::{CreateError, OpenError};

/// The longest name after the leading `/` (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// Checks a POSIX shared memory name (`demo` or `/demo`) and returns it as `shm_open` takes
/// it, with its leading `/`.
pub(super) fn name(raw: &str) -> Result<CString, NameError> {
    let bare = raw.strip_prefix('/').unwrap_or(raw);
    let reason = if bare.is_empty() {
        "a POSIX shared memory name needs at least one character after the optional leading '/'"
            .to_owned()
    } else if bare.contains('/') {
        "a POSIX shared memory name may contain '/' only as its first character".to_owned()
    } else if bare == "." || bare == ".." {
        format!("{bare:?} is not a valid POSIX shared memory name")
    } else if bare.contains('\0') {
        "the name contains a NUL byte".to_owned()
    } else if bare.len() > NAME_MAX {
        format!(
            "the name is {} bytes long after the leading '/', and at most {NAME_MAX} are allowed",
            bare.len()
        )
    } else {
        match CString::new(format!("/{bare}")) {
            Ok(name) => return Ok(name),
            Err(_) => "the name contains a NUL byte".to_owned(),
        }
    };
    Err(NameError::new(raw, reason))
}

/// Creates the object exclusively and maps it; see [`super::create`].
pub(super) fn create(
    name: CString,
    what: &str,
    size: usize,
    mode: u32,
) -> Result<Mapping, CreateError> {
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL;
    let file = shm_open(&name, flags, mode).map_err(|e| match refused(&name, e) {
        Ok(bad) => bad.into(),
        Err(e) => create_os("shm_open", what, e),
    })?;
    let id = match file.metadata() {
        Ok(meta) => FileId::of(&meta),
        Err(e) => {
            // We created the name a moment ago and cannot tell its identity: remove it.
            let _ = shm_unlink(&name);
            return Err(create_os("fstat", what, e));
        }
    };
    let named = Named::Posix { name, id };
    match fd::size_and_map(file, size, Some(mode), what, Room::Mount("/dev/shm")) {
        Ok(mut mapping) => {
            mapping.name = named;
            Ok(mapping)
        }
        Err(e) => {
            let _ = named.remove();
            Err(e)
        }
    }
}

/// Opens an existing object read-write and maps all of it; see [`super::open`].
pub(super) fn open(name: CString, what: &str, purpose: Purpose) -> Result<Mapping, OpenError> {
    let file = shm_open(&name, libc::O_RDWR, 0).map_err(|e| match refused(&name, e) {
        Ok(bad) => bad.into(),
        Err(e) => open_os("shm_open", what, e),
    })?;
    let (mut mapping, id) = fd::map_existing(file, what, purpose)?;
    mapping.name = Named::Posix { name, id };
    Ok(mapping)
}

/// `shm_unlink`: a missing object is an error.
pub(super) fn remove(name: &CStr) -> io::Result<()> {
    shm_unlink(name)
}

/// Unlinks `name` if it still refers to the object `ours`; a name that is gone or refers to
/// another object is left alone.
pub(super) fn unlink_if_ours(name: &CStr, ours: FileId) -> io::Result<()> {
    let file = match shm_open(name, libc::O_RDONLY, 0) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if FileId::of(&file.metadata()?) != ours {
        return Ok(());
    }
    match shm_unlink(name) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// An error by which `shm_open` refused the name itself, as a [`NameError`]; any other error
/// is handed back.
fn refused(name: &CStr, e: io::Error) -> Result<NameError, io::Error> {
    match e.raw_os_error() {
        Some(libc::EINVAL | libc::ENAMETOOLONG) => Ok(NameError::new(
            name.to_string_lossy(),
            format!("the system refused it: {e}"),
        )),
        _ => Err(e),
    }
}

/// Opens an existing object read-write (for a second description of it).
pub(super) fn open_rw(name: &CStr) -> io::Result<File> {
    shm_open(name, libc::O_RDWR, 0)
}

/// `shm_open`, close-on-exec, returning an owned file.
fn shm_open(name: &CStr, oflag: libc::c_int, mode: libc::mode_t) -> io::Result<File> {
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    let fd = cvt(unsafe { libc::shm_open(name.as_ptr(), oflag | libc::O_CLOEXEC, mode) })?;
    // SAFETY: shm_open just returned this fd, and nothing else owns it.
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// `shm_unlink`.
fn shm_unlink(name: &CStr) -> io::Result<()> {
    // SAFETY: `name` is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::shm_unlink(name.as_ptr()) }).map(drop)
}
