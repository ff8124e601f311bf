//! Files mapped `MAP_SHARED`: a path on `/dev/shm`, another tmpfs, hugetlbfs, or any
//! filesystem.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::fd::{self, FileId, Room};
use super::{create_os, open_os, Mapping, NameError, Named, Purpose};
use crate::error::{CreateError, OpenError};

/// Checks a segment's path: not empty, no NUL byte.
pub(super) fn check_path(path: &Path) -> Result<(), NameError> {
    let bytes = path.as_os_str().as_bytes();
    let reason = if bytes.is_empty() {
        "the file path is empty"
    } else if bytes.contains(&0) {
        "the path contains a NUL byte"
    } else {
        return Ok(());
    };
    Err(NameError::new(path.display().to_string(), reason))
}

/// Creates the file exclusively and maps it; see [`super::create`].
pub(super) fn create(
    path: &Path,
    what: &str,
    size: usize,
    mode: u32,
) -> Result<Mapping, CreateError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(libc::O_NOCTTY)
        .open(path)
        .map_err(|e| match refused(path, e) {
            Ok(bad) => bad.into(),
            Err(e) => create_os("open", what, e),
        })?;
    let id = match file.metadata() {
        Ok(meta) => FileId::of(&meta),
        Err(e) => {
            // We created the file a moment ago and cannot tell its identity: remove it.
            let _ = fs::remove_file(path);
            return Err(create_os("fstat", what, e));
        }
    };
    let named = Named::File {
        path: path.to_owned(),
        id,
    };
    let room = if path.starts_with("/dev/shm") {
        Room::Mount("/dev/shm")
    } else {
        Room::AnyFilesystem
    };
    match fd::size_and_map(file, size, Some(mode), what, room) {
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

/// Opens an existing file read-write and maps all of it; see [`super::open`].
pub(super) fn open(path: &Path, what: &str, purpose: Purpose) -> Result<Mapping, OpenError> {
    let file: File = OpenOptions::new()
        .read(true)
        .write(true)
        // Never block in open or take a terminal, whatever the path turns out to be.
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match refused(path, e) {
            Ok(bad) => bad.into(),
            Err(e) => open_os("open", what, e),
        })?;
    let (mut mapping, id) = fd::map_existing(file, what, purpose)?;
    mapping.name = Named::File {
        path: path.to_owned(),
        id,
    };
    Ok(mapping)
}

/// Unlinks `path` if it still refers to the file `ours`; a path that is gone or refers to
/// another file is left alone.
pub(super) fn unlink_if_ours(path: &Path, ours: FileId) -> io::Result<()> {
    // Not following a symbolic link: the name is ours only if it is our file itself.
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if FileId::of(&meta) != ours {
        return Ok(());
    }
    match fs::remove_file(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

/// An error by which `open` refused the path itself (too long), as a [`NameError`]; any other
/// error is handed back.
fn refused(path: &Path, e: io::Error) -> Result<NameError, io::Error> {
    match e.raw_os_error() {
        Some(libc::ENAMETOOLONG) => Ok(NameError::new(
            path.display().to_string(),
            format!("the system refused it: {e}"),
        )),
        _ => Err(e),
    }
}
