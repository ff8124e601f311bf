//! `shmpipe read NAME`: waits for the ring to appear, then writes each record to stdout
//! straight from shared memory (`recv_ref` + `write(2)`) until end-of-stream.

use std::fs::File;
use std::time::{Duration, Instant};

use shmpipe::{OpenError, RecvError, Ring, RingOptions, Segment};

use super::args::ReadArgs;
use super::io::{self, Stop};
use super::{names, progress, signals, Failure, Outcome, SLICE};

/// Runs `shmpipe read`.
pub(crate) fn run(args: ReadArgs) -> Outcome {
    let segment = names::segment(&args.name, args.backend)?;
    signals::install().map_err(|e| Failure::runtime(format!("cannot handle signals: {e}")))?;
    let mut output =
        io::stdout().map_err(|e| Failure::runtime(format!("cannot use stdout: {e}")))?;
    let ring = open(&segment, args.timeout)?;
    progress::run(
        args.progress.wanted(),
        &ring,
        progress::Verb::Read,
        None,
        |moved| copy(&ring, &segment, &mut output, moved),
    )
}

/// Opens the ring, waiting for it to appear and be initialised (up to `timeout`, or
/// forever). A creator that died before initialising it is reported at once (the kernel's
/// answer), never guessed from how long it takes.
fn open(segment: &Segment, timeout: Option<Duration>) -> Result<Ring, Failure> {
    let start = Instant::now();
    let mut uninitialised: bool;
    loop {
        if let Some(signal) = signals::caught() {
            return Err(Failure::signal(signal));
        }
        let left = timeout.map(|t| t.saturating_sub(start.elapsed()));
        let slice = left.map_or(SLICE, |left| left.min(SLICE));
        let attempt = RingOptions::new()
            .wait_for_creation(true)
            .timeout(Some(slice))
            .open(segment);
        match attempt {
            Ok(ring) => return Ok(ring),
            Err(OpenError::NotFound { .. }) => uninitialised = false,
            // Its creator is still at it (a large ring takes a while to reserve).
            Err(OpenError::NotInitialised { .. }) => uninitialised = true,
            Err(e @ OpenError::InvalidName { .. }) => return Err(Failure::usage(e.to_string())),
            Err(e) => return Err(Failure::runtime(e.to_string())),
        }
        if left.is_some_and(|left| left <= slice) {
            let secs = start.elapsed().as_secs_f64();
            return Err(Failure::runtime(if uninitialised {
                format!("{segment} exists but its creator had not finished initialising it after {secs:.1} seconds")
            } else {
                format!("{segment} did not appear within {secs:.1} seconds")
            }));
        }
    }
}

/// Attaches the reader and copies every record to stdout, keeping the running total in
/// `moved` for `--progress`.
fn copy(ring: &Ring, segment: &Segment, output: &mut File, moved: &progress::Counter) -> Outcome {
    let mut reader = ring
        .reader()
        .map_err(|e| Failure::runtime(format!("cannot attach to {segment} as its reader: {e}")))?;
    // Sleep at once on an empty ring instead of spinning first: records are large, so the
    // next one is rarely a few microseconds away, and a spin takes CPU from the writer.
    reader.set_spin(Duration::ZERO);
    let mut delivered = 0u64;
    loop {
        if let Some(signal) = signals::caught() {
            return Err(Failure::signal(signal));
        }
        match reader.recv_ref_timeout(SLICE) {
            Ok(Some(record)) => match io::write_all(output, &record) {
                Ok(()) => {
                    delivered += record.len() as u64;
                    moved.set(delivered);
                }
                Err(Stop::Signal(signal)) => return Err(Failure::signal(signal)),
                // Stdout closed (`| head`): stop quietly, like a pipeline does.
                Err(Stop::Closed) => return Ok(()),
                Err(Stop::Failed(e)) => {
                    return Err(Failure::runtime(format!("writing stdout failed: {e}")))
                }
            },
            Ok(None) => return Ok(()),
            Err(RecvError::Timeout) => writer_still_coming(ring)?,
            Err(RecvError::PeerDied { pid }) => {
                let pid = super::pid_text(pid, ring.status().writer.same_namespace);
                return Err(Failure::runtime(format!(
                    "the writer ({pid}) died; all {delivered} bytes it had written were delivered"
                )));
            }
            Err(e) => {
                return Err(Failure::runtime(format!(
                    "reading {segment} failed after {delivered} bytes: {e}"
                )))
            }
        }
    }
}

/// While no writer has attached, checks that some other process still has the ring open
/// (its creator, which attaches the writer): the kernel's answer, through file locks.
fn writer_still_coming(ring: &Ring) -> Outcome {
    let status = ring.status();
    if status.writer.pid.is_none() && !status.creator_alive {
        return Err(Failure::runtime(format!(
            "the creator of {} (pid {}) is gone and no writer ever attached",
            ring.description(),
            status.creator_pid
        )));
    }
    Ok(())
}
