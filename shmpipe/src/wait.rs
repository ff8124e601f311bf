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

use crate::layout::{Header, SideLine, WAKE_SLEEPING};
use crate::protocol;
use crate::sync::{spin_hint, AtomicU32};

/// How long a waiter sleeps before it checks that its peer is alive: a peer's death is noticed
/// within this much time (plus the cost of one check).
pub(crate) const LIVENESS_SLICE: Duration = Duration::from_millis(50);

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

/// The result of one attempt at the waited-for condition.
pub(crate) enum Attempt<T, E> {
    /// Done, with this value.
    Ready(T),
    /// Not yet.
    NotYet,
    /// Failed.
    Failed(E),
}

impl<T, E> Attempt<T, E> {
    /// `Some` with the wait's result if this attempt ends the wait, `None` to keep waiting.
    #[inline]
    pub(crate) fn done(self) -> Option<Result<T, Gave<E>>> {
        match self {
            Attempt::Ready(v) => Some(Ok(v)),
            Attempt::Failed(e) => Some(Err(Gave::Failed(e))),
            Attempt::NotYet => None,
        }
    }
}

/// What a wait ended with, when it did not get its value.
pub(crate) enum Gave<E> {
    /// The attempt failed.
    Failed(E),
    /// `Wait::Never` and the condition did not hold.
    WouldBlock,
    /// The deadline passed.
    TimedOut,
    /// The peer's process is gone (the pid it recorded is given).
    PeerDied(u32),
}

/// Repeats `attempt` until it is ready, spinning for `spin` and then sleeping on `own.wake`,
/// woken by the peer; `peer_died` says (once per slice slept) whether the peer is gone
/// without closing, with the pid it recorded. Each failed attempt must leave the ring so the
/// peer can progress (the writer publishes pending records before it reports "not yet").
pub(crate) fn wait_for<T, E>(
    header: &Header,
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
    if let Some(v) = spin_phase(spin, &mut attempt)? {
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
        if cfg!(loom) || last_liveness_check.elapsed() >= LIVENESS_SLICE {
            last_liveness_check = Instant::now();
            if let Some(pid) = peer_died() {
                protocol::end_sleep(own);
                // Everything the peer did before it died is visible now (its death released
                // its lock, and our test of the lock is ordered after that by the kernel):
                // one last look.
                return attempt().done().unwrap_or(Err(Gave::PeerDied(pid)));
            }
        }
        futex_wait(header, &own.wake, WAKE_SLEEPING, slice);
        protocol::end_sleep(own);
    }
}

/// Attempts between two looks at the clock while spinning.
#[cfg(not(loom))]
const SPINS_PER_CLOCK_CHECK: u32 = 64;

/// Spins on `attempt` for up to `spin`: one `spin_loop` hint (`pause`) between attempts, so a
/// record published on another core is seen within a few dozen nanoseconds of its arrival in
/// this core's cache. (An exponential backoff here made a waiting side look only every 64
/// pauses, a microsecond or more on x86, which a ping-pong pays on every hop.)
#[cfg(not(loom))]
pub(crate) fn spin_phase<T, E>(
    spin: Duration,
    attempt: &mut impl FnMut() -> Attempt<T, E>,
) -> Result<Option<T>, Gave<E>> {
    if spin.is_zero() {
        return Ok(None);
    }
    let start = Instant::now();
    loop {
        for _ in 0..SPINS_PER_CLOCK_CHECK {
            spin_hint();
            if let Some(result) = attempt().done() {
                return result.map(Some);
            }
        }
        if start.elapsed() >= spin {
            return Ok(None);
        }
    }
}

/// Under loom one more attempt stands for the spin phase; loom explores preemptions around it.
/// It does not yield: after a yield loom never again returns a value the thread loaded before
/// it (its rule for making spin loops progress), which would hide a stale re-check after the
/// sleep is announced, the very race the sleep/wake handshake must survive.
#[cfg(loom)]
pub(crate) fn spin_phase<T, E>(
    _spin: Duration,
    attempt: &mut impl FnMut() -> Attempt<T, E>,
) -> Result<Option<T>, Gave<E>> {
    attempt().done().transpose()
}

/// Sleeps while `word == expected`, for at most `timeout` (spurious returns are fine: the
/// caller re-checks).
#[cfg(not(loom))]
fn futex_wait(_header: &Header, word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a live, 4-byte-aligned u32 in memory that stays mapped while the header
    // is borrowed; FUTEX_WAIT only reads it. The timeout is a valid relative timespec. Errors
    // (EAGAIN: the value changed; EINTR; ETIMEDOUT) all mean "re-check", which the caller does.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        );
    }
}

/// Loom: sleep on the header's modelled wait queue (no timeouts under loom).
#[cfg(loom)]
fn futex_wait(header: &Header, word: &AtomicU32, expected: u32, _timeout: Duration) {
    header.parking.wait(word, expected);
}

/// Wakes whoever sleeps on `word` (the peer's wake word, already reset by
/// `protocol::peer_needs_wake`).
#[cfg(not(loom))]
pub(crate) fn futex_wake(_header: &Header, word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32 in mapped memory; FUTEX_WAKE does not access it
    // beyond hashing its address.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}

/// Loom: wake the modelled wait queue.
#[cfg(loom)]
pub(crate) fn futex_wake(header: &Header, _word: &AtomicU32) {
    header.parking.wake();
}
