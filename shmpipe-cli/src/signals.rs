//! Ctrl-C and friends: SIGINT, SIGTERM and SIGHUP set a flag that the commands check between
//! steps (every blocking step lasts at most [`SLICE`](super::SLICE)), so they can close the
//! ring properly before exiting with 128 + the signal number.
//!
//! The handler is installed without `SA_RESTART`, so a `read(2)` or `write(2)` blocked on a
//! terminal or a pipe returns `EINTR` and the command notices at once; and with
//! `SA_RESETHAND`, so a second Ctrl-C kills the process the default way. A signal that was
//! ignored when the command started (`nohup`, a background job of a script) stays ignored.

use std::io;
use std::ptr;
use std::sync::atomic::{AtomicI32, Ordering};

/// The last signal caught, or 0.
static CAUGHT: AtomicI32 = AtomicI32::new(0);

extern "C" fn record(signal: libc::c_int) {
    // An atomic store is async-signal-safe.
    CAUGHT.store(signal, Ordering::Relaxed);
}

/// Installs the handler for SIGINT, SIGTERM and SIGHUP.
pub(crate) fn install() -> io::Result<()> {
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: `sigaction` is a plain C struct for which all-zero bytes are a valid value
        // (no handler, no flags, an empty mask).
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: a null new action only reads the current one into `old`, valid memory.
        if unsafe { libc::sigaction(signal, ptr::null(), &mut old) } != 0 {
            return Err(io::Error::last_os_error());
        }
        if old.sa_sigaction == libc::SIG_IGN {
            continue;
        }
        // SAFETY: as above, all-zero is a valid `sigaction`.
        let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
        action.sa_sigaction = record as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = libc::SA_RESETHAND;
        // SAFETY: `action` is valid memory and `record` only does an atomic store, which is
        // async-signal-safe; sigemptyset only initialises the mask inside `action`.
        let ret = unsafe {
            libc::sigemptyset(&mut action.sa_mask);
            libc::sigaction(signal, &action, ptr::null_mut())
        };
        if ret != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The signal caught since the handler was installed, if any.
pub(crate) fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::Relaxed) {
        0 => None,
        signal => Some(signal),
    }
}
