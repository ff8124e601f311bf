//! Who holds a role, as the kernel vouches for it: liveness without pids.
//!
//! A process holds a role because it holds something the kernel releases when the last process
//! holding it is gone. For the segments that have a file (POSIX, file, memfd, anonymous: the
//! anonymous backend sits on a memfd) that is an **open-file-description lock**
//! (`fcntl(F_OFD_SETLK)`) on one byte of the segment file, taken through a file description
//! that belongs to the handle alone. Such a lock belongs to the open file description, not to
//! a pid: it is shared by every process that inherits the handle across `fork`, survives the
//! main thread exiting, means the same in every PID namespace, and is released by the kernel
//! when the last descriptor of it is closed, by `close` or by death. The byte ranges (offsets
//! in the segment file; the lock never touches the bytes themselves) are:
//!
//! | byte | lock | held by |
//! |---|---|---|
//! | 0 | presence, `F_RDLCK` | every process that has the ring open (`Ring`, or a handle) |
//! | 128 | writer hold, `F_WRLCK` | the writer handle's own description, while attached |
//! | 129 | writer transition, `F_WRLCK` | a writer being claimed or closed, for that moment |
//! | 256 | reader hold | as for the writer |
//! | 257 | reader transition | as for the writer |
//!
//! - **claim**: take the role's transition lock on the new handle's description (waiting a
//!   little if another process is in the middle of a claim or close), then its hold lock
//!   without waiting: held means a live holder (`AlreadyAttached`); then a `CLOSED` state word
//!   means the role is over (`Closed`); otherwise the role is ours (a holder that died is taken
//!   over), and the transition lock is released.
//! - **close by the last holder**: open a new description for the close and take the role's
//!   transition lock on it, close the handle's own description, then try the hold lock on the
//!   new description: taking it proves no copy of the handle is left in any process, so store
//!   `CLOSED` (the end-of-stream or `Closed` the peer sees) while holding it; failing means a
//!   copy lives on elsewhere (a `fork`ed process), which keeps the role. Close the new
//!   description, releasing both.
//! - **dead**: the hold lock is free, the transition lock is free, and then the state word
//!   still says `ATTACHED`. Testing the transition lock after the hold lock is what keeps a
//!   close from looking like a death: a closer holds it from before it lets go of the hold
//!   lock until after it stored `CLOSED`.
//! - **stale**: nobody holds the presence lock (see `RingOptions::replace_stale`).
//!
//! System V segments have no file to lock: their roles are tracked by pid and start time
//! (`crate::process`), with the limits documented in `docs/LAYOUT.md` (not across PID
//! namespaces, not across `fork`). Heap rings live in one process: both handles are always
//! alive. Under loom, the header's model of the kernel (`LoomOs`) keeps the same lock table.

use crate::error::{AttachError, Role};
use crate::layout::{Header, SideLine, STATE_ATTACHED, STATE_CLOSED};
use crate::sync::Ordering;

/// The presence byte: every process with the ring open holds a read lock on it.
pub(crate) const PRESENCE_BYTE: i64 = 0;

/// The byte whose write lock a role's handle holds while attached.
pub(crate) fn hold_byte(role: Role) -> i64 {
    match role {
        Role::Writer => 128,
        Role::Reader => 256,
    }
}

/// The byte whose write lock is held while a role is claimed or closed.
pub(crate) fn transition_byte(role: Role) -> i64 {
    hold_byte(role) + 1
}

/// How the liveness of a ring's roles is known.
pub(crate) enum Liveness<'a> {
    /// A heap ring: both handles are in this process, so both are alive while they exist.
    InProcess,
    /// A segment with a file: open-file-description locks on it (the description given is
    /// the ring's presence description; the mapping, when there is one, can open the
    /// segment again by its name where `/proc` is missing).
    #[cfg(not(loom))]
    Locks(
        std::os::fd::BorrowedFd<'a>,
        Option<&'a crate::segment::Mapping>,
    ),
    /// System V: the holder's pid and start time in `/proc` (documented limits).
    #[cfg(not(loom))]
    Pids,
    /// Loom: the header's model of the kernel's lock table.
    #[cfg(loom)]
    Loom(&'a crate::sync::LoomOs),
}

/// What a handle holds for its role: the kernel-vouched token whose release ends the role.
#[derive(Debug)]
pub(crate) enum Token {
    /// Heap rings: nothing to hold.
    InProcess,
    /// The handle's own open file description, holding the role's hold lock.
    #[cfg(not(loom))]
    Lock(std::os::fd::OwnedFd),
    /// System V: the role is recorded by pid in the holder word.
    #[cfg(not(loom))]
    Pid,
    /// Loom: the modelled description's number.
    #[cfg(loom)]
    Loom(u32),
}

/// The holder (and creator) word this process records: its pid and the low 32 bits of its
/// PID namespace's inode (so `stat` can tell a pid of another namespace), informative only.
pub(crate) fn holder_word() -> u64 {
    #[cfg(not(loom))]
    {
        u64::from(std::process::id()) | (u64::from(crate::process::pid_namespace()) << 32)
    }
    #[cfg(loom)]
    {
        1
    }
}

/// The pid part of a holder word.
pub(crate) fn holder_pid(word: u64) -> u32 {
    word as u32
}

/// The PID-namespace part of a holder word (0 if the holder could not tell).
pub(crate) fn holder_namespace(word: u64) -> u32 {
    (word >> 32) as u32
}

impl Liveness<'_> {
    /// Are the roles tracked by pid (System V) rather than by the kernel's locks?
    pub(crate) fn tracks_pids(&self) -> bool {
        #[cfg(not(loom))]
        if let Liveness::Pids = self {
            return true;
        }
        false
    }

    /// Claims `role` for a new handle: the kernel part (a token proving the claim, or the
    /// reason there can be none), then the holder word and state in the header.
    pub(crate) fn claim(&self, header: &Header, role: Role) -> Result<Token, AttachError> {
        let line = header.side(role);
        let token = match self {
            Liveness::InProcess => {
                claim_word(line, role, holder_word(), |_| false)?;
                return Ok(Token::InProcess);
            }
            #[cfg(not(loom))]
            Liveness::Pids => {
                let me = crate::process::current().0;
                claim_word(line, role, me, |word| {
                    crate::process::is_dead(crate::layout::Owner(word))
                })?;
                return Ok(Token::Pid);
            }
            #[cfg(not(loom))]
            Liveness::Locks(presence, mapping) => Token::Lock(claim_locks(
                &locks::FdLocks(*presence, *mapping),
                line,
                role,
            )?),
            #[cfg(loom)]
            Liveness::Loom(os) => Token::Loom(claim_locks(*os, line, role)?),
        };
        // The kernel says no live process holds the role: a holder word left there belongs to
        // a dead process.
        let claimed = claim_word(line, role, holder_word(), |_| true);
        self.end_transition(&token, role);
        claimed.map(|()| token)
    }

    /// Ends the transition a lock-based claim holds (the claim is complete or failed).
    fn end_transition(&self, token: &Token, role: Role) {
        match (self, token) {
            #[cfg(not(loom))]
            (Liveness::Locks(presence, mapping), Token::Lock(fd)) => {
                locks::FdLocks(*presence, *mapping).unlock_own(fd, transition_byte(role));
            }
            #[cfg(loom)]
            (Liveness::Loom(os), Token::Loom(ofd)) => os.unlock_own(ofd, transition_byte(role)),
            _ => {}
        }
    }

    /// Lets go of a handle's role. `close` stores the `CLOSED` state (after publishing what
    /// the handle has pending) and returns whether the peer must be woken; it runs only if
    /// this was the last copy of the handle in any process. Returns what `close` returned
    /// (false when it did not run).
    pub(crate) fn release(&self, token: Token, role: Role, close: impl FnOnce() -> bool) -> bool {
        match (self, token) {
            #[cfg(not(loom))]
            (Liveness::Locks(presence, mapping), Token::Lock(fd)) => {
                release_locks(&locks::FdLocks(*presence, *mapping), fd, role, close)
            }
            #[cfg(loom)]
            (Liveness::Loom(os), Token::Loom(ofd)) => release_locks(*os, ofd, role, close),
            // In one process, or tracked by pid: this handle is the only copy there is.
            _ => close(),
        }
    }

    /// Is the process holding `peer`'s role gone without closing it? `own` is the asking
    /// handle's token, if it still holds its role: its own description is the probe (a lock
    /// is never reported to the description that holds it); a handle that let its role go
    /// (`close_and_wait` after the close) probes through the presence description, which
    /// holds no role lock.
    pub(crate) fn peer_is_dead(&self, header: &Header, own: Option<&Token>, peer: Role) -> bool {
        let line = header.side(peer);
        let held = match (self, own) {
            (Liveness::InProcess, _) => return false,
            #[cfg(not(loom))]
            (Liveness::Pids, _) => {
                let word = line.owner.load(Ordering::Relaxed);
                return word != 0
                    && crate::process::is_dead(crate::layout::Owner(word))
                    && line.state.load(Ordering::Acquire) == STATE_ATTACHED;
            }
            #[cfg(not(loom))]
            (Liveness::Locks(presence, mapping), Some(Token::Lock(fd))) => {
                role_held(&locks::FdLocks(*presence, *mapping), Some(fd), peer)
            }
            #[cfg(not(loom))]
            (Liveness::Locks(presence, mapping), _) => {
                role_held(&locks::FdLocks(*presence, *mapping), None, peer)
            }
            #[cfg(loom)]
            (Liveness::Loom(os), Some(Token::Loom(ofd))) => role_held(*os, Some(ofd), peer),
            #[cfg(loom)]
            (Liveness::Loom(os), _) => role_held(*os, None, peer),
        };
        // Relaxed: the order that matters is the kernel's. A closer stores CLOSED before it
        // lets go of the transition lock, and the kernel orders that release before our test
        // found the lock free (its lock list is behind a lock; the loom model, behind a loom
        // `Mutex`), so a role that was closed reads CLOSED here and is never reported dead.
        // Without the transition lock the closer's fd close could be seen before its CLOSED
        // store: loom model `forked_writer_closes_with_its_last_copy` fails then (mutant
        // `close-without-transition`).
        // A claimant that died between its claim and its state store left VACANT with its
        // holder word: dead too. A role nobody ever claimed (word 0) is not.
        !held && {
            let state = line.state.load(Ordering::Relaxed);
            state == STATE_ATTACHED
                || (state != STATE_CLOSED && line.owner.load(Ordering::Relaxed) != 0)
        }
    }

    /// Does a process other than this one's ring description have the ring open (the
    /// presence lock; System V: the creator's pid is alive)? `creator` is the creator word.
    pub(crate) fn others_present(&self, creator: u64) -> bool {
        match self {
            #[cfg(not(loom))]
            Liveness::Locks(presence, _) => locks::holder(*presence, PRESENCE_BYTE).is_some(),
            #[cfg(not(loom))]
            Liveness::Pids => {
                creator != 0 && !crate::process::is_dead(crate::layout::Owner(creator))
            }
            _ => {
                let _ = creator;
                true
            }
        }
    }

    /// Is `role` held by a live handle (the kernel's answer, through the presence
    /// description)? For `stat`: `None` when it cannot be told.
    pub(crate) fn role_alive(&self, header: &Header, role: Role) -> Option<bool> {
        let line = header.side(role);
        match self {
            Liveness::InProcess => Some(line.state.load(Ordering::Relaxed) == STATE_ATTACHED),
            #[cfg(not(loom))]
            Liveness::Pids => {
                let word = line.owner.load(Ordering::Relaxed);
                Some(word != 0 && !crate::process::is_dead(crate::layout::Owner(word)))
            }
            #[cfg(not(loom))]
            Liveness::Locks(presence, mapping) => {
                Some(role_held(&locks::FdLocks(*presence, *mapping), None, role))
            }
            #[cfg(loom)]
            Liveness::Loom(os) => Some(role_held(*os, None, role)),
        }
    }
}

impl Token {
    /// Lets the role go as a death would: the token goes without the close protocol (the
    /// kernel drops the handle's lock with its description; loom's model counts one holder
    /// of the description less).
    pub(crate) fn abandon(self, memory: &crate::memory::Memory) {
        #[cfg(loom)]
        if let Token::Loom(ofd) = self {
            memory.header().os.crash(ofd);
        }
        #[cfg(not(loom))]
        {
            let _ = memory;
            drop(self);
        }
    }

    /// Loom only: the copy of this token a `fork` gives the child (one more holder of the
    /// same modelled description).
    #[cfg(loom)]
    pub(crate) fn loom_fork(&self, memory: &crate::memory::Memory) -> Option<Token> {
        match self {
            Token::Loom(ofd) => {
                memory.header().os.fork(*ofd);
                Some(Token::Loom(*ofd))
            }
            Token::InProcess => None,
        }
    }
}

/// Lets a handle's role go: closes it (`close`: store CLOSED, return whether to wake the
/// peer) if this was the last copy of the handle in any process, and wakes the peer when
/// `published` (the handle published what it had pending, and the peer sleeps) or the close
/// asks for it. No-op once the token is gone.
pub(crate) fn release_role(
    memory: &crate::memory::Memory,
    token: &mut Option<Token>,
    role: Role,
    published: bool,
    close: impl FnOnce() -> bool,
) {
    if let Some(token) = token.take() {
        let mut woke = published;
        woke |= memory.liveness().release(token, role, close);
        if woke {
            let header = memory.header();
            let peer = match role {
                Role::Writer => &header.reader,
                Role::Reader => &header.writer,
            };
            crate::wait::futex_wake(header, &peer.wake);
        }
    }
}

/// The `peer_died` test a waiting handle gives `wait::wait_for`: is the process holding
/// `peer`'s role gone without closing it, and if so which pid did it record?
pub(crate) fn peer_died<'a>(
    memory: &'a crate::memory::Memory,
    own: Option<&'a Token>,
    peer: Role,
) -> impl Fn() -> Option<u32> + 'a {
    move || {
        let header = memory.header();
        let dead = memory.liveness().peer_is_dead(header, own, peer);
        dead.then(|| holder_pid(header.side(peer).owner.load(Ordering::Relaxed)))
    }
}

/// Records the claim in the header: the holder word, then the state. A role whose state is
/// `CLOSED` stays closed; a holder word that `is_dead` does not clear is a live holder.
fn claim_word(
    line: &SideLine,
    role: Role,
    me: u64,
    is_dead: impl Fn(u64) -> bool,
) -> Result<(), AttachError> {
    let mut current = line.owner.load(Ordering::Relaxed);
    loop {
        // Relaxed: a close that finished before this claim took the role's transition lock is
        // ordered before it by that lock (loom model `claim_after_close_is_refused`, mutant
        // `claim-without-transition`); one that has not finished cannot have stored CLOSED.
        // (Heap rings have no lock; there a stale read finds the holder word and reports
        // `AlreadyAttached`: an error either way.)
        if line.state.load(Ordering::Relaxed) == STATE_CLOSED {
            return Err(AttachError::Closed { role });
        }
        if current != 0 && !is_dead(current) {
            return Err(AttachError::AlreadyAttached {
                role,
                pid: holder_pid(current),
            });
        }
        // Mutual exclusion between claimers of one ring comes from the kernel's lock where
        // there is one, and from this read-modify-write everywhere: exactly one
        // compare-exchange from `current` succeeds (loom model `role_claim_race`).
        // SYNC POINT (attach): Acquire pairs with the Release RMW in a racing claimer's
        // `both_attached`, which this RMW may read from; see there.
        match line
            .owner
            .compare_exchange(current, me, Ordering::Acquire, Ordering::Relaxed)
        {
            Ok(_) => break,
            Err(now) => current = now,
        }
    }
    line.state.store(STATE_ATTACHED, Ordering::Relaxed);
    Ok(())
}

/// Gives `role`'s holder word up without closing (an attach that failed after the claim
/// stored nothing else; a failed attach means a corrupted header).
pub(crate) fn unclaim_word(line: &SideLine) {
    line.owner.store(0, Ordering::Relaxed);
}

/// The kernel's lock table, as the role protocol needs it: the real one (`fcntl` with
/// `F_OFD_*` on the segment's file) or loom's model of it (`LoomOs`), so that loom checks the
/// protocol that ships (`claim_locks`, `release_locks`, `role_held`).
pub(crate) trait Locks {
    /// An open file description a handle holds.
    type Own;

    /// A new description of the ring's file, for a handle.
    fn open_own(&self) -> std::io::Result<Self::Own>;
    /// Takes a write lock on `byte` through `own` without waiting: `false` if another
    /// description holds it.
    fn try_lock_own(&self, own: &Self::Own, byte: i64) -> std::io::Result<bool>;
    /// Releases `own`'s lock on `byte`.
    fn unlock_own(&self, own: &Self::Own, byte: i64);
    /// Takes a write lock on `byte` through the ring's presence description, without waiting.
    fn try_lock_presence(&self, byte: i64) -> std::io::Result<bool>;
    /// Releases the presence description's lock on `byte`.
    fn unlock_presence(&self, byte: i64);
    /// Closes this process's copy of `own` (the kernel releases its locks with the last copy).
    fn close_own(&self, own: Self::Own);
    /// Does a description other than `probe` (`None`: the presence description) hold a lock
    /// on any of the `len` bytes from `byte`? One look at the table: atomic over the range.
    fn held_elsewhere(&self, probe: Option<&Self::Own>, byte: i64, len: i64) -> bool;
    /// Waits a moment before trying a busy lock again; `false` once it has waited for
    /// `tries` tries, long enough to give up (the real table: about two seconds; loom: never).
    fn pause(&self, tries: u32) -> bool;
}

/// The kernel part of a claim: a new description holding the transition and hold locks (see
/// the module documentation). The caller records the claim, then ends the transition.
pub(crate) fn claim_locks<L: Locks>(
    locks: &L,
    line: &SideLine,
    role: Role,
) -> Result<L::Own, AttachError> {
    let os = |op: &'static str, source: std::io::Error| AttachError::Os { op, role, source };
    let own = locks.open_own().map_err(|e| os("open(/proc/self/fd)", e))?;
    let mut tries = 0;
    while !locks
        .try_lock_own(&own, transition_byte(role))
        .map_err(|e| os("fcntl(F_OFD_SETLK)", e))?
    {
        tries += 1;
        if !locks.pause(tries) {
            locks.close_own(own);
            return Err(AttachError::Busy { role });
        }
    }
    let held = locks.try_lock_own(&own, hold_byte(role));
    if !held.as_ref().is_ok_and(|&held| held) {
        locks.close_own(own);
        let word = line.owner.load(Ordering::Relaxed);
        return Err(match held {
            Err(e) => os("fcntl(F_OFD_SETLK)", e),
            Ok(_) => AttachError::AlreadyAttached {
                role,
                pid: holder_pid(word),
            },
        });
    }
    Ok(own)
}

/// Close by the last holder (see the module documentation): `close` runs only if no copy of
/// `own` is left in any process. Returns what `close` returned (false when it did not run).
///
/// The closer works through a description of its own, opened for the close: the presence
/// description is shared by every process the ring was inherited by, so two copies closing at
/// once through it would each think they held the transition lock, and the first to finish
/// would let it go while the other is still between closing its copy and storing CLOSED.
pub(crate) fn release_locks<L: Locks>(
    locks: &L,
    own: L::Own,
    role: Role,
    close: impl FnOnce() -> bool,
) -> bool {
    let Ok(closer) = locks.open_own() else {
        // No new description (no /proc): close through the presence description, without
        // the transition lock (a peer testing at that instant may see a death).
        locks.close_own(own);
        return match locks.try_lock_presence(hold_byte(role)) {
            Ok(true) => {
                let woke = close();
                locks.unlock_presence(hold_byte(role));
                woke
            }
            _ => false,
        };
    };
    // Wait for a claim or another copy's close in progress (bounded: a stopped process
    // holding it must not hang a drop; past the bound, closing without it risks only a peer
    // that tests at that instant reporting a death instead of the close).
    let mut tries = 0;
    loop {
        match locks.try_lock_own(&closer, transition_byte(role)) {
            Ok(true) => break,
            Ok(false) => {
                tries += 1;
                if !locks.pause(tries) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    locks.close_own(own);
    let woke = match locks.try_lock_own(&closer, hold_byte(role)) {
        Ok(true) => close(),
        // Another copy of the handle lives in another process: the role stays.
        _ => false,
    };
    // Releases the closer's locks: CLOSED (if stored) is stored before they go.
    locks.close_own(closer);
    woke
}

/// Is `role` held, or changing hands, as seen from `probe` (`None`: the presence
/// description)? Both bytes are tested in one look (`F_OFD_GETLK` over the two-byte range):
/// a claim holds the transition lock from before it takes the hold lock until after it
/// recorded itself, a close from before it lets go of the hold lock until after it stored
/// CLOSED, so at every instant a live or changing role has one of the two. Two separate
/// looks could miss both (the hold lock before a claim, the transition lock after it: loom
/// model `opener_waits_for_initialised_header` found that).
pub(crate) fn role_held<L: Locks>(locks: &L, probe: Option<&L::Own>, role: Role) -> bool {
    debug_assert_eq!(transition_byte(role), hold_byte(role) + 1);
    locks.held_elsewhere(probe, hold_byte(role), 2)
}

/// Open-file-description locks: the system calls.
#[cfg(not(loom))]
pub(crate) mod locks {
    use std::io;
    use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
    use std::os::unix::fs::OpenOptionsExt;
    use std::time::Duration;

    /// How many 1-ms pauses a claim or close waits for another process's claim or close of
    /// the same role to end (about two seconds).
    const TRANSITION_TRIES: u32 = 2000;

    fn flock(kind: libc::c_int, byte: i64) -> libc::flock {
        flock_range(kind, byte, 1)
    }

    fn flock_range(kind: libc::c_int, byte: i64, len: i64) -> libc::flock {
        // SAFETY: `flock` is a plain C struct; all-zero is a valid value of it.
        let mut fl: libc::flock = unsafe { std::mem::zeroed() };
        fl.l_type = kind as libc::c_short;
        fl.l_whence = libc::SEEK_SET as libc::c_short;
        fl.l_start = byte as libc::off_t;
        fl.l_len = len as libc::off_t;
        fl
    }

    fn fcntl_lock(fd: BorrowedFd<'_>, cmd: libc::c_int, fl: &mut libc::flock) -> io::Result<()> {
        loop {
            // SAFETY: `fd` is a valid descriptor for the call; `fl` is a valid, writable flock
            // that the kernel reads (and, for F_OFD_GETLK, writes) during the call only.
            let r = unsafe { libc::fcntl(fd.as_raw_fd(), cmd, fl as *mut libc::flock) };
            if r != -1 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Takes a lock of `kind` (`F_RDLCK`/`F_WRLCK`) on `byte` without waiting: `Ok(false)`
    /// if another description holds a conflicting one.
    pub(crate) fn try_lock(fd: BorrowedFd<'_>, kind: libc::c_int, byte: i64) -> io::Result<bool> {
        let mut fl = flock(kind, byte);
        match fcntl_lock(fd, libc::F_OFD_SETLK, &mut fl) {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.raw_os_error(), Some(libc::EAGAIN | libc::EACCES)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Releases this description's lock on `byte` (nothing if it holds none).
    pub(crate) fn unlock(fd: BorrowedFd<'_>, byte: i64) {
        let mut fl = flock(libc::F_UNLCK, byte);
        let _ = fcntl_lock(fd, libc::F_OFD_SETLK, &mut fl);
    }

    /// The kind of lock another description holds on `byte` that would conflict with a write
    /// lock (`F_RDLCK` or `F_WRLCK`), or `None`. An error (no lock support) reads as `None`.
    pub(crate) fn holder(fd: BorrowedFd<'_>, byte: i64) -> Option<libc::c_int> {
        holder_of_range(fd, byte, 1)
    }

    /// [`holder`] over `len` bytes from `byte`, in one look.
    pub(crate) fn holder_of_range(fd: BorrowedFd<'_>, byte: i64, len: i64) -> Option<libc::c_int> {
        let mut fl = flock_range(libc::F_WRLCK, byte, len);
        match fcntl_lock(fd, libc::F_OFD_GETLK, &mut fl) {
            Ok(()) if fl.l_type as libc::c_int != libc::F_UNLCK => Some(fl.l_type as libc::c_int),
            _ => None,
        }
    }

    /// A new open file description of the file behind `fd`, read-write, close-on-exec:
    /// `/proc/self/fd/N` opened again (which, unlike `dup`, makes a new description).
    pub(crate) fn reopen(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
        let path = format!("/proc/self/fd/{}", fd.as_raw_fd());
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)?;
        Ok(OwnedFd::from(file))
    }

    /// The real lock table, through the ring's presence description (and its mapping, to
    /// open the segment again by name where `/proc` is missing).
    pub(crate) struct FdLocks<'a>(
        pub(crate) BorrowedFd<'a>,
        pub(crate) Option<&'a crate::segment::Mapping>,
    );

    impl super::Locks for FdLocks<'_> {
        type Own = OwnedFd;

        fn open_own(&self) -> io::Result<OwnedFd> {
            reopen(self.0).or_else(|e| match self.1 {
                // No /proc (a chroot, a container without it): by name, if it still is ours.
                Some(mapping) => mapping.reopen_by_name().map_err(|_| e),
                None => Err(e),
            })
        }

        fn try_lock_own(&self, own: &OwnedFd, byte: i64) -> io::Result<bool> {
            try_lock(own.as_fd(), libc::F_WRLCK, byte)
        }

        fn unlock_own(&self, own: &OwnedFd, byte: i64) {
            unlock(own.as_fd(), byte);
        }

        fn try_lock_presence(&self, byte: i64) -> io::Result<bool> {
            try_lock(self.0, libc::F_WRLCK, byte)
        }

        fn unlock_presence(&self, byte: i64) {
            unlock(self.0, byte);
        }

        fn close_own(&self, own: OwnedFd) {
            drop(own);
        }

        fn held_elsewhere(&self, probe: Option<&OwnedFd>, byte: i64, len: i64) -> bool {
            holder_of_range(probe.map_or(self.0, |fd| fd.as_fd()), byte, len).is_some()
        }

        fn pause(&self, tries: u32) -> bool {
            std::thread::sleep(Duration::from_millis(1));
            tries < TRANSITION_TRIES
        }
    }
}
