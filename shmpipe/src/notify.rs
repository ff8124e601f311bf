//! Waiting on the wake words of many rings at once: `futex_waitv(2)`, the registry behind
//! `shmpipe::tokio`, and the poll step an async handle takes on an empty (or full) ring.
//!
//! # The handshake
//! An async handle waits exactly as a sync one does (see `wait` and `protocol`): it announces
//! its sleep on its own wake word (`protocol::announce_sleep`), re-checks its condition, and
//! only then sleeps; the peer's publish, release or close loads that word after its half of the
//! asymmetric fence (`fence`) and, if it reads "sleeping", resets it with one swap and calls
//! `FUTEX_WAKE` on it. Nothing changes for the peer or in the shared
//! memory. The difference is who sleeps: instead of the task's thread, one waiter thread per
//! process sleeps in `futex_waitv(2)` on the wake words of every ring with a parked task, and
//! hands the tasks' wakers back when a word is no longer "sleeping". The task registers its
//! waker *after* its announcement and re-check, so whatever the peer does after the re-check
//! either finds the word "sleeping" (and wakes the waiter thread) or was already seen by the
//! re-check; and the waiter thread, waking for any reason, wakes every task whose word the peer
//! has reset. Loom model `async_reader_parks_and_is_woken` checks it (a deadlock if the task
//! registers without its re-check: mutant `async-no-recheck` in `loom-tests/mutants.sh`).
//!
//! # Kernels before 5.16
//! Without `futex_waitv(2)` (`ENOSYS`), or with more than [`MAX_WAITV`] words to watch, the
//! waiter polls instead: it sleeps on the first word for at most [`FALLBACK_POLL`] and then
//! looks at every word. A wake-up then takes up to a millisecond, and the waiter thread runs
//! about a thousand times a second while (and only while) some task is parked. Setting
//! `SHMPIPE_NO_FUTEX_WAITV=1` in the environment forces this mode (the tests run both).
//!
//! # Liveness
//! A parked task looks at its peer's liveness as a sync waiter does between its sleeps, with
//! the handle's own `wait::Vigil`: the waiter thread wakes it after its slice (50 ms), and a
//! wait that has slept that long arms a watch on the peer's process (`os::DeathWatch`), whose
//! exit then resets the task's wake word (waking the waiter thread, and the task) and lets the
//! task sleep a second between looks. A dead peer surfaces as `PeerDied` within milliseconds
//! where its process can be watched, within 50 ms where not (another PID namespace).
// Without the `tokio` feature only `wait_any` (for `WaitSet`) is used; the registry stays
// compiled (and tested by the loom models) in every build.
#![cfg_attr(not(feature = "tokio"), allow(dead_code))]

use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::layout::Role;
use crate::layout::WAKE_SLEEPING;
use crate::memory::Memory;
use crate::os::{self, FALLBACK_POLL, MAX_WAITV};
use crate::peer::Peer;
use crate::protocol;
use crate::sync::{AtomicU32, Mutex, Ordering};
use crate::wait::{Attempt, Gave, Vigil, LIVENESS_SLICE};

/// How long one async poll spins on an empty (or full) ring: much shorter than a sync wait's
/// 50 µs, as it holds the runtime's thread.
pub(crate) const ASYNC_SPIN: Duration = Duration::from_micros(10);

/// How long after its first empty (full) look a task keeps looking, yielding to the runtime's
/// other tasks between its polls, before it parks: as long as a sync wait spins. A peer woken
/// from a sleep takes a kernel wake-up (30-100 µs on the development VM) to publish again; a
/// task that parked sooner paid two thread wake-ups of its own for every such pause, and a
/// stream between processes fell into a cycle where both sides slept on every lap of the ring
/// (docs/BENCHMARKS.md, "Async": a sync writer into an async reader, 64-byte messages).
pub(crate) const YIELD_SPIN: Duration = crate::wait::DEFAULT_SPIN;

/// One parked task: the ring side whose wake word it announced, and its waker.
struct Entry {
    key: u64,
    memory: Arc<Memory>,
    role: Role,
    waker: Waker,
    since: Instant,
    /// How long the task may stay parked before it looks at its peer's liveness: 50 ms, or a
    /// second while a watch on the peer's process would wake it (`wait::Vigil`).
    slice: Duration,
}

impl Entry {
    fn word(&self) -> &AtomicU32 {
        &self.memory.header().side(self.role).wake
    }
}

#[derive(Default)]
pub(crate) struct Inner {
    entries: Vec<Entry>,
    next_key: u64,
    /// The process whose waiter thread runs (a child made by `fork` has none: it starts its
    /// own).
    running: Option<u32>,
    /// Set by `stop` (the loom models end the waiter with it).
    pub(crate) stop: bool,
}

/// The parked tasks of this process and the waiter thread that wakes them.
pub struct Registry {
    pub(crate) inner: Mutex<Inner>,
    /// Bumped (and woken) on every registration, so the waiter thread takes the new word in.
    pub(crate) control: AtomicU32,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").finish_non_exhaustive()
    }
}

/// What an async handle keeps between polls: its key in the registry and whether its wake
/// word is announced.
pub struct Parked {
    registry: Arc<Registry>,
    key: u64,
    announced: bool,
    /// When the current wait began: a wait that has slept a liveness slice arms a watch on
    /// the peer's process (`wait::Vigil::look`).
    since: Option<Instant>,
    /// How long a poll spins on an empty (full) ring before it yields (or parks) the task.
    pub(crate) spin: Duration,
    /// When the task first found the ring empty (full) while yielding between its looks (see
    /// [`YIELD_SPIN`]); `None` when no such run of looks is under way.
    yielding_since: Option<Instant>,
}

impl std::fmt::Debug for Parked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parked")
            .field("key", &self.key)
            .field("announced", &self.announced)
            .finish()
    }
}

impl Parked {
    /// Whether a wait is under way (announced, and registered unless it just ended): the next
    /// poll must take `poll_side`, which ends it.
    #[cfg(feature = "tokio")]
    #[inline]
    pub(crate) fn waiting(&self) -> bool {
        self.announced || self.yielding_since.is_some()
    }
}

impl Drop for Parked {
    fn drop(&mut self) {
        self.registry.deregister(self);
    }
}

impl Registry {
    /// An empty registry; its waiter thread starts with the first registration (loom: the
    /// model runs [`run`](Self::run) on a thread of its own).
    pub fn new() -> Self {
        Registry {
            inner: Mutex::new(Inner::default()),
            control: AtomicU32::new(0),
        }
    }

    /// The process's registry.
    pub(crate) fn global() -> &'static Arc<Registry> {
        static GLOBAL: std::sync::OnceLock<Arc<Registry>> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(|| Arc::new(Registry::new()))
    }

    /// A new handle's state.
    pub fn parked(self: &Arc<Self>) -> Parked {
        let mut inner = self.inner.lock().unwrap();
        inner.next_key += 1;
        Parked {
            registry: self.clone(),
            key: inner.next_key,
            announced: false,
            since: None,
            spin: ASYNC_SPIN,
            yielding_since: None,
        }
    }

    /// Parks the task of `parked` on the wake word of `role` in `memory` (already announced).
    fn register(
        self: &Arc<Self>,
        parked: &Parked,
        memory: &Arc<Memory>,
        role: Role,
        waker: &Waker,
        slice: Duration,
    ) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(entry) = inner.entries.iter_mut().find(|e| e.key == parked.key) {
            // Still watched by the waiter thread: only the waker (and the slice, once a
            // watch is armed) may have changed.
            if !entry.waker.will_wake(waker) {
                entry.waker = waker.clone();
            }
            entry.slice = slice;
            return;
        }
        inner.entries.push(Entry {
            key: parked.key,
            memory: memory.clone(),
            role,
            waker: waker.clone(),
            since: Instant::now(),
            slice,
        });
        // Relaxed: the mutex orders the entry; the bump only makes the waiter's futex_waitv on
        // the control word return (or not sleep).
        self.control.fetch_add(1, Ordering::Relaxed);
        if inner.running != Some(std::process::id()) {
            inner.running = Some(std::process::id());
            let me = self.clone();
            os::start_waiter(move || me.run());
        }
        drop(inner);
        os::futex_wake(&self.control);
    }

    /// Forgets the task of `parked` (its handle is done waiting or dropped).
    fn deregister(&self, parked: &Parked) {
        let mut inner = self.inner.lock().unwrap();
        inner.entries.retain(|e| e.key != parked.key);
    }

    /// The waiter: sleeps on the control word and every parked task's wake word, then wakes
    /// the tasks whose word the peer reset (or whose liveness check is due). Returns only
    /// after [`stop`](Self::stop).
    pub fn run(&self) {
        loop {
            // Relaxed: see `register`; the entries are read under the mutex below.
            let control = self.control.load(Ordering::Relaxed);
            let (watched, slice): (Vec<(Arc<Memory>, Role)>, Duration) = {
                let inner = self.inner.lock().unwrap();
                if inner.stop {
                    return;
                }
                // Until the first parked task's liveness look is due.
                let now = Instant::now();
                let slice = inner
                    .entries
                    .iter()
                    .map(|e| (e.since + e.slice).saturating_duration_since(now))
                    .min();
                let watched = inner
                    .entries
                    .iter()
                    .take(MAX_WAITV - 1)
                    .map(|e| (e.memory.clone(), e.role))
                    .collect();
                (watched, slice.unwrap_or(LIVENESS_SLICE))
            };
            self.sleep(control, &watched, slice);
            let fired: Vec<Waker> = {
                let mut inner = self.inner.lock().unwrap();
                let mut fired = Vec::new();
                inner.entries.retain(|e| {
                    // SYNC POINT (async wake): Relaxed is enough here: this load only decides
                    // whether to wake the task; the task's own next attempt does the Acquire
                    // loads of the ring. Coherence orders it after the peer's swap that the
                    // futex wake-up followed. Checked by loom model
                    // `async_reader_parks_and_is_woken` (a deadlock if a reset word is missed).
                    let reset = e.word().load(Ordering::Relaxed) != WAKE_SLEEPING;
                    let due = os::slice_passed(e.since, e.slice);
                    if reset || due {
                        fired.push(e.waker.clone());
                    }
                    !(reset || due)
                });
                fired
            };
            for waker in fired {
                waker.wake();
            }
        }
    }

    /// Sleeps until a word changes, or for `slice` (until the first parked task's liveness
    /// look is due).
    fn sleep(&self, control: u32, watched: &[(Arc<Memory>, Role)], slice: Duration) {
        let mut words: Vec<(&AtomicU32, u32)> = Vec::with_capacity(watched.len() + 1);
        words.push((&self.control, control));
        words.extend(
            watched
                .iter()
                .map(|(memory, role)| (&memory.header().side(*role).wake, WAKE_SLEEPING)),
        );
        let timeout = if watched.is_empty() {
            // Only the control word: nothing to check until a registration wakes us.
            Duration::from_secs(3600)
        } else if watched.len() >= MAX_WAITV - 1 {
            FALLBACK_POLL
        } else {
            slice
        };
        os::wait_any(&words, timeout);
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

/// A handle an async wrapper can park: the sync `Reader` or `Writer`.
pub(crate) trait Side {
    /// The role whose wake word the handle sleeps on.
    const ROLE: Role;
    /// The ring's memory.
    fn memory(&self) -> &Arc<Memory>;
    /// The handle's liveness state (kept across its waits, sync and async alike) and its
    /// peer.
    fn vigil_and_peer(&mut self) -> (&mut Vigil, Peer<'_>);
}

impl Side for crate::Reader {
    const ROLE: Role = Role::Reader;
    fn memory(&self) -> &Arc<Memory> {
        crate::Reader::memory(self)
    }
    fn vigil_and_peer(&mut self) -> (&mut Vigil, Peer<'_>) {
        crate::Reader::vigil_and_peer(self)
    }
}

impl Side for crate::Writer {
    const ROLE: Role = Role::Writer;
    fn memory(&self) -> &Arc<Memory> {
        crate::Writer::memory(self)
    }
    fn vigil_and_peer(&mut self) -> (&mut Vigil, Peer<'_>) {
        crate::Writer::vigil_and_peer(self)
    }
}

/// One poll of an async operation: `attempt` (the sync try-path) first; on "not yet" the
/// handshake of the module doc (announce, re-check, liveness when due, register the waker) and
/// `Pending`. Whatever ends a wait also ends the announcement.
pub(crate) fn poll_side<H: Side, T, E>(
    parked: &mut Parked,
    handle: &mut H,
    waker: &Waker,
    mut attempt: impl FnMut(&mut H) -> Attempt<T, E>,
) -> Poll<Result<T, Gave<E>>> {
    let fast = match attempt(handle).done() {
        Some(result) => Some(result),
        // A short spin (a few microseconds by default): while data flows, the peer's next
        // publish (or release) comes within it, and the task never parks.
        None => os::spin_phase(parked.spin, &mut || attempt(handle)).transpose(),
    };
    if let Some(result) = fast {
        parked.yielding_since = None;
        if parked.announced {
            finish(parked, handle);
        }
        return Poll::Ready(result);
    }
    // Before the first park of this wait, and unless spinning is off: look again after the
    // runtime's other tasks had their turn, until `YIELD_SPIN` after the first empty look.
    // Nothing is announced or registered meanwhile; the self-wake puts the task back in the
    // run queue.
    if !parked.announced && !parked.spin.is_zero() {
        let since = *parked.yielding_since.get_or_insert_with(Instant::now);
        if os::still_yielding(since, YIELD_SPIN) {
            waker.wake_by_ref();
            return Poll::Pending;
        }
    }
    parked.yielding_since = None;
    let memory = handle.memory().clone();
    let own = memory.header().side(H::ROLE);
    protocol::announce_sleep(own);
    parked.announced = true;
    // SYNC POINT (async wake): the re-check after the announcement, as in `wait::wait_for`:
    // a peer update before our announcement is seen here; one after it finds the word
    // "sleeping" and wakes the waiter thread. Checked by loom model
    // `async_reader_parks_and_is_woken` (mutant `async-no-recheck`: a deadlock).
    if let Some(result) = attempt(handle).done() {
        finish(parked, handle);
        return Poll::Ready(result);
    }
    // The peer's liveness, as a sync wait looks at it (`wait::sleep_until`): once per slice,
    // and a wait that has slept a slice arms a watch on the peer's process, whose death then
    // resets our wake word (waking the waiter thread, and so this task) and lets the task
    // sleep a second between looks instead of 50 ms.
    let since = *parked.since.get_or_insert_with(Instant::now);
    let (vigil, peer) = handle.vigil_and_peer();
    let died = vigil.look(&peer, own, os::liveness_due(since, LIVENESS_SLICE));
    let slice = vigil.slice();
    if let Some(pid) = died {
        finish(parked, handle);
        // As in `wait_for`: what the peer did before it died is visible now; one last look.
        return Poll::Ready(attempt(handle).done().unwrap_or(Err(Gave::PeerDied(pid))));
    }
    parked
        .registry
        .register(parked, &memory, H::ROLE, waker, slice);
    Poll::Pending
}

/// Ends a wait: the announcement, the registration, and any watch on the peer's process.
fn finish<H: Side>(parked: &mut Parked, handle: &mut H) {
    protocol::end_sleep(handle.memory().header().side(H::ROLE));
    parked.announced = false;
    parked.since = None;
    parked.registry.deregister(parked);
    handle.vigil_and_peer().0.end_wait();
}

/// The handle is done with async waiting (`into_inner`, drop): no announcement,
/// registration or watch may outlive it.
pub(crate) fn release<H: Side>(parked: &mut Parked, handle: &mut H) {
    if parked.announced {
        finish(parked, handle);
    } else {
        parked.registry.deregister(parked);
    }
}

/// The sync try-path of a receive, as an attempt.
pub(crate) fn recv_attempt(
    reader: &mut crate::Reader,
    buf: &mut [u8],
) -> Attempt<Option<usize>, crate::RecvError> {
    match reader.try_recv(buf) {
        Ok(n) => Attempt::Ready(n),
        Err(crate::RecvError::Empty) => Attempt::NotYet,
        Err(e) => Attempt::Failed(e),
    }
}

/// What a receive's wait ended with, as a receive error.
pub(crate) fn recv_error(gave: Gave<crate::RecvError>) -> crate::RecvError {
    match gave {
        Gave::Failed(e) => e,
        Gave::WouldBlock => crate::RecvError::Empty,
        Gave::TimedOut => crate::RecvError::Timeout,
        Gave::PeerDied(pid) => crate::RecvError::PeerDied { pid },
    }
}

/// What a send's wait ended with, as a send error.
pub(crate) fn send_error(gave: Gave<crate::SendError>) -> crate::SendError {
    match gave {
        Gave::Failed(e) => e,
        Gave::WouldBlock => crate::SendError::Full,
        Gave::TimedOut => crate::SendError::Timeout,
        Gave::PeerDied(pid) => crate::SendError::PeerDied { pid },
    }
}
