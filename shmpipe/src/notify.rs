//! Waiting on the wake words of many rings at once: `futex_waitv(2)`, the registry behind
//! `shmpipe::tokio`, and the poll step an async handle takes on an empty (or full) ring.
//!
//! # The handshake
//! An async handle waits exactly as a sync one does (see `wait` and `protocol`): it announces
//! its sleep on its own wake word (`protocol::announce_sleep`), re-checks its condition, and
//! only then sleeps; the peer's publish, release or close resets that word with one swap and, if
//! it read "sleeping", calls `FUTEX_WAKE` on it. Nothing changes for the peer or in the shared
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
//! A parked task is woken at least every `LIVENESS_SLICE` to look at its peer's liveness, as a
//! sync waiter does between its sleeps, so a dead peer surfaces as `PeerDied`.
// Without the `tokio` feature only `wait_any` (for `WaitSet`) is used; the registry stays
// compiled (and tested by the loom models) in every build.
#![cfg_attr(not(any(loom, feature = "tokio")), allow(dead_code))]

use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use crate::error::Role;
use crate::layout::{Header, WAKE_SLEEPING};
use crate::memory::Memory;
use crate::protocol;
use crate::sync::{AtomicU32, Ordering};
use crate::wait::{self, Attempt, Gave, LIVENESS_SLICE};

#[cfg(loom)]
use loom::sync::Mutex;
#[cfg(not(loom))]
use std::sync::Mutex;

/// The most words one `futex_waitv(2)` call takes (the kernel's `FUTEX_WAITV_MAX`).
pub(crate) const MAX_WAITV: usize = 128;

/// Without `futex_waitv(2)` (or past [`MAX_WAITV`] words), how often the waiter looks.
pub(crate) const FALLBACK_POLL: Duration = Duration::from_millis(1);

/// How long an async poll spins on an empty (or full) ring before it parks its task: much
/// shorter than a sync wait's 50 µs, as it holds the runtime's thread.
pub(crate) const ASYNC_SPIN: Duration = Duration::from_micros(10);

/// `struct futex_waitv` of `<linux/futex.h>`.
#[cfg(not(loom))]
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// `FUTEX2_SIZE_U32`: a 32-bit futex word (shared: no `FUTEX2_PRIVATE`).
#[cfg(not(loom))]
const FUTEX2_SIZE_U32: u32 = 0x02;

/// The system call number of `futex_waitv` (the same on every architecture's generic table).
#[cfg(not(loom))]
const SYS_FUTEX_WAITV: libc::c_long = 449;

/// Is `futex_waitv(2)` there? Decided at the first call (and by `SHMPIPE_NO_FUTEX_WAITV`).
#[cfg(not(loom))]
static WAITV_MISSING: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Whether waits on many words use `futex_waitv(2)` (false: the polling fallback).
#[cfg(not(loom))]
pub(crate) fn has_futex_waitv() -> bool {
    !*WAITV_MISSING.get_or_init(|| {
        if std::env::var_os("SHMPIPE_NO_FUTEX_WAITV").is_some_and(|v| v != "0") {
            return true;
        }
        // A call with no words is EINVAL where the call exists, ENOSYS where it does not.
        // SAFETY: a null vector of length 0 is not read; the other arguments are plain values.
        let rc = unsafe {
            libc::syscall(
                SYS_FUTEX_WAITV,
                std::ptr::null::<FutexWaitv>(),
                0u32,
                0u32,
                std::ptr::null::<libc::timespec>(),
                libc::CLOCK_MONOTONIC,
            )
        };
        rc == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS)
    })
}

/// Sleeps until a `FUTEX_WAKE` on any of `words`, or one no longer holds its expected value
/// (checked atomically with going to sleep, as `FUTEX_WAIT` does), or `timeout` passes.
/// Spurious returns are possible: the caller looks again. `words` must not be empty.
#[cfg(not(loom))]
pub(crate) fn wait_any(words: &[(&AtomicU32, u32)], timeout: Duration) {
    if words.len() == 1 || words.len() > MAX_WAITV || !has_futex_waitv() {
        // One word: FUTEX_WAIT is exact. Otherwise the fallback: sleep on the first word only,
        // briefly; the caller looks at them all.
        let slice = if words.len() == 1 {
            timeout
        } else {
            timeout.min(FALLBACK_POLL)
        };
        let (word, expected) = words[0];
        let ts = relative(slice);
        // SAFETY: `word` is a live, aligned u32 (the caller keeps its mapping); FUTEX_WAIT only
        // reads it; the timespec is valid. Every error means "look again".
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT,
                expected,
                &ts as *const libc::timespec,
            );
        }
        return;
    }
    let vector: Vec<FutexWaitv> = words
        .iter()
        .map(|(word, expected)| FutexWaitv {
            val: u64::from(*expected),
            uaddr: word.as_ptr() as u64,
            flags: FUTEX2_SIZE_U32,
            reserved: 0,
        })
        .collect();
    // futex_waitv takes an absolute CLOCK_MONOTONIC deadline.
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let rel = relative(timeout);
    let mut deadline = libc::timespec {
        tv_sec: now.tv_sec + rel.tv_sec,
        tv_nsec: now.tv_nsec + rel.tv_nsec,
    };
    if deadline.tv_nsec >= 1_000_000_000 {
        deadline.tv_sec += 1;
        deadline.tv_nsec -= 1_000_000_000;
    }
    // SAFETY: `vector` holds `words.len()` (1..=128) valid entries, each the address of a live,
    // aligned u32 the caller keeps mapped; the kernel only reads them. The deadline is a valid
    // timespec. Every result (an index, EAGAIN, ETIMEDOUT, EINTR) means "look again".
    unsafe {
        libc::syscall(
            SYS_FUTEX_WAITV,
            vector.as_ptr(),
            vector.len() as u32,
            0u32,
            &deadline as *const libc::timespec,
            libc::CLOCK_MONOTONIC,
        );
    }
}

#[cfg(not(loom))]
fn relative(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// Wakes a sleeper on `word`, a private word of this process (the registry's control word).
#[cfg(not(loom))]
fn wake_word(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32; FUTEX_WAKE only hashes its address.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}

/// One parked task: the ring side whose wake word it announced, and its waker.
struct Entry {
    key: u64,
    memory: Arc<Memory>,
    role: Role,
    waker: Waker,
    since: Instant,
}

impl Entry {
    fn word(&self) -> &AtomicU32 {
        &self.memory.header().side(self.role).wake
    }
}

#[derive(Default)]
struct Inner {
    entries: Vec<Entry>,
    next_key: u64,
    /// The process whose waiter thread runs (a child made by `fork` has none: it starts its
    /// own).
    running: Option<u32>,
    stop: bool,
    /// Loom: every ring ever registered, whose parking the waiter may be sleeping on.
    #[cfg(loom)]
    seen: Vec<Arc<Memory>>,
}

/// The parked tasks of this process and the waiter thread that wakes them.
pub struct Registry {
    inner: Mutex<Inner>,
    /// Bumped (and woken) on every registration, so the waiter thread takes the new word in.
    control: AtomicU32,
    /// Loom: where the waiter sleeps while no ring has a parked task.
    #[cfg(loom)]
    idle: crate::sync::Parking,
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
    /// When the current wait began, for the liveness checks (one per `LIVENESS_SLICE`).
    since: Option<Instant>,
    /// How long a poll spins on an empty (full) ring before it parks the task.
    pub(crate) spin: Duration,
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
    #[cfg(all(not(loom), feature = "tokio"))]
    #[inline]
    pub(crate) fn waiting(&self) -> bool {
        self.announced
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
            #[cfg(loom)]
            idle: Default::default(),
        }
    }

    /// The process's registry.
    #[cfg(not(loom))]
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
        }
    }

    /// Parks the task of `parked` on the wake word of `role` in `memory` (already announced).
    fn register(
        self: &Arc<Self>,
        parked: &Parked,
        memory: &Arc<Memory>,
        role: Role,
        waker: &Waker,
    ) {
        let mut inner = self.inner.lock().unwrap();
        if let Some(entry) = inner.entries.iter_mut().find(|e| e.key == parked.key) {
            // Still watched by the waiter thread: only the waker may have changed.
            if !entry.waker.will_wake(waker) {
                entry.waker = waker.clone();
            }
            return;
        }
        inner.entries.push(Entry {
            key: parked.key,
            memory: memory.clone(),
            role,
            waker: waker.clone(),
            since: Instant::now(),
        });
        // Relaxed: the mutex orders the entry; the bump only makes the waiter's futex_waitv on
        // the control word return (or not sleep).
        self.control.fetch_add(1, Ordering::Relaxed);
        #[cfg(loom)]
        inner.seen.push(memory.clone());
        #[cfg(loom)]
        let seen = inner.seen.clone();
        #[cfg(not(loom))]
        if inner.running != Some(std::process::id()) {
            inner.running = Some(std::process::id());
            let me = self.clone();
            std::thread::Builder::new()
                .name("shmpipe-waiter".into())
                .spawn(move || me.run())
                .expect("shmpipe: cannot start the waiter thread");
        }
        drop(inner);
        #[cfg(not(loom))]
        wake_word(&self.control);
        #[cfg(loom)]
        {
            self.idle.wake();
            for memory in seen {
                memory.header().parking.wake();
            }
        }
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
            let watched: Vec<(Arc<Memory>, Role)> = {
                let inner = self.inner.lock().unwrap();
                if inner.stop {
                    return;
                }
                inner
                    .entries
                    .iter()
                    .take(MAX_WAITV - 1)
                    .map(|e| (e.memory.clone(), e.role))
                    .collect()
            };
            self.sleep(control, &watched);
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
                    let due = !cfg!(loom) && e.since.elapsed() >= LIVENESS_SLICE;
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

    #[cfg(not(loom))]
    fn sleep(&self, control: u32, watched: &[(Arc<Memory>, Role)]) {
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
            LIVENESS_SLICE
        };
        wait_any(&words, timeout);
    }

    /// Loom: `futex_waitv` on the control word and the watched words, through the parking of
    /// the first watched ring (the models park tasks of one ring per registry).
    #[cfg(loom)]
    fn sleep(&self, control: u32, watched: &[(Arc<Memory>, Role)]) {
        let mut words: Vec<(&AtomicU32, u32)> = vec![(&self.control, control)];
        words.extend(
            watched
                .iter()
                .map(|(memory, role)| (&memory.header().side(*role).wake, WAKE_SLEEPING)),
        );
        match watched.first() {
            Some((memory, _)) => memory.header().parking.wait_any(&words),
            None => self.idle.wait_any(&words),
        }
    }

    /// Ends [`run`](Self::run) (loom models; the process's registry runs for ever).
    #[cfg(loom)]
    pub fn stop(&self) {
        let headers: Vec<Arc<Memory>> = {
            let mut inner = self.inner.lock().unwrap();
            inner.stop = true;
            inner.seen.clone()
        };
        self.control.fetch_add(1, Ordering::Relaxed);
        self.idle.wake();
        for memory in headers {
            memory.header().parking.wake();
        }
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
    /// The peer's death, as `ownership::peer_died` reports it.
    fn peer_gone(&self) -> Option<u32>;
}

impl Side for crate::Reader {
    const ROLE: Role = Role::Reader;
    fn memory(&self) -> &Arc<Memory> {
        crate::Reader::memory(self)
    }
    fn peer_gone(&self) -> Option<u32> {
        crate::Reader::peer_gone(self)
    }
}

impl Side for crate::Writer {
    const ROLE: Role = Role::Writer;
    fn memory(&self) -> &Arc<Memory> {
        crate::Writer::memory(self)
    }
    fn peer_gone(&self) -> Option<u32> {
        crate::Writer::peer_gone(self)
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
        None => wait::spin_phase(parked.spin, &mut || attempt(handle)).transpose(),
    };
    if let Some(result) = fast {
        if parked.announced {
            finish(parked, handle.memory().header(), H::ROLE);
        }
        return Poll::Ready(result);
    }
    let memory = handle.memory().clone();
    let own = memory.header().side(H::ROLE);
    protocol::announce_sleep(own);
    parked.announced = true;
    // SYNC POINT (async wake): the re-check after the announcement, as in `wait::wait_for`:
    // a peer update before our announcement is seen here; one after it finds the word
    // "sleeping" and wakes the waiter thread. Checked by loom model
    // `async_reader_parks_and_is_woken` (mutant `async-no-recheck`: a deadlock).
    if let Some(result) = attempt(handle).done() {
        finish(parked, memory.header(), H::ROLE);
        return Poll::Ready(result);
    }
    let since = *parked.since.get_or_insert_with(Instant::now);
    if cfg!(loom) || since.elapsed() >= LIVENESS_SLICE {
        parked.since = Some(Instant::now());
        if let Some(pid) = handle.peer_gone() {
            finish(parked, memory.header(), H::ROLE);
            // As in `wait_for`: what the peer did before it died is visible now; one last look.
            return Poll::Ready(attempt(handle).done().unwrap_or(Err(Gave::PeerDied(pid))));
        }
    }
    parked.registry.register(parked, &memory, H::ROLE, waker);
    Poll::Pending
}

/// Ends a wait: the announcement and the registration.
fn finish(parked: &mut Parked, header: &Header, role: Role) {
    protocol::end_sleep(header.side(role));
    parked.announced = false;
    parked.since = None;
    parked.registry.deregister(parked);
}

/// The handle is done with async waiting (`into_inner`, drop): no announcement or
/// registration may outlive it.
pub(crate) fn release<H: Side>(parked: &mut Parked, handle: &H) {
    if parked.announced {
        finish(parked, handle.memory().header(), H::ROLE);
    } else {
        parked.registry.deregister(parked);
    }
}

/// Loom only: one poll of a receive on `reader`, parking through `registry` (what
/// `shmpipe::tokio::AsyncReader::recv` does, without tokio).
#[cfg(loom)]
#[doc(hidden)]
pub fn loom_poll_recv(
    parked: &mut Parked,
    reader: &mut crate::Reader,
    waker: &Waker,
    buf: &mut [u8],
) -> Poll<Result<Option<usize>, crate::RecvError>> {
    poll_side(parked, reader, waker, |r| recv_attempt(r, buf)).map(|r| r.map_err(recv_error))
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
