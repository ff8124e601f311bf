//! Hearing at once that a peer's process exited, so an idle handle need not wake up to look.
//!
//! A handle asleep on an empty (or full) ring looks at its peer's liveness once per
//! liveness slice (`LIVENESS_SLICE`, 50 ms): each look is a timer wake-up, and on a
//! virtual machine those cost most of an idle reader's CPU. Where the kernel can say when the
//! peer's process exits, a process-wide thread listens for it instead: it holds a pidfd
//! (`pidfd_open(2)`, Linux 5.3) of the peer's process for every handle in a long sleep, waits
//! for all of them in one `epoll(7)`, and when one exits it resets that handle's wake word and
//! wakes it (`FUTEX_WAKE`), as the peer itself does when it publishes. The handle then looks at
//! the liveness through the kernel's locks as always: the watch only says *when* to look, never
//! what the answer is, so a wrong pid (recycled, or written by a hostile peer) costs at most the
//! long slice (`WATCHED_SLICE`) before the next look, never a wrong verdict.
//!
//! The thread starts at the first watch a process arms and lives as long as the process (in a
//! `fork`ed child, at its own first watch: the parent's thread is not there, and a watch the
//! child inherited is inert). It holds no lock while it waits. A watch lives for one wait of
//! one handle (armed once the wait has slept a liveness slice, so a ping-pong never arms one;
//! dropped when the wait ends), so a process holds a pidfd only per handle in a long wait. An
//! armed watch keeps the ring's mapping alive (the entry holds a reference to it), and the
//! thread touches a wake word only under the table's mutex while the entry is there, so the
//! word is always mapped.

use std::any::Any;
use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::time::{Duration, Instant};

use crate::layout::SideLine;
use crate::protocol;

/// A handle's watch on its peer's process: the peer's exit wakes the handle's wake word and
/// makes [`fired`](Self::fired) true. Disarmed when dropped.
pub(crate) struct DeathWatch {
    watcher: Arc<Watcher>,
    id: u64,
}

impl std::fmt::Debug for DeathWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeathWatch").field("id", &self.id).finish()
    }
}

/// The process's watcher: its `epoll` instance and what each armed watch wakes.
struct Watcher {
    /// The process that started the thread (a `fork`ed child starts its own).
    pid: u32,
    epoll: OwnedFd,
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    next_id: u64,
    armed: HashMap<u64, Armed>,
    /// The thread stopped (an `epoll_wait` error that should not happen): no new watches.
    stopped: bool,
}

struct Armed {
    /// Registered in the epoll set (one-shot) under the watch's id.
    pidfd: OwnedFd,
    /// The address of the handle's side line (its wake word is the one woken).
    line: usize,
    /// What keeps `line` mapped while the watch is armed (the ring's memory).
    _keep: Arc<dyn Any + Send + Sync>,
    fired: bool,
}

/// The watcher of this process, if one could be started.
static WATCHER: Mutex<Option<Arc<Watcher>>> = Mutex::new(None);

/// How long `arm` tries for the process-wide slot before it gives up for this sleep (a slot
/// left locked by a thread that was running when this process was `fork`ed stays locked: a
/// bounded try keeps the child from hanging on it). Long enough for another thread's first
/// `arm`, which holds the slot while it starts the watcher thread: a bound of 1000 yields
/// (about a millisecond) made one of two first watches armed at once fail now and then
/// (1 run in 40 of the lib tests on a 2-vCPU machine), leaving its sleeper to look every
/// 50 ms.
const SLOT_WAIT: Duration = Duration::from_millis(50);

/// Tries for the slot that yield before `arm` starts sleeping between tries.
const SLOT_YIELDS: u32 = 100;

/// Why a watch was not armed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unarmed {
    /// The process's watcher was busy (another thread was starting it, or the slot stayed
    /// locked): the caller looks every liveness slice for now and tries again at its next look.
    Busy,
    /// The kernel cannot watch this process (no pidfd before Linux 5.3, the process is already
    /// gone, out of descriptors, the watcher stopped): the caller looks every liveness slice.
    Never,
}

impl DeathWatch {
    /// Watches the process `pid` (in this PID namespace) for the sleeper on `own`'s wake word:
    /// when it exits, the word is reset to idle and woken. `keep` (the memory `own` is in)
    /// stays referenced until the watch is dropped. An error when it cannot be armed (now, or
    /// ever: [`Unarmed`]): the caller looks every liveness slice, as without a watch.
    pub(crate) fn arm(
        pid: u32,
        own: &SideLine,
        keep: Arc<dyn Any + Send + Sync>,
    ) -> Result<DeathWatch, Unarmed> {
        let pid = libc::pid_t::try_from(pid)
            .ok()
            .filter(|&p| p > 0)
            .ok_or(Unarmed::Never)?;
        // SAFETY: pidfd_open takes a pid and flags by value and returns a new descriptor
        // (close-on-exec) or -1.
        let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let raw = i32::try_from(raw)
            .ok()
            .filter(|&fd| fd >= 0)
            .ok_or(Unarmed::Never)?;
        // SAFETY: `raw` is a descriptor the call just opened for us and nothing else owns.
        let pidfd = unsafe { OwnedFd::from_raw_fd(raw) };
        let watcher = Watcher::of_this_process()?;
        let mut table = watcher.table();
        if table.stopped {
            return Err(Unarmed::Never);
        }
        let id = table.next_id;
        table.next_id += 1;
        let mut event = libc::epoll_event {
            events: (libc::EPOLLIN | libc::EPOLLONESHOT) as u32,
            u64: id,
        };
        // SAFETY: both descriptors are open (owned here and by the watcher); the event is a
        // valid `epoll_event` the kernel reads during the call.
        let rc = unsafe {
            libc::epoll_ctl(
                watcher.epoll.as_raw_fd(),
                libc::EPOLL_CTL_ADD,
                pidfd.as_raw_fd(),
                &mut event,
            )
        };
        if rc != 0 {
            return Err(Unarmed::Never);
        }
        table.armed.insert(
            id,
            Armed {
                pidfd,
                line: std::ptr::from_ref(own) as usize,
                _keep: keep,
                fired: false,
            },
        );
        drop(table);
        Ok(DeathWatch { watcher, id })
    }

    /// Was the watch armed by this process (not inherited across `fork`: the thread that
    /// would fire it is in the parent)? A watch lives for one wait, so only a `fork` by
    /// another thread during that wait leaves a copy in a child; it is never trusted there.
    fn is_current(&self) -> bool {
        self.watcher.pid == std::process::id()
    }

    /// Has the watched process exited (and the sleeper been woken for it), or can the watch no
    /// longer say (inherited across `fork`, or the watcher thread stopped)? Either way the
    /// sleeper looks now, and a fired watch is not used again.
    pub(crate) fn fired(&self) -> bool {
        // An inherited table's lock may have been copied locked: never touch it.
        if !self.is_current() {
            return true;
        }
        self.watcher
            .table()
            .armed
            .get(&self.id)
            .is_none_or(|armed| armed.fired)
    }
}

impl Drop for DeathWatch {
    fn drop(&mut self) {
        // An inherited watch is left alone: its table is the parent's copy, whose lock may
        // have been copied locked (its descriptors are this process's copies; they stay open).
        if !self.is_current() {
            return;
        }
        let removed = self.watcher.table().armed.remove(&self.id);
        if let Some(armed) = removed {
            // SAFETY: both descriptors are open; a null event is allowed for EPOLL_CTL_DEL
            // (Linux 2.6.9+). Closing the pidfd right after would remove it as well.
            unsafe {
                libc::epoll_ctl(
                    self.watcher.epoll.as_raw_fd(),
                    libc::EPOLL_CTL_DEL,
                    armed.pidfd.as_raw_fd(),
                    std::ptr::null_mut(),
                );
            }
        }
    }
}

impl Watcher {
    /// This process's watcher, started at the first call (and again in a `fork`ed child).
    fn of_this_process() -> Result<Arc<Watcher>, Unarmed> {
        let mut slot = lock_slot().ok_or(Unarmed::Busy)?;
        let me = std::process::id();
        if let Some(watcher) = slot.as_ref().filter(|w| w.pid == me) {
            return Ok(Arc::clone(watcher));
        }
        // SAFETY: epoll_create1 takes flags by value and returns a new descriptor or -1.
        let raw = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if raw < 0 {
            return Err(Unarmed::Never);
        }
        // SAFETY: `raw` was just opened for us and nothing else owns it.
        let epoll = unsafe { OwnedFd::from_raw_fd(raw) };
        let watcher = Arc::new(Watcher {
            pid: me,
            epoll,
            table: Mutex::new(Table::default()),
        });
        let listening = Arc::clone(&watcher);
        std::thread::Builder::new()
            .name("shmpipe-deathwatch".into())
            .spawn(move || listening.run())
            .map_err(|_| Unarmed::Busy)?;
        // A watcher inherited across `fork` is replaced (its thread stayed in the parent).
        *slot = Some(Arc::clone(&watcher));
        Ok(watcher)
    }

    fn table(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent through a panic (entries are inserted and removed whole).
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The thread: waits for watched processes to exit and wakes their sleepers.
    fn run(&self) {
        const EVENTS: usize = 16;
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; EVENTS];
        loop {
            // SAFETY: the epoll descriptor is open while `self` lives (the thread holds an
            // `Arc`); `events` has room for `EVENTS` entries, which the kernel writes.
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.as_mut_ptr(),
                    EVENTS as i32,
                    -1,
                )
            };
            let Ok(n) = usize::try_from(n) else {
                // EINTR: wait again. Nothing else can fail on a valid epoll descriptor and
                // buffer; if it did, every armed watch fires (its sleeper looks now, and then
                // every liveness slice, as without a watch) and no new one is armed.
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                let mut table = self.table();
                table.stopped = true;
                table.armed.values_mut().for_each(Armed::fire);
                return;
            };
            let mut table = self.table();
            for event in &events[..n] {
                // A copy: `epoll_event` is packed on x86-64.
                let id = event.u64;
                if let Some(armed) = table.armed.get_mut(&id) {
                    armed.fire();
                }
            }
        }
    }
}

impl Armed {
    /// Marks the watch fired and, the first time, resets the wake word of its side line to
    /// idle and wakes the sleeper (`protocol::death_heard`). Called only with the table locked
    /// and the entry in it, so the line is still mapped.
    fn fire(&mut self) {
        if self.fired {
            return;
        }
        self.fired = true;
        // SAFETY: `line` is the address of a live, aligned `SideLine` in the ring's header:
        // the entry is still in the table (our caller holds its lock), and an armed entry
        // holds a reference (`_keep`) to the memory the line is in.
        let line = unsafe { &*(self.line as *const SideLine) };
        protocol::death_heard(line).redeem();
    }
}

/// The process-wide slot, tried for at most [`SLOT_WAIT`]: yielding at first, then sleeping
/// 50 µs between tries.
fn lock_slot() -> Option<MutexGuard<'static, Option<Arc<Watcher>>>> {
    let start = Instant::now();
    let mut tries = 0u32;
    loop {
        match WATCHER.try_lock() {
            Ok(slot) => return Some(slot),
            Err(TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => {}
        }
        if tries < SLOT_YIELDS {
            tries += 1;
            std::thread::yield_now();
        } else if start.elapsed() >= SLOT_WAIT {
            return None;
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// Test hook: holds the process-wide watcher slot for `hold` from another thread (returns once
/// it is held), as a thread starting the watcher under load would, so a watch armed meanwhile
/// finds it busy. Not part of the API.
#[cfg(feature = "test-hooks")]
pub(crate) fn hold_slot(hold: Duration) {
    let (held, wait) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let slot = WATCHER.lock().unwrap_or_else(PoisonError::into_inner);
        let _ = held.send(());
        std::thread::sleep(hold);
        drop(slot);
    });
    let _ = wait.recv();
}

/// Test hook: how many watches this process has armed now. Not part of the API.
#[cfg(feature = "test-hooks")]
pub(crate) fn armed() -> usize {
    let slot = WATCHER.lock().unwrap_or_else(PoisonError::into_inner);
    slot.as_ref()
        .filter(|w| w.pid == std::process::id())
        .map_or(0, |w| w.table().armed.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::{WAKE_IDLE, WAKE_SLEEPING};
    use crate::sync::{AtomicU32, AtomicU64, Ordering};

    fn sleeping_line() -> SideLine {
        SideLine {
            position: AtomicU64::new(0),
            _hot_pad: [0; 56],
            state: AtomicU32::new(0),
            wake: AtomicU32::new(WAKE_SLEEPING),
            owner: AtomicU64::new(0),
            _cold_pad: [0; 48],
        }
    }

    #[test]
    fn an_exiting_child_wakes_the_watched_word() {
        let line = sleeping_line();
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .expect("start sleep(1)");
        let watch =
            DeathWatch::arm(child.id(), &line, Arc::new(())).expect("pidfd_open (Linux 5.3+)");
        assert!(!watch.fired());
        let start = Instant::now();
        while !watch.fired() {
            std::thread::sleep(Duration::from_millis(1));
            assert!(start.elapsed() < Duration::from_secs(5), "no wake-up");
        }
        assert_eq!(line.wake.load(Ordering::Relaxed), WAKE_IDLE);
        child.wait().expect("reap");
        drop(watch);
    }

    #[test]
    fn a_process_that_is_gone_cannot_be_watched_and_a_disarmed_watch_never_fires() {
        let mut child = std::process::Command::new("true").spawn().expect("true(1)");
        let pid = child.id();
        child.wait().expect("reap");
        let line = sleeping_line();
        // Reaped: the pid names nobody (or, rarely, a new process: then the watch is of it).
        if let Ok(watch) = DeathWatch::arm(pid, &line, Arc::new(())) {
            drop(watch);
        }
        let keep = Arc::new(());
        let me = DeathWatch::arm(std::process::id(), &line, keep.clone()).expect("watch myself");
        assert!(me.is_current());
        assert_eq!(
            Arc::strong_count(&keep),
            2,
            "the armed watch keeps the memory"
        );
        assert!(!me.fired());
        drop(me);
        assert_eq!(Arc::strong_count(&keep), 1, "a disarmed watch lets it go");
        assert_eq!(line.wake.load(Ordering::Relaxed), WAKE_SLEEPING);
    }
}
