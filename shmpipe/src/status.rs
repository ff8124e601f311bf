//! [`Status`]: a snapshot of a ring's shared state, read without synchronisation, for
//! monitoring (`shmpipe stat` shows it; `inspect` reads the same snapshot from a segment that
//! may not be a valid ring).

use crate::layout::Role;
use crate::layout::{self, Backend};
use crate::ownership::Liveness;
use crate::ring::Ring;
use crate::sync::Ordering;

impl Ring {
    /// A snapshot of the ring's shared state, for monitoring (`shmpipe stat`). The values are
    /// read without synchronisation and may be stale by the time they are used.
    pub fn status(&self) -> Status {
        let header = self.memory.header();
        let liveness = self.memory.liveness();
        Status {
            backend: self.backend(),
            version: layout::LAYOUT_VERSION,
            capacity: self.capacity(),
            creator_pid: header.creator() as u32,
            // A memfd or anonymous ring shares its one description with every process it went
            // to (by `fork` or a socket): the others cannot be told apart from us.
            creator_alive: matches!(self.backend(), Backend::Memfd | Backend::Anonymous)
                || liveness.others_present(header.creator()),
            writer: SideStatus::of(header, &liveness, Role::Writer),
            reader: SideStatus::of(header, &liveness, Role::Reader),
        }
    }
}

/// A role's state as recorded in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RoleState {
    /// Nobody has attached yet.
    Vacant,
    /// A handle is attached.
    Attached,
    /// The handle closed the ring.
    Closed,
    /// A value no version of shmpipe writes (the header is corrupted).
    Invalid(u32),
}

impl RoleState {
    fn from_code(code: u32) -> Self {
        match code {
            layout::STATE_VACANT => RoleState::Vacant,
            layout::STATE_ATTACHED => RoleState::Attached,
            layout::STATE_CLOSED => RoleState::Closed,
            other => RoleState::Invalid(other),
        }
    }
}

impl std::fmt::Display for RoleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RoleState::Vacant => f.write_str("vacant"),
            RoleState::Attached => f.write_str("attached"),
            RoleState::Closed => f.write_str("closed"),
            RoleState::Invalid(v) => write!(f, "invalid ({v})"),
        }
    }
}

/// One side of a [`Status`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideStatus {
    /// Bytes committed (writer) or released (reader) so far.
    pub position: u64,
    /// The role's state word.
    pub state: RoleState,
    /// The pid that holds (or last held) the role, as its own PID namespace numbers it; see
    /// [`same_namespace`](Self::same_namespace).
    pub pid: Option<u32>,
    /// Whether a live process holds the role: the kernel's answer (a file lock held by the
    /// handle; System V rings: the recorded pid and start time), right across PID namespaces
    /// and `fork` for every backend but System V.
    pub alive: bool,
    /// Whether `pid` is a pid of the PID namespace this process is in (`false` when the holder
    /// is in another namespace, e.g. another container: the number means nothing here).
    pub same_namespace: bool,
    /// Whether it is asleep on its futex word.
    pub sleeping: bool,
}

impl SideStatus {
    /// A snapshot of one role's line, read without synchronisation, with its liveness.
    pub(crate) fn of(header: &layout::Header, liveness: &Liveness<'_>, role: Role) -> Self {
        let line = header.side(role);
        let word = line.owner.load(Ordering::Relaxed);
        let state = RoleState::from_code(line.state.load(Ordering::Relaxed));
        let held = liveness.role_alive(header, role).unwrap_or(false);
        SideStatus {
            position: line.position.load(Ordering::Relaxed),
            state,
            pid: (word != 0).then(|| crate::layout::holder_pid(word)),
            alive: held && state == RoleState::Attached,
            same_namespace: liveness.same_namespace(word),
            sleeping: line.wake.load(Ordering::Relaxed) == layout::WAKE_SLEEPING,
        }
    }
}

/// A snapshot of a ring's shared state ([`Ring::status`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The backend that created the segment.
    pub backend: Backend,
    /// The layout version.
    pub version: u32,
    /// The data capacity in bytes.
    pub capacity: u64,
    /// The creating process's pid, as its own PID namespace numbers it (informative).
    pub creator_pid: u32,
    /// Whether another process has the ring open (its creator, or a peer): the kernel's
    /// answer through the presence lock (System V: the creator's pid is alive). A reader
    /// waiting for a writer that was never attached uses it to tell a creator still at work
    /// from one that is gone.
    pub creator_alive: bool,
    /// The writer's side.
    pub writer: SideStatus,
    /// The reader's side.
    pub reader: SideStatus,
}

impl Status {
    /// Bytes committed and not yet released (saturating, as the snapshot is not atomic).
    pub fn used(&self) -> u64 {
        self.writer.position.saturating_sub(self.reader.position)
    }
}
