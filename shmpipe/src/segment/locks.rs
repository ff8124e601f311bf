//! Open-file-description locks: the system calls behind the lock table of segments that have
//! a file (`fcntl(F_OFD_SETLK)` / `F_OFD_GETLK` on single bytes of the segment file).

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use crate::lock_table::Locks;

/// How many 1-ms pauses a claim or close waits for another process's claim or close of
/// the same role to end (about two seconds).
const TRANSITION_TRIES: u32 = 2000;

fn flock(kind: libc::c_int, byte: i64) -> libc::flock {
    flock_range(kind, byte, 1)
}

fn flock_range(kind: libc::c_int, byte: i64, len: i64) -> libc::flock {
    // SAFETY: `flock` is a plain C struct; all-zero is a valid value of it.
    let mut fl: libc::flock = unsafe { std::mem::zeroed() };
    fl.l_type = kind as libc::c_short;
    fl.l_whence = libc::SEEK_SET as libc::c_short;
    fl.l_start = byte as libc::off_t;
    fl.l_len = len as libc::off_t;
    fl
}

fn fcntl_lock(fd: BorrowedFd<'_>, cmd: libc::c_int, fl: &mut libc::flock) -> io::Result<()> {
    loop {
        // SAFETY: `fd` is a valid descriptor for the call; `fl` is a valid, writable flock
        // that the kernel reads (and, for F_OFD_GETLK, writes) during the call only.
        let r = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, fl as *mut libc::flock) };
        if r != -1 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Takes a lock of `kind` (`F_RDLCK`/`F_WRLCK`) on `byte` without waiting: `Ok(false)`
/// if another description holds a conflicting one.
pub(crate) fn try_lock(fd: BorrowedFd<'_>, kind: libc::c_int, byte: i64) -> io::Result<bool> {
    let mut fl = flock(kind, byte);
    match fcntl_lock(fd, libc::F_OFD_SETLK, &mut fl) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Releases this description's lock on `byte` (nothing if it holds none).
pub(crate) fn unlock(fd: BorrowedFd<'_>, byte: i64) {
    let mut fl = flock(libc::F_UNLCK, byte);
    let _ = fcntl_lock(fd, libc::F_OFD_SETLK, &mut fl);
}

/// The kind of lock another description holds on `byte` that would conflict with a write
/// lock (`F_RDLCK` or `F_WRLCK`), or `None`. An error (no lock support) reads as `None`.
pub(crate) fn holder(fd: BorrowedFd<'_>, byte: i64) -> Option<libc::c_int> {
    holder_of_range(fd, byte, 1)
}

/// [`holder`] over `len` bytes from `byte`, in one look.
pub(crate) fn holder_of_range(fd: BorrowedFd<'_>, byte: i64, len: i64) -> Option<libc::c_int> {
    let mut fl = flock_range(libc::F_WRLCK, byte, len);
    match fcntl_lock(fd, libc::F_OFD_GETLK, &mut fl) {
        Ok(()) if fl.l_type as libc::c_int != libc::F_UNLCK => Some(fl.l_type as libc::c_int),
        _ => None,
    }
}

/// A new open file description of the file behind `fd`, read-write, close-on-exec:
/// `/proc/self/fd/N` opened again (which, unlike `dup`, makes a new description).
pub(crate) fn reopen(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(path)?;
    Ok(OwnedFd::from(file))
}

/// The real lock table, through the ring's presence description (and its mapping, to
/// open the segment again by name where `/proc` is missing).
#[derive(Clone, Copy)]
pub(crate) struct FdLocks<'a>(
    pub(crate) BorrowedFd<'a>,
    pub(crate) Option<&'a super::Mapping>,
);

impl Locks for FdLocks<'_> {
    type Own = OwnedFd;

    fn open_own(&self) -> io::Result<OwnedFd> {
        reopen(self.0).or_else(|e| match self.1 {
            // No /proc (a chroot, a container without it): by name, if it still is ours.
            Some(mapping) => mapping.reopen_by_name().map_err(|_| e),
            None => Err(e),
        })
    }

    fn try_lock_own(&self, own: &OwnedFd, byte: i64) -> io::Result<bool> {
        try_lock(own.as_fd(), libc::F_WRLCK, byte)
    }

    fn unlock_own(&self, own: &OwnedFd, byte: i64) {
        unlock(own.as_fd(), byte);
    }

    fn try_lock_presence(&self, byte: i64) -> io::Result<bool> {
        try_lock(self.0, libc::F_WRLCK, byte)
    }

    fn unlock_presence(&self, byte: i64) {
        unlock(self.0, byte);
    }

    fn close_own(&self, own: OwnedFd) {
        drop(own);
    }

    fn held_elsewhere(&self, probe: Option<&OwnedFd>, byte: i64, len: i64) -> bool {
        holder_of_range(probe.map_or(self.0, |fd| fd.as_fd()), byte, len).is_some()
    }

    fn pause(&self, tries: u32) -> bool {
        std::thread::sleep(Duration::from_millis(1));
        tries < TRANSITION_TRIES
    }
}
