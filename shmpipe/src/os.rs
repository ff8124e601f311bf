//! The kernel, as the std build reaches it: futex wait and wake on words in shared memory
//! (one word, or many at once with `futex_waitv(2)`), the clock that bounds spinning and
//! liveness checks, the waiter thread, and the two ways a role's liveness is asked (file locks
//! on the segment, pids for System V).
//!
//! The loom build replaces this module with `loom_model::os`, which has the same names: a
//! model of the futex queues and the lock table, and no clock. Nothing else in the crate knows
//! which one it was built with.

use std::time::{Duration, Instant};

use crate::attempt::{Attempt, Gave};
use crate::sync::{spin_hint, AtomicU32};

/// How long a waiter sleeps before it checks that its peer is alive: a peer's death is noticed
/// within this much time (plus the cost of one check).
pub(crate) const LIVENESS_SLICE: Duration = Duration::from_millis(50);

/// How long a waiter sleeps between looks while a [`DeathWatch`] on its peer's process is
/// armed: the watch wakes it when that process exits, so this only bounds how late a death the
/// watch cannot see is noticed (a role kept by a `fork`ed copy of the handle after the
/// watched process exited is looked at every [`LIVENESS_SLICE`] again; a holder word naming
/// the wrong process, which only a buggy or hostile peer writes, delays its own death's
/// notice by up to this much).
pub(crate) const WATCHED_SLICE: Duration = Duration::from_secs(1);

pub(crate) use crate::death_watch::{DeathWatch, Unarmed};

/// The lock table of a segment with a file: open-file-description locks (see `ownership`).
pub(crate) type SegmentLocks<'a> = crate::segment::locks::FdLocks<'a>;

/// What a role's handle holds its locks through: its own open file description.
pub(crate) type OwnDescription = std::os::fd::OwnedFd;

/// Liveness by pid and start time (System V rings; see `process`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pids;

impl Pids {
    /// This process's holder word for a pid-tracked ring: pid and start time.
    pub(crate) fn current(&self) -> u64 {
        crate::process::current().0
    }

    /// Is the process a pid-tracked holder word names gone?
    pub(crate) fn is_dead(&self, word: u64) -> bool {
        crate::process::is_dead(crate::layout::Owner(word))
    }
}

/// The holder (and creator) word this process records: its pid and the low 32 bits of its
/// PID namespace's inode (so `stat` can tell a pid of another namespace), informative only.
pub(crate) fn holder_word() -> u64 {
    u64::from(std::process::id()) | (u64::from(pid_namespace()) << 32)
}

/// The low 32 bits of this process's PID-namespace inode (0 if unknown).
pub(crate) fn pid_namespace() -> u32 {
    crate::process::pid_namespace()
}

/// Has the liveness slice `slice` passed since `since`? (A parked task is woken after one to
/// look at its peer.)
pub(crate) fn slice_passed(since: Instant, slice: Duration) -> bool {
    since.elapsed() >= slice
}

/// Is an async task that first found its ring empty (full) at `since` still within the time it
/// yields before it parks (`notify::YIELD_SPIN`)?
pub(crate) fn still_yielding(since: Instant, spin: Duration) -> bool {
    since.elapsed() < spin
}

/// Is a writer that began waiting for room at `since` still within the time it stays off the
/// reader's cache line (`guard`, see `wait::LINE_GUARD`)?
pub(crate) fn still_guarding(since: Instant, guard: Duration) -> bool {
    since.elapsed() < guard
}

/// Is it time for a sleeper, about to sleep again, to look at its peer's liveness (it looked
/// last at `last`, and looks every `every`)? The look costs two system calls, so once per
/// slice.
pub(crate) fn liveness_due(last: Instant, every: Duration) -> bool {
    last.elapsed() >= every
}

/// Starts the process's waiter thread (see `notify::Registry`).
pub(crate) fn start_waiter(run: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name("shmpipe-waiter".into())
        .spawn(run)
        .expect("shmpipe: cannot start the waiter thread");
}

/// The longest a sleeper of this process sleeps on a wake word at once: `timeout`, or, where
/// `fence::sleep_fence` could not issue `membarrier(2)`, at most [`FALLBACK_POLL`] (a peer's light
/// publish may then miss our announcement, and the next look finds its record: a wake-up can
/// take up to a millisecond, never for ever).
fn sleep_cap(timeout: Duration) -> Duration {
    if !crate::fence::wakeups_trusted() {
        timeout.min(FALLBACK_POLL)
    } else {
        timeout
    }
}

/// Attempts between two looks at the clock while spinning.
const SPINS_PER_CLOCK_CHECK: u32 = 64;

/// Spins on `attempt` for up to `spin`: one `spin_loop` hint (`pause`) between attempts, so a
/// record published on another core is seen within a few dozen nanoseconds of its arrival in
/// this core's cache. (An exponential backoff here made a waiting side look only every 64
/// pauses, a microsecond or more on x86, which a ping-pong pays on every hop.)
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

/// How long one nap of [`doze_phase`] asks for. The kernel's timer slack (50 µs for a
/// thread of the default policy) stretches it: a nap lasts about 60 µs here.
const DOZE_NAP: Duration = Duration::from_micros(10);

/// Naps (timed sleeps nobody needs to end) between attempts for up to `doze`: the waiter
/// looks every nap, and its peer, which does not know of it, pays nothing for it (see
/// `wait::WRITER_DOZE`).
pub(crate) fn doze_phase<T, E>(
    doze: Duration,
    attempt: &mut impl FnMut() -> Attempt<T, E>,
) -> Result<Option<T>, Gave<E>> {
    if doze.is_zero() {
        return Ok(None);
    }
    let start = Instant::now();
    while start.elapsed() < doze {
        count_nap();
        std::thread::sleep(DOZE_NAP);
        if let Some(result) = attempt().done() {
            return result.map(Some);
        }
    }
    Ok(None)
}

/// Sleeps while `word == expected`, for at most `timeout` (spurious returns are fine: the
/// caller re-checks).
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    count_sleep();
    let ts = relative(sleep_cap(timeout));
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

/// Wakes whoever sleeps on `word`: a peer's wake word (already reset by
/// `protocol::peer_needs_wake`) or a private word of this process (the registry's control
/// word).
pub(crate) fn futex_wake(word: &AtomicU32) {
    // SAFETY: `word` is a live, aligned u32 in mapped memory; FUTEX_WAKE does not access it
    // beyond hashing its address.
    unsafe {
        libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX);
    }
}

/// The most words one `futex_waitv(2)` call takes (the kernel's `FUTEX_WAITV_MAX`).
pub(crate) const MAX_WAITV: usize = 128;

/// Without `futex_waitv(2)` (or past [`MAX_WAITV`] words), how often the waiter looks.
pub(crate) const FALLBACK_POLL: Duration = Duration::from_millis(1);

/// `struct futex_waitv` of `<linux/futex.h>`.
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// `FUTEX2_SIZE_U32`: a 32-bit futex word (shared: no `FUTEX2_PRIVATE`).
const FUTEX2_SIZE_U32: u32 = 0x02;

/// The system call number of `futex_waitv` (the same on every architecture's generic table).
const SYS_FUTEX_WAITV: libc::c_long = 449;

/// Is `futex_waitv(2)` there? Decided at the first call (and by `SHMPIPE_NO_FUTEX_WAITV`).
static WAITV_MISSING: std::sync::OnceLock<bool> = std::sync::OnceLock::new();

/// Whether waits on many words use `futex_waitv(2)` (false: the polling fallback).
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
pub(crate) fn wait_any(words: &[(&AtomicU32, u32)], timeout: Duration) {
    let timeout = sleep_cap(timeout);
    if words.len() == 1 || words.len() > MAX_WAITV || !has_futex_waitv() {
        // One word: FUTEX_WAIT is exact. Otherwise the fallback: sleep on the first word only,
        // briefly; the caller looks at them all.
        let slice = if words.len() == 1 {
            timeout
        } else {
            timeout.min(FALLBACK_POLL)
        };
        let (word, expected) = words[0];
        futex_wait(word, expected, slice);
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
    count_sleep();
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

#[cfg(feature = "test-hooks")]
thread_local! {
    /// How many times this thread went to sleep on wake words (`sleeps_of_this_thread`).
    static SLEEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts a sleep of this thread (test hooks only; nothing otherwise).
#[inline]
fn count_sleep() {
    #[cfg(feature = "test-hooks")]
    SLEEPS.with(|n| n.set(n.get() + 1));
}

#[cfg(feature = "test-hooks")]
thread_local! {
    /// How many naps of a doze this thread took (`naps_of_this_thread`).
    static NAPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts a nap of [`doze_phase`] (test hooks only; nothing otherwise).
#[inline]
fn count_nap() {
    #[cfg(feature = "test-hooks")]
    NAPS.with(|n| n.set(n.get() + 1));
}

/// Test hook: how many naps of a doze this thread has taken. Not part of the API.
#[cfg(feature = "test-hooks")]
pub(crate) fn naps_of_this_thread() -> u64 {
    NAPS.with(std::cell::Cell::get)
}

/// Test hook: how many times this thread has gone to sleep on wake words (`FUTEX_WAIT` and
/// `futex_waitv` calls, each a wake-up when it ends). Not part of the API.
#[cfg(feature = "test-hooks")]
pub(crate) fn sleeps_of_this_thread() -> u64 {
    SLEEPS.with(std::cell::Cell::get)
}

fn relative(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}
