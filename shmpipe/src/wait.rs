//! The waiting strategy: spin briefly, then sleep on the futex word in the shared header.
//!
//! A cross-core wake-up through the kernel costs tens of microseconds, a cache-line hand-off a
//! few dozen nanoseconds, so a waiter first spins (with `spin_loop` hints) for a short budget
//! and only then sleeps. Sleeping follows the handshake in `protocol`: announce the sleep (a
//! read-modify-write on our wake word), re-check, then `FUTEX_WAIT` on that word. The peer
//! wakes us only if it sees the announcement. The futex is process-shared (no `FUTEX_PRIVATE_FLAG`), because the peer
//! is usually another process.
//!
//! Sleeps are cut into slices of [`LIVENESS_SLICE`] so a waiter notices a dead peer in time.

use std::time::{Duration, Instant};

pub(crate) use crate::attempt::{Attempt, Gave};
use crate::layout::{SideLine, WAKE_SLEEPING};
use crate::os;
pub(crate) use crate::os::LIVENESS_SLICE;
use crate::protocol;
use crate::protocol::Wake;

/// The default time a waiter spins before it sleeps.
pub(crate) const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// How long to wait.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Wait {
    /// Not at all: report `Full`/`Empty`.
    Never,
    /// Until the condition holds.
    Forever,
    /// Until the condition holds or the instant passes.
    Until(Instant),
}

impl Wait {
    pub(crate) fn timeout(d: Duration) -> Wait {
        match Instant::now().checked_add(d) {
            Some(t) => Wait::Until(t),
            None => Wait::Forever,
        }
    }
}

/// Repeats `attempt` until it is ready, spinning for `spin` and then sleeping on `own.wake`,
/// woken by the peer; `peer_died` says (once per slice slept) whether the peer is gone
/// without closing, with the pid it recorded. Each failed attempt must leave the ring so the
/// peer can progress (the writer publishes pending records before it reports "not yet").
pub(crate) fn wait_for<T, E>(
    own: &SideLine,
    peer_died: impl Fn() -> Option<u32>,
    wait: Wait,
    spin: Duration,
    mut attempt: impl FnMut() -> Attempt<T, E>,
) -> Result<T, Gave<E>> {
    if let Some(result) = attempt().done() {
        return result;
    }
    let spin = match wait {
        Wait::Never => return Err(Gave::WouldBlock),
        Wait::Forever => spin,
        Wait::Until(deadline) => spin.min(deadline.saturating_duration_since(Instant::now())),
    };
    if let Some(v) = os::spin_phase(spin, &mut attempt)? {
        return Ok(v);
    }
    // The peer's liveness costs two system calls: check it once per slice slept without
    // progress, not on every sleep (a ping-pong sleeps once per message).
    let mut last_liveness_check = Instant::now();
    loop {
        protocol::announce_sleep(own);
        if let Some(result) = attempt().done() {
            protocol::end_sleep(own);
            return result;
        }
        let mut slice = LIVENESS_SLICE;
        if let Wait::Until(deadline) = wait {
            let now = Instant::now();
            if now >= deadline {
                protocol::end_sleep(own);
                return Err(Gave::TimedOut);
            }
            slice = slice.min(deadline - now);
        }
        if os::liveness_due(last_liveness_check) {
            last_liveness_check = Instant::now();
            if let Some(pid) = peer_died() {
                protocol::end_sleep(own);
                // Everything the peer did before it died is visible now (its death released
                // its lock, and our test of the lock is ordered after that by the kernel):
                // one last look.
                return attempt().done().unwrap_or(Err(Gave::PeerDied(pid)));
            }
        }
        os::futex_wait(&own.wake, WAKE_SLEEPING, slice);
        protocol::end_sleep(own);
    }
}

impl Wake<'_> {
    /// Makes the wake-up the protocol asked for: `FUTEX_WAKE` on the peer's wake word (already
    /// reset by `protocol::peer_needs_wake`). The one place a handle wakes its peer.
    #[inline]
    pub(crate) fn redeem(self) {
        if let Some(word) = self.word() {
            os::futex_wake(word);
        }
    }
}
