//! `shmpipe write NAME`: creates the ring (replacing a stale one), copies stdin into it in
//! large records read straight into the ring (`reserve` + `read(2)`), closes it at end of
//! input and waits until the reader has read everything.

use std::fs::File;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use shmpipe::{CreateError, Ring, RingOptions, RoleState, Segment, SendError, Writer};

use super::args::WriteArgs;
use super::io::{self, Stop};
use super::{names, progress, say, signals, Failure, Outcome, SLICE};

/// The largest record the writer sends: large enough that per-record costs vanish, small
/// enough that the reader works on one record while the writer fills the next.
const MAX_RECORD: u64 = 1 << 20;

/// Runs `shmpipe write`.
pub(crate) fn run(args: WriteArgs) -> Outcome {
    let segment = names::segment(&args.name, args.backend)?;
    signals::install().map_err(|e| Failure::runtime(format!("cannot handle signals: {e}")))?;
    let mut input = io::stdin().map_err(|e| Failure::runtime(format!("cannot use stdin: {e}")))?;
    let ring = create(&segment, args.capacity, args.keep_name)?;
    let mut writer = ring.writer().map_err(|e| {
        let _ = ring.remove_name();
        Failure::runtime(format!("cannot attach to {segment} as its writer: {e}"))
    })?;
    // Sleep at once when the ring is full instead of spinning first: the reader frees room a
    // large record at a time, so a spin rarely sees it and only takes CPU from the reader
    // (on a 2-vCPU machine this made the stream about 1.5 times as fast).
    writer.set_spin(Duration::ZERO);
    let total = progress::input_size(&input);
    let outcome = progress::run(
        args.progress.wanted(),
        &ring,
        progress::Verb::Wrote,
        total,
        |moved| {
            let mut sent = 0u64;
            match copy(&ring, &mut writer, &mut input, &mut sent, moved) {
                Ok(()) => drain(&ring, writer, sent),
                Err(Stopped::Input(failure)) => {
                    // The input ended badly, as `cat` failing mid-file would: closing lets
                    // the reader drain what was sent, then see end-of-stream.
                    writer.close();
                    forget_if_unread(&ring);
                    Err(failure)
                }
                Err(Stopped::Ring(failure)) => {
                    // The ring itself failed under us: never let what was sent look
                    // complete. The reader gets what was published, then "the writer died".
                    writer.abort();
                    forget_if_unread(&ring);
                    Err(failure)
                }
            }
        },
    );
    if args.keep_name {
        // The name was kept for `ls` and `stat --watch` while the stream lasted; it goes now
        // (an error means someone removed it already).
        let _ = ring.remove_name();
    }
    outcome
}

/// Creates the ring exclusively; a stale ring holding the name (a ring of ours that no
/// process has open any more, as a crash leaves it) is replaced atomically, with a notice.
/// Anything else holding the name is left alone and named in the error.
fn create(segment: &Segment, capacity: u64, keep_name: bool) -> Result<Ring, Failure> {
    let options = RingOptions::new()
        .capacity(capacity)
        .keep_name(keep_name)
        .replace_stale(true);
    match options.create(segment) {
        Ok(ring) => {
            if let Some(what) = ring.replaced() {
                say(&format!("replaced a stale ring at {segment}: {what}"));
            }
            Ok(ring)
        }
        Err(e @ (CreateError::InvalidName { .. } | CreateError::InvalidCapacity { .. })) => {
            Err(Failure::usage(e.to_string()))
        }
        Err(e) => Err(Failure::runtime(e.to_string())),
    }
}

/// The record size: a quarter of the ring (up to 1 MiB) less the 8-byte record header, so
/// that four full records fill the ring exactly and no space goes to padding.
fn record_len(writer: &Writer) -> usize {
    let quarter = (writer.capacity() / 4).min(MAX_RECORD) as usize;
    quarter.saturating_sub(8).min(writer.max_message()).max(1)
}

/// Why copying stopped early: the input (close the ring, as a pipe's writer would), or the
/// ring (abort, so the reader never takes a cut stream for a whole one).
enum Stopped {
    Input(Failure),
    Ring(Failure),
}

/// Copies stdin into the ring until end of input: each record is reserved in the ring and
/// filled by one `read(2)` straight from stdin (no copy in between), then committed. The
/// running total goes to `moved` too, for `--progress`.
fn copy(
    ring: &Ring,
    writer: &mut Writer,
    input: &mut File,
    sent: &mut u64,
    moved: &progress::Counter,
) -> Result<(), Stopped> {
    let len = record_len(writer);
    loop {
        if let Some(signal) = signals::caught() {
            return Err(Stopped::Input(Failure::signal(signal)));
        }
        let mut grant = match writer.reserve_timeout(len, SLICE) {
            Ok(grant) => grant,
            Err(SendError::Timeout) => continue,
            Err(e) => return Err(Stopped::Input(send_failure(ring, e, *sent))),
        };
        match io::read_some(input, &mut grant) {
            // End of input: the grant is dropped unused.
            Ok(0) => return Ok(()),
            Ok(n) => {
                grant
                    .commit(n)
                    .map_err(|e| Stopped::Ring(Failure::runtime(e.to_string())))?;
                *sent += n as u64;
                moved.set(*sent);
            }
            Err(Stop::Signal(signal)) => return Err(Stopped::Input(Failure::signal(signal))),
            Err(Stop::Closed) => {
                return Err(Stopped::Input(Failure::runtime(
                    "reading stdin failed: it is closed",
                )))
            }
            // read(2) into the ring's memory failing with EFAULT: the pages behind the ring
            // are gone (another process truncated its file), not a fault of stdin.
            Err(Stop::Failed(e)) if e.raw_os_error() == Some(libc::EFAULT) => {
                return Err(Stopped::Ring(Failure::runtime(format!(
                    "the ring's memory is no longer backed after {sent} bytes (another process truncated or resized its segment); the reader will see the stream cut, not ended"
                ))))
            }
            Err(Stop::Failed(e)) => {
                return Err(Stopped::Input(Failure::runtime(format!(
                    "reading stdin failed: {e}"
                ))))
            }
        }
    }
}

/// Closes the ring and waits until the reader has read everything (or closed, or died),
/// checking for Ctrl-C while it waits.
fn drain(ring: &Ring, writer: Writer, sent: u64) -> Outcome {
    let (done, result) = mpsc::channel();
    thread::spawn(move || done.send(writer.close_and_wait(None)));
    loop {
        match result.recv_timeout(SLICE) {
            Ok(Ok(())) => return reader_came(ring),
            Ok(Err(e)) => return Err(drain_failure(ring, e, sent)),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Some(signal) = signals::caught() {
                    // The ring is closed already: a reader still gets everything, then
                    // end-of-stream.
                    forget_if_unread(ring);
                    return Err(Failure::signal(signal));
                }
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(Failure::runtime(
                    "waiting for the reader failed unexpectedly",
                ))
            }
        }
    }
}

/// Waits until a reader has attached, as a FIFO's writer does: with nothing left unread the
/// drain is over at once, but the ring must stay until a reader has come to see its
/// end-of-stream (it then removes the name, or closes the ring itself).
fn reader_came(ring: &Ring) -> Outcome {
    loop {
        let reader = ring.status().reader;
        if reader.pid.is_some() || reader.state != RoleState::Vacant {
            return Ok(());
        }
        if let Some(signal) = signals::caught() {
            forget_if_unread(ring);
            return Err(Failure::signal(signal));
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// When giving up before any reader attached, removes the name: nobody would ever read the
/// ring, and it would be left behind in `/dev/shm` or `ipcs -m`.
fn forget_if_unread(ring: &Ring) {
    if ring.status().reader.pid.is_none() {
        let _ = ring.remove_name();
    }
}

/// A failed send, as the line to print.
fn send_failure(ring: &Ring, e: SendError, sent: u64) -> Failure {
    let reader_pid = |pid| super::pid_text(pid, ring.status().reader.same_namespace);
    Failure::runtime(match e {
        SendError::Closed => format!(
            "the reader closed the ring after {sent} bytes were sent; the rest of stdin was not sent"
        ),
        SendError::PeerDied { pid } => format!(
            "the reader ({}) died after {sent} bytes were sent; the rest of stdin was not sent",
            reader_pid(pid)
        ),
        e => format!("sending failed after {sent} bytes: {e}"),
    })
}

/// A failed wait for the reader at the end, as the line to print.
fn drain_failure(ring: &Ring, e: SendError, sent: u64) -> Failure {
    Failure::runtime(match e {
        SendError::Closed => format!("the reader closed the ring before reading all {sent} bytes"),
        SendError::PeerDied { pid } => format!(
            "the reader ({}) died before reading all {sent} bytes",
            super::pid_text(pid, ring.status().reader.same_namespace)
        ),
        e => format!("waiting for the reader to read all {sent} bytes failed: {e}"),
    })
}
