//! Temporal slipping: a blocking reader that streams on the writer's heels waits a moment
//! before it looks at the write position again, so that it takes records in batches and
//! stops pulling the writer's lines away while the writer fills them (FastForward, Giacomoni
//! et al. 2008, keeps its consumer a slip distance behind for the same reason).
//!
//! The writer has its own [`Slip`], for the mirror image: a blocking send that streams into a
//! full ring on the reader's heels (each record waiting for the reader to release one) waits
//! the same way before it looks at the read position again, with "found" the room the reader
//! released since the writer's previous look. The rule below is the reader's; read "write
//! position" as "read position" and "published" as "released" for the writer.
//!
//! # The slow regime
//! A reader that keeps pace with its writer looks at the write position after every record
//! or two: each look takes that line (and the line the writer is filling) from the writer's
//! core, and the writer's next store takes it back. The writer is slowed by the reader's
//! looks, so the reader stays on its heels: a stable state, measured on the development VM
//! at 10-20 M messages/s for 64-byte records between two processes where a reader lagging
//! further behind takes 50-80 M/s (docs/BENCHMARKS.md, "Temporal slipping").
//!
//! # The rule
//! Each look at the write position after the reader released everything it knew of reports
//! how many bytes it found ([`Slip::after_look`]); the next such look, in a blocking receive,
//! is delayed by [`Slip::delay`]:
//! - nothing found: no delay (the writer is idle or slower than us: a wait, not a stream),
//!   and the previous look's bytes stay the measure for the next;
//! - more than the previous look found, and less than a lag worth keeping ([`enough`]): the
//!   writer produced more while we waited, so it streams: the delay starts at
//!   [`MIN_DELAY`] (if this look found less than [`START_BELOW`], a few small records: large
//!   records do not need it) and doubles at each such look, up to [`MAX_DELAY`];
//! - as much as a lag worth keeping: the delay stays;
//! - otherwise (no more than the previous look) no delay: the found bytes do not grow with the
//!   delay, as in a ping-pong, where each look finds the one record the peer answered with
//!   (and a pipelined exchange its window), however long we wait. At [`MAX_DELAY`] a look
//!   that finds at least half the previous one's keeps it.
//!
//! A ping-pong thus never waits (a message alone never grows), and a stream waits at most
//! [`MAX_DELAY`] for records published during the delay; the reader's first look after the
//! delay takes everything published. Only blocking receives wait (`recv`, `recv_timeout`, and
//! what is built on them): `try_recv` and its kin never do. The loom build never waits: the
//! rule changes when the reader looks, never what a look may see.

use std::time::Duration;

/// The first delay of a stream: less than a ping-pong's round trip between two cores, so a
/// look that was going to wait for a reply anyway loses nothing by it.
pub(crate) const MIN_DELAY: Duration = Duration::from_nanos(250);

/// The longest delay: what a record published while the reader waits may lose, at most.
pub(crate) const MAX_DELAY: Duration = Duration::from_micros(8);

/// A stream starts to slip only from a look that found less than this: a few small records.
/// Large records already share each look at the write position among many lines of data.
pub(crate) const START_BELOW: u64 = 1024;

/// A lag worth keeping: 64 KiB, or a quarter of a smaller ring.
#[inline]
pub(crate) fn enough(capacity: u64) -> u64 {
    (64 * 1024).min(capacity / 4)
}

/// The reader's slip: how long its next blocking look waits, and what the last look found.
#[derive(Debug, Clone, Default)]
pub(crate) struct Slip {
    /// Nanoseconds; 0 when not streaming.
    delay_ns: u32,
    /// Bytes the last look found published beyond the read position.
    last_found: u64,
}

impl Slip {
    /// How long the next blocking look waits (zero when not streaming).
    #[inline]
    pub(crate) fn delay(&self) -> Duration {
        Duration::from_nanos(u64::from(self.delay_ns))
    }

    /// Is the next look delayed: the reader streams on the writer's heels, waiting for it?
    /// (A slipping reader hands its finished lines back: see `hand_back`.)
    #[inline]
    pub(crate) fn slipping(&self) -> bool {
        self.delay_ns != 0
    }

    /// Before a blocking look: waits the delay, if any, without touching shared memory.
    #[inline]
    pub(crate) fn before_look(&self) {
        if self.delay_ns != 0 {
            self.wait();
        }
    }

    #[cold]
    #[inline(never)]
    fn wait(&self) {
        // The loom build looks at once: waiting changes nothing a model can see.
        #[cfg(not(loom))]
        {
            let start = std::time::Instant::now();
            let delay = self.delay();
            while start.elapsed() < delay {
                std::hint::spin_loop();
            }
        }
    }

    /// After a look at the write position, made when everything known had been released:
    /// `found` bytes were published beyond the read position (0 for none), in a ring of
    /// `capacity` bytes.
    #[inline]
    pub(crate) fn after_look(&mut self, found: u64, capacity: u64) {
        if found == 0 {
            // What the last look found stays the measure of the next: a ping-pong whose
            // replies come before some looks and after others never grows.
            self.delay_ns = 0;
            return;
        }
        if found >= enough(capacity) {
            // Lagging enough: keep the delay.
        } else if found > self.last_found {
            if self.delay_ns != 0 {
                self.delay_ns = (self.delay_ns * 2).min(MAX_DELAY.as_nanos() as u32);
            } else if found < START_BELOW {
                self.delay_ns = MIN_DELAY.as_nanos() as u32;
            }
        } else if !(self.delay() == MAX_DELAY && found * 2 >= self.last_found) {
            self.delay_ns = 0;
        }
        self.last_found = found;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RING: u64 = 1 << 20;

    #[test]
    fn a_ping_pong_never_waits() {
        let mut slip = Slip::default();
        // The first reply is more than nothing: one look waits the shortest delay...
        slip.after_look(72, RING);
        assert_eq!(slip.delay(), MIN_DELAY);
        // ...and finds the same: no stream.
        slip.after_look(72, RING);
        assert_eq!(slip.delay(), Duration::ZERO);
        for _ in 0..100 {
            slip.after_look(0, RING); // waiting for the reply
            slip.after_look(72, RING); // the reply, alone
            assert_eq!(slip.delay(), Duration::ZERO);
        }
        // A pipelined exchange: the window, however long we wait (its first look is more than
        // the single replies before it: one probe).
        slip.after_look(4 * 72, RING);
        assert_eq!(slip.delay(), MIN_DELAY);
        for _ in 0..100 {
            slip.after_look(4 * 72, RING);
            assert_eq!(slip.delay(), Duration::ZERO);
        }
    }

    #[test]
    fn a_stream_on_the_heels_ramps_up_to_the_longest_delay_and_keeps_it() {
        let mut slip = Slip::default();
        slip.after_look(72, RING);
        assert_eq!(slip.delay(), MIN_DELAY);
        let mut found = 72;
        while slip.delay() < MAX_DELAY {
            let before = slip.delay();
            found *= 2; // a writer that produces while we wait
            slip.after_look(found, RING);
            assert!(slip.delay() == (before * 2).min(MAX_DELAY));
        }
        // At the longest delay the found bytes level off (and jitter): kept.
        for jitter in [found, found - 72, found / 2 + 8, found] {
            slip.after_look(jitter, RING);
            assert_eq!(slip.delay(), MAX_DELAY);
        }
        // A lag worth keeping keeps the delay too, whatever the growth.
        slip.after_look(enough(RING), RING);
        slip.after_look(enough(RING), RING);
        assert_eq!(slip.delay(), MAX_DELAY);
        // The writer stops: the next look finds nothing and the reader looks at once again.
        slip.after_look(0, RING);
        assert_eq!(slip.delay(), Duration::ZERO);
    }

    #[test]
    fn a_stream_that_does_not_grow_with_the_delay_stops_waiting() {
        let mut slip = Slip::default();
        slip.after_look(72, RING);
        slip.after_look(144, RING);
        assert_eq!(slip.delay(), MIN_DELAY * 2);
        slip.after_look(144, RING);
        assert_eq!(slip.delay(), Duration::ZERO);
    }

    #[test]
    fn large_records_do_not_start_a_slip() {
        let mut slip = Slip::default();
        for found in [4104, 8208, 16416, 32832] {
            slip.after_look(found, RING);
            assert_eq!(slip.delay(), Duration::ZERO);
        }
    }

    #[test]
    fn a_small_ring_keeps_a_quarter_as_enough() {
        assert_eq!(enough(4096), 1024);
        assert_eq!(enough(RING), 64 * 1024);
        let mut slip = Slip::default();
        slip.after_look(64, 4096);
        slip.after_look(128, 4096);
        assert_eq!(slip.delay(), MIN_DELAY * 2);
        slip.after_look(1024, 4096);
        slip.after_look(1024, 4096);
        assert_eq!(
            slip.delay(),
            MIN_DELAY * 2,
            "a quarter of the ring keeps the delay"
        );
    }

    #[test]
    fn waiting_takes_the_delay() {
        let mut slip = Slip::default();
        let start = std::time::Instant::now();
        slip.before_look();
        let idle = start.elapsed();
        slip.after_look(72, RING);
        slip.after_look(144, RING);
        for _ in 0..6 {
            slip.after_look(slip.last_found * 2, RING);
        }
        assert_eq!(slip.delay(), MAX_DELAY);
        let start = std::time::Instant::now();
        slip.before_look();
        assert!(start.elapsed() >= MAX_DELAY, "{:?}", start.elapsed());
        assert!(idle < MAX_DELAY, "{idle:?}");
    }
}
