//! `--progress` on `write` and `read`: bytes moved, rate, ring fill, elapsed time and (when
//! the input size is known) percentage and ETA, redrawn on one stderr line a few times a
//! second, then a summary line. Nothing of it goes to stdout.
//!
//! The data path pays one relaxed store of its byte count per record (records are up to
//! 1 MiB); everything else (reading the clock and the ring's positions, formatting, writing
//! to stderr) happens on a separate thread that wakes [`REDRAW`] apart.

use std::fs::File;
use std::io::{Seek as _, Write as _};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use shmpipe::Ring;

use super::show;

/// How often the line is redrawn.
pub(crate) const REDRAW: Duration = Duration::from_millis(250);

/// The byte count the data path shares with the drawing thread.
///
/// The workspace's clippy.toml steers the library to its loom-aware atomics; this counter is
/// the command's own, between two threads of one process, which loom does not model.
#[allow(clippy::disallowed_types)]
#[derive(Debug, Default)]
pub(crate) struct Counter(std::sync::atomic::AtomicU64);

impl Counter {
    /// Records the running total (a relaxed store: the drawer only needs a recent value).
    pub(crate) fn set(&self, bytes: u64) {
        self.0.store(bytes, std::sync::atomic::Ordering::Relaxed);
    }

    /// The last total recorded.
    fn get(&self) -> u64 {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Which way the bytes went, for the summary line.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Verb {
    /// `write`: stdin into the ring.
    Wrote,
    /// `read`: the ring to stdout.
    Read,
}

/// The bytes left to read on stdin when it is a regular file (what `--progress` needs for a
/// percentage and an ETA); `None` for a pipe, a terminal or a device.
pub(crate) fn input_size(input: &File) -> Option<u64> {
    let meta = input.metadata().ok().filter(|m| m.is_file())?;
    let mut input = input;
    let offset = input.stream_position().ok()?;
    Some(meta.len().saturating_sub(offset))
}

/// Runs `body` with a byte counter for it to update (a relaxed store of its running total
/// after each record). When `enabled`, a thread meanwhile redraws the progress line, and
/// when `body` returns the summary line is printed (before any error line of the caller).
pub(crate) fn run<T>(
    enabled: bool,
    ring: &Ring,
    verb: Verb,
    total: Option<u64>,
    body: impl FnOnce(&Counter) -> T,
) -> T {
    let moved = Counter::default();
    if !enabled {
        return body(&moved);
    }
    let start = Instant::now();
    let (stop, stopped) = mpsc::channel::<()>();
    thread::scope(|scope| {
        let counter = &moved;
        let drawer = scope.spawn(move || draw(ring, counter, total, start, &stopped));
        let result = body(&moved);
        drop(stop);
        // A drawer that panicked drew nothing more: the summary covers its last line anyway.
        let width = drawer.join().unwrap_or(0);
        let bytes = moved.get();
        emit(&summary(verb, bytes, start.elapsed()), width, true);
        result
    })
}

/// The drawing thread: a line every [`REDRAW`] until told to stop. Returns the width of the
/// last line it drew, for the summary to cover.
fn draw(
    ring: &Ring,
    moved: &Counter,
    total: Option<u64>,
    start: Instant,
    stop: &mpsc::Receiver<()>,
) -> usize {
    let mut width = 0;
    let mut last = (start, 0u64);
    let mut rate: Option<f64> = None;
    loop {
        match stop.recv_timeout(REDRAW) {
            Err(RecvTimeoutError::Timeout) => {}
            Ok(()) | Err(RecvTimeoutError::Disconnected) => return width,
        }
        let now = Instant::now();
        let bytes = moved.get();
        let dt = now.duration_since(last.0).as_secs_f64();
        if dt > 0.0 {
            // The rate of the last interval, smoothed over the ones before.
            let recent = bytes.saturating_sub(last.1) as f64 / dt;
            rate = Some(rate.map_or(recent, |r| 0.5 * r + 0.5 * recent));
        }
        last = (now, bytes);
        let status = ring.status();
        let fill = status.used() as f64 / status.capacity.max(1) as f64;
        let line = line(bytes, rate, fill, now.duration_since(start), total);
        width = emit(&line, width, false);
    }
}

/// The progress line: `1.20 GiB 45%  650 MiB/s  ring 100%  0:02  ETA 0:03`.
fn line(bytes: u64, rate: Option<f64>, fill: f64, elapsed: Duration, total: Option<u64>) -> String {
    let mut text = show::size(bytes);
    if let Some(total) = total.filter(|&t| t > 0) {
        let done = (bytes as f64 / total as f64).min(1.0);
        text.push_str(&format!(" {:.0}%", done * 100.0));
    }
    text.push_str(&format!(
        "  {}  ring {:.0}%  {}",
        rate.map_or("-".to_owned(), show::rate),
        (fill * 100.0).clamp(0.0, 100.0),
        show::clock(elapsed)
    ));
    if let Some(total) = total {
        let average = bytes as f64 / elapsed.as_secs_f64().max(1e-9);
        let left = total.saturating_sub(bytes) as f64;
        let eta = if left == 0.0 {
            "0:00".to_owned()
        } else if average > 0.0 {
            show::clock(Duration::from_secs_f64((left / average).min(1e9)))
        } else {
            "-".to_owned()
        };
        text.push_str(&format!("  ETA {eta}"));
    }
    text
}

/// The summary: `shmpipe: wrote 1073741824 bytes (1.00 GiB) in 1.02 s, 1004 MiB/s`.
fn summary(verb: Verb, bytes: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    format!(
        "shmpipe: {} {bytes} bytes ({}) in {secs:.2} s, {}",
        match verb {
            Verb::Wrote => "wrote",
            Verb::Read => "read",
        },
        show::size(bytes),
        show::rate(bytes as f64 / secs.max(1e-9))
    )
}

/// Draws `text` over the previous line (`\r`, then spaces where the previous one was
/// longer), ending it with a newline if `last`. Returns the new width. Errors are ignored:
/// progress must never stop the copy.
fn emit(text: &str, previous: usize, last: bool) -> usize {
    let width = text.chars().count();
    let pad = previous.saturating_sub(width);
    let out = format!("\r{text}{:pad$}{}", "", if last { "\n" } else { "" });
    let _ = std::io::stderr().lock().write_all(out.as_bytes());
    width
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_shows_percent_and_eta_only_with_a_size() {
        let secs = Duration::from_secs(2);
        assert_eq!(
            line(1 << 30, Some(512.0 * 1048576.0), 0.5, secs, None),
            "1.00 GiB  512 MiB/s  ring 50%  0:02"
        );
        assert_eq!(
            line(1 << 30, Some(512.0 * 1048576.0), 1.0, secs, Some(2 << 30)),
            "1.00 GiB 50%  512 MiB/s  ring 100%  0:02  ETA 0:02"
        );
        assert_eq!(
            line(0, None, 0.0, secs, Some(10)),
            "0 B 0%  -  ring 0%  0:02  ETA -"
        );
    }

    #[test]
    fn the_summary_names_bytes_time_and_rate() {
        assert_eq!(
            summary(Verb::Read, 1 << 20, Duration::from_secs(1)),
            "shmpipe: read 1048576 bytes (1.00 MiB) in 1.00 s, 1.00 MiB/s"
        );
    }
}
