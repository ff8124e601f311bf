//! The lock table a ring's roles are held in (see `ownership`): which byte of the segment file
//! each lock sits on, and the operations the role protocol needs from the table ([`Locks`]).
//! The real table is the kernel's (`os::SegmentLocks`, open-file-description locks); the loom
//! build's is a model of it, so loom checks the protocol that ships.

use crate::layout::Role;

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
