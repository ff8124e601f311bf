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

use crate::error::AttachError;
use crate::layout::Role;
use crate::layout::{holder_namespace, holder_pid, Header, SideLine, STATE_ATTACHED, STATE_CLOSED};
use crate::lock_table::{hold_byte, role_held, transition_byte, Locks, PRESENCE_BYTE};
use crate::os;
use crate::protocol::Wake;
use crate::sync::Ordering;

/// How the liveness of a ring's roles is known.
#[derive(Clone, Copy)]
pub(crate) enum Liveness<'a> {
    /// A heap ring: both handles are in this process, so both are alive while they exist.
    InProcess,
    /// A segment with a file: open-file-description locks on it, through the ring's presence
    /// description (and, where `/proc` is missing, the mapping's name to open it again). Under
    /// loom: the model of the same lock table.
    Locks(os::SegmentLocks<'a>),
    /// System V: the holder's pid and start time in `/proc` (documented limits). Never under
    /// loom (the type is uninhabited there).
    Pids(os::Pids),
}

/// What a handle holds for its role: the kernel-vouched token whose release ends the role.
#[derive(Debug)]
pub(crate) enum Token {
    /// Heap rings: nothing to hold.
    InProcess,
    /// The handle's own open file description, holding the role's hold lock.
    Lock(os::OwnDescription),
    /// System V: the role is recorded by pid in the holder word.
    Pid,
}

impl Liveness<'_> {
    /// Claims `role` for a new handle: the kernel part (a token proving the claim, or the
    /// reason there can be none), then the holder word and state in the header.
    pub(crate) fn claim(&self, header: &Header, role: Role) -> Result<Token, AttachError> {
        let line = header.side(role);
        let token = match self {
            Liveness::InProcess => {
                claim_word(line, role, os::holder_word(), |_| false)?;
                return Ok(Token::InProcess);
            }
            Liveness::Pids(pids) => {
                claim_word(line, role, pids.current(), |word| pids.is_dead(word))?;
                return Ok(Token::Pid);
            }
            Liveness::Locks(locks) => Token::Lock(claim_locks(locks, line, role)?),
        };
        // The kernel says no live process holds the role: a holder word left there belongs to
        // a dead process.
        let claimed = claim_word(line, role, os::holder_word(), |_| true);
        if let (Liveness::Locks(locks), Token::Lock(own)) = (self, &token) {
            // The claim is complete (or failed): end its transition.
            locks.unlock_own(own, transition_byte(role));
        }
        claimed.map(|()| token)
    }

    /// Lets go of a handle's role. `close` stores the `CLOSED` state (after publishing what
    /// the handle has pending) and returns the wake-up the peer needs; it runs only if this
    /// was the last copy of the handle in any process. Returns what `close` returned (no
    /// wake-up when it did not run).
    pub(crate) fn release<'w>(
        &self,
        token: Token,
        role: Role,
        close: impl FnOnce() -> Wake<'w>,
    ) -> Wake<'w> {
        match (self, token) {
            (Liveness::Locks(locks), Token::Lock(own)) => release_locks(locks, own, role, close),
            // In one process, or tracked by pid: this handle is the only copy there is.
            _ => close(),
        }
    }

    /// Lets the role go as a death would: the token goes without the close protocol (the
    /// kernel drops the handle's lock with its description; loom's model counts one holder
    /// of the description less).
    pub(crate) fn abandon(&self, token: Token) {
        if let (Liveness::Locks(locks), Token::Lock(own)) = (self, token) {
            locks.close_own(own);
        }
    }

    /// Is the process holding `peer`'s role gone without closing it? `own` is the asking
    /// handle's token, if it still holds its role: its own description is the probe (a lock
    /// is never reported to the description that holds it); a handle that let its role go
    /// (`close_and_wait` after the close) probes through the presence description, which
    /// holds no role lock.
    pub(crate) fn peer_is_dead(&self, header: &Header, own: Option<&Token>, peer: Role) -> bool {
        let line = header.side(peer);
        let held = match self {
            Liveness::InProcess => return false,
            Liveness::Pids(pids) => {
                let word = line.owner.load(Ordering::Relaxed);
                return word != 0
                    && pids.is_dead(word)
                    && line.state.load(Ordering::Acquire) == STATE_ATTACHED;
            }
            Liveness::Locks(locks) => {
                let probe = match own {
                    Some(Token::Lock(own)) => Some(own),
                    _ => None,
                };
                role_held(locks, probe, peer)
            }
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
            Liveness::Locks(locks) => locks.held_elsewhere(None, PRESENCE_BYTE, 1),
            Liveness::Pids(pids) => creator != 0 && !pids.is_dead(creator),
            Liveness::InProcess => true,
        }
    }

    /// Is `role` held by a live handle (the kernel's answer, through the presence
    /// description)? For `stat`: `None` when it cannot be told.
    pub(crate) fn role_alive(&self, header: &Header, role: Role) -> Option<bool> {
        let line = header.side(role);
        match self {
            Liveness::InProcess => Some(line.state.load(Ordering::Relaxed) == STATE_ATTACHED),
            Liveness::Pids(pids) => {
                let word = line.owner.load(Ordering::Relaxed);
                Some(word != 0 && !pids.is_dead(word))
            }
            Liveness::Locks(locks) => Some(role_held(locks, None, role)),
        }
    }

    /// Is the pid in `word` (a holder or creator word) one of this process's PID namespace?
    pub(crate) fn same_namespace(&self, word: u64) -> bool {
        match self {
            Liveness::Locks(_) => {
                let theirs = holder_namespace(word);
                theirs == 0 || theirs == os::pid_namespace()
            }
            Liveness::Pids(_) | Liveness::InProcess => true,
        }
    }

    /// The creator word a new header records: pid and PID namespace; where roles are tracked
    /// by pid (System V), pid and start time instead.
    pub(crate) fn creator_word(&self) -> u64 {
        match self {
            Liveness::Pids(pids) => pids.current(),
            _ => os::holder_word(),
        }
    }
}

/// Lets a handle's role go: closes it (`close`: store CLOSED, return the wake-up the peer
/// needs) if this was the last copy of the handle in any process, and wakes the peer when
/// `published` (what the handle published of what it had pending) or the close asks for it.
/// No-op once the token is gone.
pub(crate) fn release_role<'w>(
    liveness: Liveness<'_>,
    token: &mut Option<Token>,
    role: Role,
    published: Wake<'w>,
    close: impl FnOnce() -> Wake<'w>,
) {
    match token.take() {
        Some(token) => published.or(liveness.release(token, role, close)).redeem(),
        None => published.redeem(),
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
pub(crate) fn release_locks<L: Locks, R: Default>(
    locks: &L,
    own: L::Own,
    role: Role,
    close: impl FnOnce() -> R,
) -> R {
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
            _ => R::default(),
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
        _ => R::default(),
    };
    // Releases the closer's locks: CLOSED (if stored) is stored before they go.
    locks.close_own(closer);
    woke
}
