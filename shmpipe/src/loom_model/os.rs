//! The loom model of the kernel, with the names of the std build's `os` module: futex queues
//! (exact: a wait returns on a wake of one of its own words, never spuriously), the
//! open-file-description lock table of a segment, and no clock (time does not pass in a model:
//! no timed wake-ups, a liveness look at every sleep).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::attempt::{Attempt, Gave};
use crate::sync::{AtomicU32, Ordering};

/// How long a waiter sleeps before it checks that its peer is alive: a peer's death is noticed
/// within this much time (plus the cost of one check).
pub(crate) const LIVENESS_SLICE: Duration = Duration::from_millis(50);

/// The lock table of a (modelled) segment: its `LoomOs`.
#[derive(Clone, Copy)]
pub(crate) struct ModelLocks<'a>(pub(crate) &'a LoomOs);

/// The lock table of a segment with a file, as `ownership` names it.
pub(crate) type SegmentLocks<'a> = ModelLocks<'a>;

/// A modelled open file description: its number in the lock table.
pub(crate) type OwnDescription = u32;

/// Pid liveness (System V) is not modelled: no value of this type exists.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pids {}

impl Pids {
    pub(crate) fn current(&self) -> u64 {
        match *self {}
    }

    pub(crate) fn is_dead(&self, _word: u64) -> bool {
        match *self {}
    }
}

/// Every modelled process records the same holder word.
pub(crate) fn holder_word() -> u64 {
    1
}

/// No PID namespaces in a model.
pub(crate) fn pid_namespace() -> u32 {
    0
}

/// Time does not pass in a model: a parked task is never woken by a timer (which would hide a
/// lost wake-up).
pub(crate) fn slice_passed(_since: Instant, _slice: Duration) -> bool {
    false
}

/// A model never yields before it parks: the yields are timed, and a timed branch would make
/// the model's executions depend on the clock (a yield announces and registers nothing: the
/// task only polls again).
pub(crate) fn still_yielding(_since: Instant, _spin: Duration) -> bool {
    false
}

/// A model's waiting writer never stays off the reader's line (only a blocking send's first
/// look does): the guard is timed (a timed branch would make the model's executions depend on
/// the clock), and it only ever finds less room than there is, so it orders nothing
/// (`WriterState::room_limit`).
pub(crate) fn still_guarding(_since: Instant, _guard: Duration) -> bool {
    false
}

/// A model looks at the peer's liveness before every sleep (loom explores when it dies).
pub(crate) fn liveness_due(_last: Instant, _every: Duration) -> bool {
    true
}

/// As the std build's; a model never sleeps on a timer.
pub(crate) const WATCHED_SLICE: Duration = Duration::from_secs(1);

/// A model has no processes to watch: every waiter looks at its peer before every sleep.
#[derive(Debug)]
pub(crate) struct DeathWatch;

/// Why a watch was not armed (a model never arms one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unarmed {
    /// As the std build's: try again later.
    #[allow(dead_code)]
    Busy,
    /// As the std build's: never.
    Never,
}

impl DeathWatch {
    /// Never armed in a model.
    pub(crate) fn arm(
        _pid: u32,
        _own: &crate::layout::SideLine,
        _keep: std::sync::Arc<dyn std::any::Any + Send + Sync>,
    ) -> Result<DeathWatch, Unarmed> {
        Err(Unarmed::Never)
    }

    /// Never fires (never armed).
    pub(crate) fn fired(&self) -> bool {
        false
    }
}

/// The models run `Registry::run` on a thread of their own.
pub(crate) fn start_waiter(run: impl FnOnce() + Send + 'static) {
    drop(run);
}

/// As the kernel's `FUTEX_WAITV_MAX`.
pub(crate) const MAX_WAITV: usize = 128;

/// Unused in a model (`futex_waitv` is always there).
pub(crate) const FALLBACK_POLL: Duration = Duration::from_millis(1);

/// The model has `futex_waitv`.
pub(crate) fn has_futex_waitv() -> bool {
    true
}

/// The futex queues: how many wakes each word (by address) has had, behind one mutex, with a
/// condition variable every sleeper waits on. Reset for each execution of a model.
#[derive(Default)]
struct Futexes {
    wakes: loom::sync::Mutex<HashMap<usize, u64>>,
    cond: loom::sync::Condvar,
}

loom::lazy_static! {
    static ref FUTEXES: Futexes = Futexes::default();
}

fn address(word: &AtomicU32) -> usize {
    word as *const AtomicU32 as usize
}

/// `FUTEX_WAIT` (no timeout in a model): sleeps while `word == expected`, until a wake on it.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, _timeout: Duration) {
    wait_any(&[(word, expected)], Duration::MAX);
}

/// `FUTEX_WAKE` of every sleeper on `word`.
pub(crate) fn futex_wake(word: &AtomicU32) {
    let mut wakes = FUTEXES.wakes.lock().unwrap();
    *wakes.entry(address(word)).or_default() += 1;
    FUTEXES.cond.notify_all();
}

/// `futex_waitv(2)` (no timeout in a model): sleeps while every word holds its expected value
/// (checked under the queue's lock, as the kernel does), until a wake on one of them. Holding
/// the mutex from the check to `Condvar::wait` gives the kernel's atomicity, so a lost wake-up
/// in the protocol is a deadlock loom reports.
pub(crate) fn wait_any(words: &[(&AtomicU32, u32)], _timeout: Duration) {
    let mut wakes = FUTEXES.wakes.lock().unwrap();
    if !words
        .iter()
        .all(|(word, expected)| word.load(Ordering::Relaxed) == *expected)
    {
        return;
    }
    let seen = |wakes: &HashMap<usize, u64>| -> Vec<u64> {
        words
            .iter()
            .map(|(word, _)| wakes.get(&address(word)).copied().unwrap_or(0))
            .collect()
    };
    let before = seen(&wakes);
    loop {
        wakes = FUTEXES.cond.wait(wakes).unwrap();
        if seen(&wakes) != before {
            return;
        }
    }
}

/// Under loom one more attempt stands for the spin phase; loom explores preemptions around it.
/// It does not yield: after a yield loom never again returns a value the thread loaded before
/// it (its rule for making spin loops progress), which would hide a stale re-check after the
/// sleep is announced, the very race the sleep/wake handshake must survive.
pub(crate) fn spin_phase<T, E>(
    _spin: Duration,
    attempt: &mut impl FnMut() -> Attempt<T, E>,
) -> Result<Option<T>, Gave<E>> {
    attempt().done().transpose()
}

/// Under loom the doze phase adds nothing: its naps are more looks of the kind the spin
/// phase's one attempt already stands for, and a nap orders nothing. (Modelled as another
/// attempt, it doubled the time of the models whose writer waits: 266 s for every model
/// before, 629 s with it, in the fresh-clone CI of `d386da8`.)
pub(crate) fn doze_phase<T, E>(
    _doze: Duration,
    _attempt: &mut impl FnMut() -> Attempt<T, E>,
) -> Result<Option<T>, Gave<E>> {
    Ok(None)
}

/// Loom's model of the rest of what the kernel keeps for a ring: the open-file-description
/// locks that tell live role holders from dead ones (see `ownership`), and the segment's name
/// (so a model can see whether an attach removed it).
///
/// A description is a number with a count of the (modelled) processes holding it: 0 is the
/// ring's presence description, shared by everyone; each claim makes a new one; `fork` adds a
/// holder; a holder's drop or death removes one, and the last one's going releases the
/// description's locks, as the kernel does. The table sits behind a loom `Mutex`, so whoever
/// finds a lock free happens-after the release that freed it: what the kernel's own lock on
/// the file's lock list gives a real peer.
// A plain std atomic: the name's removal is bookkeeping for the models' assertions, not a
// modelled access.
#[allow(clippy::disallowed_types)]
#[derive(Debug, Default)]
pub(crate) struct LoomOs {
    table: loom::sync::Mutex<LockTable>,
    names_removed: std::sync::atomic::AtomicU32,
}

/// The modelled locks: who holds each of the four role bytes, and each description's holders.
#[derive(Debug, Default)]
struct LockTable {
    /// Holder counts, indexed by description (index 0, the presence description, unused).
    holders: Vec<u32>,
    /// The description holding each byte: writer hold, writer transition, reader hold,
    /// reader transition.
    locks: [Option<u32>; 4],
}

impl LockTable {
    fn slot(byte: i64) -> usize {
        match byte {
            128 => 0,
            129 => 1,
            256 => 2,
            _ => 3,
        }
    }

    /// `F_OFD_SETLK` of a write lock: free, or already this description's.
    fn try_lock(&mut self, ofd: u32, byte: i64) -> bool {
        let slot = &mut self.locks[Self::slot(byte)];
        match *slot {
            Some(holder) if holder != ofd => false,
            _ => {
                *slot = Some(ofd);
                true
            }
        }
    }

    fn unlock(&mut self, ofd: u32, byte: i64) {
        let slot = &mut self.locks[Self::slot(byte)];
        if *slot == Some(ofd) {
            *slot = None;
        }
    }

    /// One holder of `ofd` goes; the last one's going releases its locks.
    fn close(&mut self, ofd: u32) {
        let count = &mut self.holders[ofd as usize];
        *count = count.saturating_sub(1);
        if *count == 0 {
            for slot in &mut self.locks {
                if *slot == Some(ofd) {
                    *slot = None;
                }
            }
        }
    }
}

impl crate::lock_table::Locks for ModelLocks<'_> {
    /// A modelled description's number (0: the presence description).
    type Own = u32;

    fn open_own(&self) -> std::io::Result<u32> {
        let mut table = self.0.table.lock().unwrap();
        if table.holders.is_empty() {
            table.holders.push(0);
        }
        table.holders.push(1);
        Ok(table.holders.len() as u32 - 1)
    }

    fn try_lock_own(&self, own: &u32, byte: i64) -> std::io::Result<bool> {
        Ok(self.0.table.lock().unwrap().try_lock(*own, byte))
    }

    fn unlock_own(&self, own: &u32, byte: i64) {
        self.0.table.lock().unwrap().unlock(*own, byte);
    }

    fn try_lock_presence(&self, byte: i64) -> std::io::Result<bool> {
        Ok(self.0.table.lock().unwrap().try_lock(0, byte))
    }

    fn unlock_presence(&self, byte: i64) {
        self.0.table.lock().unwrap().unlock(0, byte);
    }

    fn close_own(&self, own: u32) {
        self.0.table.lock().unwrap().close(own);
    }

    fn held_elsewhere(&self, probe: Option<&u32>, byte: i64, len: i64) -> bool {
        if byte == crate::lock_table::PRESENCE_BYTE {
            // The model keeps no presence locks: the other (modelled) process is there.
            return true;
        }
        let probe = probe.copied().unwrap_or(0);
        let table = self.0.table.lock().unwrap();
        (byte..byte + len)
            .any(|b| table.locks[LockTable::slot(b)].is_some_and(|holder| holder != probe))
    }

    /// Yields to the other threads; never gives up (loom explores the waits instead).
    fn pause(&self, _tries: u32) -> bool {
        loom::thread::yield_now();
        true
    }
}

impl LoomOs {
    /// A process holding description `ofd` forks: one more holder.
    pub(crate) fn fork(&self, ofd: u32) {
        self.table.lock().unwrap().holders[ofd as usize] += 1;
    }

    /// A process holding description `ofd` dies: one holder less.
    pub(crate) fn crash(&self, ofd: u32) {
        self.table.lock().unwrap().close(ofd);
    }

    /// The segment's name is removed (`Mapping::remove_name` in the real backends).
    pub(crate) fn remove_name(&self) {
        self.names_removed.fetch_add(1, Ordering::Relaxed);
    }

    /// Has the segment's name been removed?
    pub(crate) fn name_removed(&self) -> bool {
        self.names_removed.load(Ordering::Relaxed) != 0
    }
}
