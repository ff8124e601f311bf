//! [`Status`]: a snapshot of a ring's header and roles, read without synchronisation, for
//! monitoring: from a ring this process has open ([`Ring::status`]) or from any segment
//! ([`inspect`](crate::inspect), which lists its problems beside it). One type for both.

use crate::layout::Role;
use crate::layout::{self, Backend};
use crate::ownership::Liveness;
use crate::problem::Identity;
use crate::ring::Ring;
use crate::sync::Ordering;

impl Ring {
    /// A snapshot of the ring's shared state, for monitoring (`shmpipe stat`). The values are
    /// read without synchronisation and may be stale by the time they are used.
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().capacity(1024).heap()?;
    /// let _writer = ring.writer()?;
    /// let status = ring.status();
    /// assert_eq!(status.writer.state, shmpipe::RoleState::Attached);
    /// assert_eq!(status.reader.state, shmpipe::RoleState::Vacant);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn status(&self) -> Status {
        let header = self.memory.header();
        let liveness = self.memory.liveness();
        // A memfd or anonymous ring shares its one description with every process it went to
        // (by `fork` or a socket): the others cannot be told apart from us.
        let creator_alive = matches!(self.backend(), Backend::Memfd | Backend::Anonymous)
            || liveness.others_present(header.creator());
        Status {
            // What was validated when the ring was opened, not what a peer may have written
            // since.
            version: layout::LAYOUT_VERSION,
            capacity: self.capacity(),
            backend: Some(self.backend()),
            ..Status::read(header, &liveness, creator_alive, true)
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

/// A snapshot of a ring's header: every field as found in shared memory, the two roles, and
/// who is alive. [`Ring::status`] reads it from a ring this process has open;
/// [`inspect`](crate::inspect) from any segment, even one that is not a valid ring (its
/// problems are listed beside it, in [`Inspection`](crate::Inspection)).
///
/// ```
/// let ring = shmpipe::RingOptions::new().capacity(1024).heap()?;
/// let mut writer = ring.writer()?;
/// writer.send(b"hi")?;
/// let status = ring.status();
/// assert_eq!(status.capacity, 1024);
/// assert_eq!(status.used(), 8 + 8); // one record: an 8-byte header, the payload padded to 8
/// assert!(status.writer.alive);
/// assert_eq!(status.reader.pid, None); // no reader yet
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The first eight bytes; `b"SHMPIPE\0"` for a shmpipe segment.
    pub magic: [u8; 8],
    /// The layout version.
    pub version: u32,
    /// Bytes before the data region.
    pub header_size: u32,
    /// The data capacity in bytes.
    pub capacity: u64,
    /// Header flags (bit 0: keep the name once both sides attach).
    pub flags: u32,
    /// The endianness marker, `0x01020304` in this machine's byte order when it matches.
    pub endian: u32,
    /// The pointer width of the creating process, in bits.
    pub pointer_bits: u32,
    /// The init word: 1 once the creator finished writing the header.
    pub init: u32,
    /// The backend code as stored.
    pub backend_code: u32,
    /// The backend that code names, if it names one (always, for a ring that was opened).
    pub backend: Option<Backend>,
    /// The creating process's pid, as its own PID namespace numbers it (informative).
    pub creator_pid: u32,
    /// Whether the creator may still be at work: another process has the ring open (its
    /// creator, or a peer), the kernel's answer through the presence lock (System V: the
    /// creator's pid is alive). A reader waiting for a writer that was never attached uses it
    /// to tell a creator still at work from one that is gone.
    pub creator_alive: bool,
    /// Whether any process has the ring open (the kernel's answer: the presence lock, see
    /// `docs/LAYOUT.md`; System V rings: the attach count). Always true from
    /// [`Ring::status`]: this process has it open.
    pub in_use: bool,
    /// The writer's side.
    pub writer: SideStatus,
    /// The reader's side.
    pub reader: SideStatus,
}

impl Status {
    /// Reads the header and both roles; the caller says who is present.
    pub(crate) fn read(
        header: &layout::Header,
        liveness: &Liveness<'_>,
        creator_alive: bool,
        in_use: bool,
    ) -> Status {
        let words = Identity::load(header);
        Status {
            magic: words.magic,
            version: words.version,
            header_size: words.header_size,
            capacity: words.capacity,
            flags: words.flags,
            endian: words.endian,
            pointer_bits: words.pointer_bits,
            init: words.init,
            backend_code: words.backend_code,
            backend: Backend::from_code(words.backend_code),
            creator_pid: header.creator() as u32,
            creator_alive,
            in_use,
            writer: SideStatus::of(header, liveness, Role::Writer),
            reader: SideStatus::of(header, liveness, Role::Reader),
        }
    }

    /// The identity words of this snapshot, as the validator takes them (so the problems
    /// listed beside a snapshot are the problems of exactly these values).
    pub(crate) fn identity(&self) -> Identity {
        Identity {
            magic: self.magic,
            version: self.version,
            header_size: self.header_size,
            capacity: self.capacity,
            flags: self.flags,
            endian: self.endian,
            init: self.init,
            pointer_bits: self.pointer_bits,
            backend_code: self.backend_code,
        }
    }

    /// Bytes committed and not yet released (saturating, as the snapshot is not atomic).
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().capacity(1024).heap()?;
    /// let mut writer = ring.writer()?;
    /// writer.send(&[0; 20])?;
    /// assert_eq!(ring.status().used(), 8 + 24); // the record header, the payload padded to 8
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn used(&self) -> u64 {
        self.writer.position.saturating_sub(self.reader.position)
    }

    /// Is the flag "keep the name once both sides attach" set?
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().keep_name(true).heap()?;
    /// assert!(ring.status().keeps_name());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keeps_name(&self) -> bool {
        self.flags & layout::FLAG_KEEP_NAME != 0
    }
}
