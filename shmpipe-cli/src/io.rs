//! Raw stdin and stdout: `read(2)` and `write(2)` on duplicates of fds 0 and 1, with no
//! buffer in between, stopping when a signal was caught.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd};

use super::{signals, SLICE};

/// Why a copy to or from stdio stopped.
#[derive(Debug)]
pub(crate) enum Stop {
    /// A signal was caught (its number).
    Signal(i32),
    /// The other end of stdout is closed (`EPIPE`).
    Closed,
    /// Any other error.
    Failed(io::Error),
}

/// Stdin as an unbuffered file (a duplicate of fd 0).
pub(crate) fn stdin() -> io::Result<File> {
    Ok(File::from(io::stdin().as_fd().try_clone_to_owned()?))
}

/// Stdout as an unbuffered file (a duplicate of fd 1).
pub(crate) fn stdout() -> io::Result<File> {
    Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?))
}

/// One `read(2)` into `buf`: the byte count, 0 at end of input.
pub(crate) fn read_some(file: &mut File, buf: &mut [u8]) -> Result<usize, Stop> {
    loop {
        match file.read(buf) {
            Ok(n) => return Ok(n),
            Err(e) => retry_or_stop(file, e, libc::POLLIN)?,
        }
    }
}

/// Writes all of `buf`.
pub(crate) fn write_all(file: &mut File, mut buf: &[u8]) -> Result<(), Stop> {
    while !buf.is_empty() {
        match file.write(buf) {
            Ok(0) => return Err(Stop::Failed(io::ErrorKind::WriteZero.into())),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Err(Stop::Closed),
            Err(e) => retry_or_stop(file, e, libc::POLLOUT)?,
        }
    }
    Ok(())
}

/// After a failed read or write: `Ok` to retry (interrupted without a signal of ours, or a
/// non-blocking fd that is now ready or may be), else why to stop.
fn retry_or_stop(file: &File, e: io::Error, events: libc::c_short) -> Result<(), Stop> {
    if let Some(signal) = signals::caught() {
        return Err(Stop::Signal(signal));
    }
    match e.kind() {
        io::ErrorKind::Interrupted => Ok(()),
        // Stdio left non-blocking by whoever started us: wait until it is ready.
        io::ErrorKind::WouldBlock => {
            let mut fd = libc::pollfd {
                fd: file.as_raw_fd(),
                events,
                revents: 0,
            };
            // SAFETY: `fd` is one valid pollfd, as the count says; an error or a timeout just
            // means retrying.
            unsafe { libc::poll(&mut fd, 1, SLICE.as_millis() as libc::c_int) };
            Ok(())
        }
        _ => Err(Stop::Failed(e)),
    }
}
