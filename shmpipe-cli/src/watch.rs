//! `shmpipe stat NAME --watch`: one line per interval with the ring's positions, the rate
//! at which each side moves, the fill level and the peers, until end-of-stream or Ctrl-C.
//!
//! The ring is opened once (no role is claimed, nothing is written) and its mapping kept, so
//! the watch goes on after the name is removed when both sides have attached.

use std::io::{self, ErrorKind, Write as _};
use std::thread;
use std::time::{Duration, Instant};

use shmpipe::{OpenError, RingOptions, Status};

use super::args::StatArgs;
use super::liveness::{self, PeerState, Peers};
use super::show::{self, quote};
use super::{names, signals, Failure, Outcome, SLICE};

/// Runs `shmpipe stat NAME --watch`.
pub(crate) fn run(args: &StatArgs) -> Outcome {
    let segment = names::segment(&args.name, args.backend)?;
    signals::install().map_err(|e| Failure::runtime(format!("cannot handle signals: {e}")))?;
    let ring = RingOptions::new()
        .timeout(Some(Duration::from_secs(1)))
        .open(&segment)
        .map_err(|e| match e {
            OpenError::NotFound { .. } => Failure::runtime(format!(
                "{segment} does not exist (a ring's name is removed once both its writer and its reader have attached: start the watch before the reader, or write with --keep-name)"
            )),
            e @ OpenError::InvalidName { .. } => Failure::usage(e.to_string()),
            e => Failure::runtime(format!(
                "cannot watch {segment}: {e} (`shmpipe stat` without --watch describes it)"
            )),
        })?;
    let start = Instant::now();
    let mut previous: Option<(Instant, Status)> = None;
    if !args.json {
        print(&header())?;
    }
    loop {
        let now = Instant::now();
        let status = ring.status();
        let peers = liveness::peers(&status);
        let rates = previous.map(|(then, before)| {
            let dt = now.duration_since(then).as_secs_f64().max(1e-9);
            (
                status
                    .writer
                    .position
                    .saturating_sub(before.writer.position) as f64
                    / dt,
                status
                    .reader
                    .position
                    .saturating_sub(before.reader.position) as f64
                    / dt,
            )
        });
        let end = ended(&status, &peers);
        let sample = Sample {
            elapsed: now.duration_since(start),
            status: &status,
            peers: &peers,
            rates,
            end: end.as_deref(),
        };
        print(&if args.json {
            sample.json()
        } else {
            sample.text()
        })?;
        if end.is_some() {
            return Ok(());
        }
        previous = Some((now, status));
        pause(args.interval)?;
    }
}

/// Sleeps `interval`, checking for Ctrl-C every [`SLICE`].
fn pause(interval: Duration) -> Outcome {
    let until = Instant::now() + interval;
    loop {
        if let Some(signal) = signals::caught() {
            return Err(Failure::signal(signal));
        }
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(());
        }
        thread::sleep(left.min(SLICE));
    }
}

/// Why the watch is over, if it is: the stream ended, or a side is gone for good.
fn ended(status: &Status, peers: &Peers) -> Option<String> {
    let (written, read) = (status.writer.position, status.reader.position);
    let drained = read >= written;
    match (peers.writer.state, peers.reader.state) {
        (PeerState::Closed, _) if drained => Some(format!(
            "end-of-stream: the reader read everything the writer wrote (ring position {written})"
        )),
        (PeerState::Dead, _) if drained => Some(format!(
            "the writer died; the reader read everything it wrote (ring position {written})"
        )),
        (_, PeerState::Closed) => Some(format!(
            "the reader closed the ring at position {read} of {written}"
        )),
        (_, PeerState::Dead) => Some(format!("the reader died at position {read} of {written}")),
        _ if peers.stale() => Some("no process of the ring is alive".to_owned()),
        _ => None,
    }
}

/// One line of the watch.
struct Sample<'a> {
    elapsed: Duration,
    status: &'a Status,
    peers: &'a Peers,
    /// Bytes per second committed by the writer and released by the reader since the last
    /// sample (none for the first).
    rates: Option<(f64, f64)>,
    end: Option<&'a str>,
}

/// The column titles of the text view.
fn header() -> String {
    format!(
        "{:>8}  {:>10}  {:>12}  {:>10}  {:>12}  {:>16}  {:<12}  {}\n",
        "ELAPSED", "WRITTEN", "WRITE RATE", "READ", "READ RATE", "FILL", "WRITER", "READER"
    )
}

impl Sample<'_> {
    /// A line of the text view (and, at the end, the reason on a line of its own).
    fn text(&self) -> String {
        let s = self.status;
        let rate = |r: Option<f64>| r.map_or("-".to_owned(), show::rate);
        let fill = format!(
            "{} {:.0}%",
            show::size(s.used()),
            s.used() as f64 * 100.0 / s.capacity.max(1) as f64
        );
        let mut line = format!(
            "{:>8}  {:>10}  {:>12}  {:>10}  {:>12}  {:>16}  {:<12}  {}\n",
            show::clock(self.elapsed),
            show::size(s.writer.position),
            rate(self.rates.map(|r| r.0)),
            show::size(s.reader.position),
            rate(self.rates.map(|r| r.1)),
            fill,
            self.peers.writer.text(),
            self.peers.reader.text(),
        );
        if let Some(end) = self.end {
            line.push_str(&format!("shmpipe: {end}\n"));
        }
        line
    }

    /// One JSON object on one line.
    fn json(&self) -> String {
        let s = self.status;
        let rate = |r: Option<f64>| r.map_or("null".to_owned(), show::number);
        format!(
            concat!(
                r#"{{"elapsed":{},"written":{},"read":{},"write_rate":{},"read_rate":{},"#,
                r#""used":{},"capacity":{},"writer":{},"reader":{},"end":{}}}"#,
                "\n"
            ),
            show::number(self.elapsed.as_secs_f64()),
            s.writer.position,
            s.reader.position,
            rate(self.rates.map(|r| r.0)),
            rate(self.rates.map(|r| r.1)),
            s.used(),
            s.capacity,
            self.peers.writer.json(),
            self.peers.reader.json(),
            self.end.map_or("null".to_owned(), quote),
        )
    }
}

/// Writes to stdout at once; a closed stdout ends the watch quietly.
fn print(text: &str) -> Outcome {
    let mut out = io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::BrokenPipe => Err(Failure::quiet(0)),
        Err(e) => Err(Failure::runtime(format!("writing stdout failed: {e}"))),
    }
}
