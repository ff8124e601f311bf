//! The waiting strategy: spin briefly, then sleep on the futex word in the shared header.
//!
//! A cross-core wake-up through the kernel costs tens of microseconds, a cache-line hand-off a
//! few dozen nanoseconds, so a waiter first spins (with `spin_loop` hints) for a short budget
//! and only then sleeps. Sleeping follows the handshake in `protocol`: announce the sleep (a
//! read-modify-write on our wake word), re-check, then `FUTEX_WAIT` on that word. The peer
//! wakes us only if it sees the announcement. The futex is process-shared (no `FUTEX_PRIVATE_FLAG`), because the peer
//! is usually another process.
//!
//! Sleeps are cut into slices of [`LIVENESS_SLICE`] so a waiter notices a dead peer in time;
//! where the kernel can tell when the peer's process exits (`os::DeathWatch`), a long sleep is
//! woken by that instead, and looks only every `os::WATCHED_SLICE`.

use std::any::Any;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) use crate::attempt::{Attempt, Gave};
use crate::layout::{SideLine, WAKE_SLEEPING};
use crate::os;
pub(crate) use crate::os::LIVENESS_SLICE;
use crate::peer::{DeathNotice, Peer};
use crate::protocol;
use crate::protocol::Wake;

/// The default time a waiter spins before it sleeps.
pub(crate) const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// How long a writer waiting for room dozes after its spin, before it announces a sleep: it
/// naps (about 60 µs each, the kernel's timer slack) and looks again after each nap, unknown
/// to the reader. An announced sleep costs the reader: the writer's `membarrier(2)` interrupts
/// the reader's CPU, and the reader's next release pays a `FUTEX_WAKE`; a reader that releases
/// room in steps (a receive batch, an eighth of the ring at a time; values read in place, a
/// run at a time) further apart than the spin made its writer sleep at every step, on the
/// reader's time. Room that comes within the doze is found within a nap of its coming, on the
/// writer's time alone; a reader that releases less often than this pays for one sleep in
/// more than a millisecond of its work. Not for a reader waiting for records: its wake-up
/// must be no slower than a pipe's (issue 13). None when the spin is zero (a handle set to
/// sleep at once).
pub(crate) const WRITER_DOZE: Duration = Duration::from_millis(1);

/// How long a writer waiting on a full ring for a `send` that waits as long as needed stays
/// off the cache line the reader is reading (`WriterState::room_limit`), at most (and no
/// longer than its spin): a reader that keeps its line (a `RecvRef` held) delays such a
/// writer by this much at most when the room it needs reaches into that line. Waits with a
/// deadline, and everything after the spin, count every free byte.
pub(crate) const LINE_GUARD: Duration = Duration::from_micros(20);

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
    /// Does the caller wait (rather than report `Full`/`Empty` at once)?
    #[inline]
    pub(crate) fn blocks(&self) -> bool {
        !matches!(self, Wait::Never)
    }

    pub(crate) fn timeout(d: Duration) -> Wait {
        match Instant::now().checked_add(d) {
            Some(t) => Wait::Until(t),
            None => Wait::Forever,
        }
    }
}

/// Repeats `attempt` until it is ready, spinning for `spin`, then dozing for `doze` (naps
/// the peer knows nothing of: [`WRITER_DOZE`]; none if `spin` is zero) and then sleeping on
/// `own.wake`, woken by the peer; `peer` says whether it is gone without closing, looked at
/// when `vigil` (the handle's, kept across its waits) says a look is due. Each failed attempt
/// must leave the ring so the peer can progress (the writer publishes pending records before
/// it reports "not yet").
pub(crate) fn wait_for<T, E>(
    own: &SideLine,
    peer: Peer<'_>,
    vigil: &mut Vigil,
    wait: Wait,
    (spin, doze): (Duration, Duration),
    mut attempt: impl FnMut() -> Attempt<T, E>,
) -> Result<T, Gave<E>> {
    if let Some(result) = attempt().done() {
        return result;
    }
    if let Wait::Never = wait {
        return Err(Gave::WouldBlock);
    }
    let doze = if spin.is_zero() { Duration::ZERO } else { doze };
    // Each phase ends by the deadline; a nap begun just before it may end up to a nap after.
    let within = |d: Duration| match wait {
        Wait::Until(deadline) => d.min(deadline.saturating_duration_since(Instant::now())),
        _ => d,
    };
    if let Some(v) = os::spin_phase(within(spin), &mut attempt)? {
        return Ok(v);
    }
    if let Some(v) = os::doze_phase(within(doze), &mut attempt)? {
        return Ok(v);
    }
    let result = sleep_until(own, &peer, vigil, wait, attempt);
    vigil.end_wait();
    result
}

/// The sleeping part of [`wait_for`].
fn sleep_until<T, E>(
    own: &SideLine,
    peer: &Peer<'_>,
    vigil: &mut Vigil,
    wait: Wait,
    mut attempt: impl FnMut() -> Attempt<T, E>,
) -> Result<T, Gave<E>> {
    let asleep_since = Instant::now();
    loop {
        protocol::announce_sleep(own);
        if let Some(result) = attempt().done() {
            protocol::end_sleep(own);
            return result;
        }
        // Only a wait that has slept a slice already arms a watch (a ping-pong, sleeping once
        // per message, never pays for one).
        let long = os::liveness_due(asleep_since, LIVENESS_SLICE);
        if let Some(pid) = vigil.look(peer, own, long) {
            protocol::end_sleep(own);
            // Everything the peer did before it died is visible now (its death released its
            // lock, and our test of the lock is ordered after that by the kernel): one last
            // look.
            return attempt().done().unwrap_or(Err(Gave::PeerDied(pid)));
        }
        let mut slice = vigil.slice();
        if let Wait::Until(deadline) = wait {
            let now = Instant::now();
            if now >= deadline {
                protocol::end_sleep(own);
                return Err(Gave::TimedOut);
            }
            slice = slice.min(deadline - now);
        }
        os::futex_wait(&own.wake, WAKE_SLEEPING, slice);
        protocol::end_sleep(own);
        // Woken (or the slice ended): look before announcing again. A wake-up is almost always
        // for what we wait for, and the announcement's fence is a `membarrier(2)` call, which
        // on the way back from a sleep would add its microseconds to every wake-up. Not
        // finding it, the loop announces and looks again before it sleeps.
        if let Some(result) = attempt().done() {
            return result;
        }
    }
}

/// What a handle keeps between its waits about its peer's liveness: when it last looked
/// (the peer's liveness costs two system calls: once per slice slept at most, not on every
/// sleep, as a ping-pong sleeps once per message; and a program that waits in short timeouts,
/// checking a flag in between, still looks once per slice), and how it hears of a death
/// between looks. A watch on the peer's process (a descriptor) is held only during a wait
/// that has slept a slice, and let go when the wait ends.
#[derive(Debug, Default)]
pub(crate) struct Vigil {
    /// When the handle last looked (`None`: never: its first sleep looks).
    last_look: Option<Instant>,
    hearing: Hearing,
}

/// How a sleeper hears of its peer's death between its looks.
#[derive(Debug, Default)]
enum Hearing {
    /// Not decided yet.
    #[default]
    NotYet,
    /// Only by looking, every [`LIVENESS_SLICE`], while the peer's holder word is `word`
    /// (`None`: whatever it is).
    LookOnly { word: Option<u64> },
    /// The peer cannot die without us (a heap ring): look every [`os::WATCHED_SLICE`].
    Impossible,
    /// A watch on the process the peer's holder word `word` names wakes us when it exits;
    /// look every [`os::WATCHED_SLICE`] otherwise.
    Watching { watch: os::DeathWatch, word: u64 },
}

impl Vigil {
    /// Before a sleep (of a sync wait, an async task or a `WaitSet`): if a look at the peer's
    /// liveness is due, gets ready for it (arming a watch on the peer's process if `long`: the
    /// wait has slept a slice) and looks. The pid of a dead peer.
    pub(crate) fn look(&mut self, peer: &Peer<'_>, own: &SideLine, long: bool) -> Option<u32> {
        if !self.look_due() {
            return None;
        }
        // Before the look: a death just after it still wakes us (through the watch).
        self.prepare(peer, own, long);
        peer.died()
    }

    /// Is a look at the peer's liveness due before the next sleep?
    fn look_due(&self) -> bool {
        if let Hearing::Watching { watch, .. } = &self.hearing {
            if watch.fired() {
                return true;
            }
        }
        self.last_look
            .is_none_or(|last| os::liveness_due(last, self.hearing.look_every()))
    }

    /// Gets ready for a look about to be made: decides (again) how to hear of a death if the
    /// peer's holder word changed (a new holder) or was never looked at, arming a watch if
    /// `may_arm` and the kernel can watch the process it names; a watch that fired is spent
    /// (if the peer's role outlived that process, a `fork`ed copy holds it, which no watch
    /// sees: look every slice).
    fn prepare(&mut self, peer: &Peer<'_>, own: &SideLine, may_arm: bool) {
        self.last_look = Some(Instant::now());
        let current = match &self.hearing {
            Hearing::NotYet if !may_arm => return,
            Hearing::NotYet => None,
            Hearing::Impossible | Hearing::LookOnly { word: None } => return,
            Hearing::LookOnly { word: Some(word) } => Some(*word),
            Hearing::Watching { watch, word } => {
                if watch.fired() {
                    self.hearing = Hearing::LookOnly { word: Some(*word) };
                    return;
                }
                Some(*word)
            }
        };
        if current.is_some() && current == peer.holder_word() {
            return;
        }
        self.hearing = match peer.notice() {
            DeathNotice::Impossible => Hearing::Impossible,
            DeathNotice::Process { pid, word } => {
                let keep: Arc<dyn Any + Send + Sync> = peer.memory().clone();
                match os::DeathWatch::arm(pid, own, keep) {
                    Ok(watch) => Hearing::Watching { watch, word },
                    // Looks every slice for now; the next look tries again (a watch that could
                    // not start because another thread was starting the watcher must not
                    // leave this handle looking every 50 ms for good).
                    Err(os::Unarmed::Busy) => Hearing::NotYet,
                    Err(os::Unarmed::Never) => Hearing::LookOnly { word: Some(word) },
                }
            }
            DeathNotice::LookOnly { word } => Hearing::LookOnly { word },
        };
    }

    /// How long to sleep before the next look.
    pub(crate) fn slice(&self) -> Duration {
        self.hearing.look_every()
    }

    /// The wait is over: let its watch go (what was learnt without one is kept: a peer that
    /// cannot be watched, or whose watch fired while its role lived on).
    pub(crate) fn end_wait(&mut self) {
        if let Hearing::Watching { .. } = self.hearing {
            self.hearing = Hearing::NotYet;
        }
    }
}

impl Hearing {
    /// How often to look.
    fn look_every(&self) -> Duration {
        match self {
            Hearing::Impossible | Hearing::Watching { .. } => os::WATCHED_SLICE,
            Hearing::NotYet | Hearing::LookOnly { .. } => LIVENESS_SLICE,
        }
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
