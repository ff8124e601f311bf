//! The physical floor of a round trip between two CPUs: one cache line bounced between two
//! threads pinned where the harness puts a sender and its peer. This thread writes an odd
//! value, the other thread answers with the next even one: a round trip is two line
//! transfers, with no framing, no validation and no sleeping, against which a transport's
//! round trip is judged (issue 13: an 8-byte round trip through the ring within 1.6× of this).
//!
//! ```no_run
//! use shmpipe_bench::{cacheline::Bouncer, harness};
//! let placement = harness::place();
//! let mut bouncer = Bouncer::start(&placement)?;
//! let rounds = bouncer.latency_for(std::time::Duration::from_millis(100))?;
//! println!("cache-line round trip p50: {} ns", rounds.quantile(0.5));
//! # Ok::<(), std::io::Error>(())
//! ```
// The line is plain memory shared by two threads of this process, not a ring: the loom shim
// (`shmpipe::sync`, which the workspace's lint points to) has nothing to model here.
#![allow(clippy::disallowed_types)]

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::harness::{self, Latency, Placement};

/// Two cache lines' worth of counter, so nothing else shares its line (nor the adjacent-line
/// prefetcher's pair).
#[repr(align(128))]
struct Line(AtomicU64);

/// The value that tells the bouncing thread to stop.
const STOP: u64 = u64::MAX;

/// Spins between looks at the clock while waiting for the answer.
const SPINS_PER_CLOCK_CHECK: u32 = 1 << 16;

/// The cache-line ping-pong: a thread on the peer's CPU answers every odd value with the next
/// even one until dropped.
pub struct Bouncer {
    line: Arc<Line>,
    next: u64,
    other: Option<JoinHandle<()>>,
}

impl Bouncer {
    /// Starts the answering thread, pinned to the peer's CPU of `placement` (unpinned on a
    /// machine of one CPU, where the figure means little).
    pub fn start(placement: &Placement) -> io::Result<Bouncer> {
        let line = Arc::new(Line(AtomicU64::new(0)));
        let theirs = line.clone();
        let cpu = placement.peer;
        let other = std::thread::Builder::new()
            .name("cacheline".into())
            .spawn(move || {
                if let Some(cpu) = cpu {
                    let _ = harness::pin_current_thread(cpu);
                }
                loop {
                    // Acquire pairs with the Release store of an odd value in `round_trips`
                    // (and of `STOP` in `drop`); the line carries no other data, so this is
                    // the bounce's cost, not a guard of anything.
                    let v = theirs.0.load(Ordering::Acquire);
                    if v == STOP {
                        return;
                    }
                    if v % 2 == 1 {
                        // Release pairs with the Acquire load that waits for it in
                        // `round_trips`.
                        theirs.0.store(v + 1, Ordering::Release);
                    }
                    std::hint::spin_loop();
                }
            })?;
        Ok(Bouncer {
            line,
            next: 1,
            other: Some(other),
        })
    }

    /// Makes `n` round trips, each timed into `samples` if given; their total time. An answer
    /// that has not come within [`harness::STALL_LIMIT`] is an error, not a hang.
    pub fn round_trips(
        &mut self,
        n: u64,
        mut samples: Option<&mut Vec<u64>>,
    ) -> io::Result<Duration> {
        let start = Instant::now();
        for _ in 0..n {
            let t0 = Instant::now();
            // Release / Acquire: the partners of the answering thread's load and store above.
            self.line.0.store(self.next, Ordering::Release);
            let mut spins = 0u32;
            while self.line.0.load(Ordering::Acquire) != self.next + 1 {
                std::hint::spin_loop();
                spins = spins.wrapping_add(1);
                if spins % SPINS_PER_CLOCK_CHECK == 0 && t0.elapsed() > harness::STALL_LIMIT {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "the cache-line bounce stalled: no answer in {} s",
                            harness::STALL_LIMIT.as_secs()
                        ),
                    ));
                }
            }
            self.next += 2;
            if let Some(s) = samples.as_deref_mut() {
                s.push(t0.elapsed().as_nanos() as u64);
            }
        }
        Ok(start.elapsed())
    }

    /// Round trips for about `budget` (at least 256), each timed, as
    /// [`harness::latency_for`] measures a transport.
    pub fn latency_for(&mut self, budget: Duration) -> io::Result<Latency> {
        harness::timed_round_trips(budget, |n, samples| self.round_trips(n, Some(samples)))
    }
}

impl Drop for Bouncer {
    fn drop(&mut self) {
        // Release: seen by the answering thread's Acquire load, which then returns.
        self.line.0.store(STOP, Ordering::Release);
        if let Some(t) = self.other.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bounce_answers_every_round_trip_and_stops_when_dropped() {
        let placement = Placement {
            parent: None,
            peer: None,
        };
        let mut bouncer = Bouncer::start(&placement).unwrap();
        let mut samples = Vec::new();
        bouncer.round_trips(1000, Some(&mut samples)).unwrap();
        assert_eq!(samples.len(), 1000);
        assert_eq!(bouncer.next, 2001, "every odd value was answered");
        let l = bouncer.latency_for(Duration::from_millis(20)).unwrap();
        assert!(l.round_trips >= 256 && l.sorted_ns.len() as u64 == l.round_trips);
        assert!(l.sorted_ns.windows(2).all(|w| w[0] <= w[1]));
        drop(bouncer); // joins the answering thread: a hang here would fail the test
    }
}
