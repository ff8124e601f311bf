//! Errors, one enum per operation: creating a ring, opening one, attaching a handle, sending,
//! receiving. Each `Display` is a sentence a user can act on; OS failures keep the
//! `io::Error` as their `source()`.

use std::fmt;

use crate::layout::Role;
use std::io;
use std::time::Duration;

/// Why creating a ring failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum CreateError {
    /// The capacity is not a power of two in the allowed range.
    InvalidCapacity {
        /// The capacity asked for.
        capacity: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The segment name (or path, or key) is not acceptable.
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A segment with this name already exists (creation is exclusive).
    AlreadyExists {
        /// The segment, as a user would name it.
        segment: String,
    },
    /// With [`RingOptions::replace_stale`](crate::RingOptions::replace_stale): something
    /// holds the name that is not provably a stale ring of ours (a live ring, a file or
    /// segment of someone else's, a ring another process is replacing at this moment), so it
    /// was left alone.
    Occupied {
        /// The segment, as a user would name it.
        segment: String,
        /// What is there, and what to do about it.
        reason: String,
    },
    /// A system limit is too small for this ring (`shmmax`, free space in `/dev/shm`, ...).
    ResourceLimit {
        /// The segment.
        segment: String,
        /// Which limit, and how to raise it.
        limit: String,
        /// The OS error, if there was one.
        source: Option<io::Error>,
    },
    /// The caller may not create the segment there.
    PermissionDenied {
        /// The segment.
        segment: String,
        /// The OS error.
        source: io::Error,
    },
    /// Any other failing system call.
    Os {
        /// The call that failed, e.g. `shm_open`.
        op: &'static str,
        /// The segment.
        segment: String,
        /// The OS error.
        source: io::Error,
    },
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CreateError::InvalidCapacity { capacity, reason } => write!(
                f,
                "cannot create a ring of capacity {capacity}: {reason}; use a power of two such as 65536"
            ),
            CreateError::InvalidName { name, reason } => {
                write!(f, "invalid segment name {name:?}: {reason}")
            }
            CreateError::AlreadyExists { segment } => write!(
                f,
                "{segment} already exists; remove it (`shmpipe rm`) or pick another name"
            ),
            CreateError::Occupied { segment, reason } => {
                write!(f, "{segment} already exists and was left alone: {reason}")
            }
            CreateError::ResourceLimit { segment, limit, .. } => {
                write!(f, "cannot create {segment}: {limit}")
            }
            CreateError::PermissionDenied { segment, source } => {
                write!(f, "not allowed to create {segment}: {source}")
            }
            CreateError::Os { op, segment, source } => {
                write!(f, "creating {segment} failed in {op}: {source}")
            }
        }
    }
}

impl std::error::Error for CreateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CreateError::ResourceLimit {
                source: Some(e), ..
            }
            | CreateError::PermissionDenied { source: e, .. }
            | CreateError::Os { source: e, .. } => Some(e),
            _ => None,
        }
    }
}

/// Why opening an existing ring failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenError {
    /// No segment by that name (and the caller did not ask to wait for one).
    NotFound {
        /// The segment.
        segment: String,
    },
    /// The name is not acceptable.
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The segment exists but its creator has not finished initialising it.
    NotInitialised {
        /// The segment.
        segment: String,
        /// How long we waited for the init word.
        waited: Duration,
    },
    /// The segment's header was never initialised and nobody has it open any more: its
    /// creator died first (the kernel's answer: no process holds its presence lock).
    Abandoned {
        /// The segment.
        segment: String,
    },
    /// The segment does not start with the shmpipe magic: it is something else.
    BadMagic {
        /// The segment.
        segment: String,
        /// The first eight bytes found.
        found: [u8; 8],
    },
    /// The segment was written by another layout version.
    VersionMismatch {
        /// The segment.
        segment: String,
        /// The version in the header.
        found: u32,
        /// The version this build reads.
        expected: u32,
    },
    /// The segment was made by a process of another endianness or pointer width.
    Incompatible {
        /// The segment.
        segment: String,
        /// What differs.
        reason: String,
    },
    /// The header's geometry is impossible (capacity, header size, flags).
    Corrupted {
        /// The segment.
        segment: String,
        /// What is wrong.
        reason: String,
    },
    /// The segment is shorter than its header says.
    Truncated {
        /// The segment.
        segment: String,
        /// Bytes the header requires.
        needed: u64,
        /// Bytes the segment has.
        actual: u64,
    },
    /// A memfd was not sealed against shrinking, so a peer could make us fault.
    NotSealed {
        /// What seals were found.
        seals: String,
    },
    /// The caller may not open the segment.
    PermissionDenied {
        /// The segment.
        segment: String,
        /// The OS error.
        source: io::Error,
    },
    /// Any other failing system call.
    Os {
        /// The call that failed.
        op: &'static str,
        /// The segment.
        segment: String,
        /// The OS error.
        source: io::Error,
    },
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenError::NotFound { segment } => write!(f, "{segment} does not exist; start the writer first, or wait for it"),
            OpenError::InvalidName { name, reason } => write!(f, "invalid segment name {name:?}: {reason}"),
            OpenError::NotInitialised { segment, waited } => write!(
                f,
                "{segment} exists but its creator, still running, did not finish initialising it within {:.1} s; try again with a longer timeout",
                waited.as_secs_f64()
            ),
            OpenError::Abandoned { segment } => write!(
                f,
                "{segment} was never initialised and its creator is gone (it crashed while creating it); `shmpipe write` replaces it, or remove it with `shmpipe rm --force`"
            ),
            OpenError::BadMagic { segment, found } if *found == crate::layout::MAGIC_V1 => write!(
                f,
                "{segment} is a ring of layout version 1 (shmring), which this build does not read (it reads version {}); use a matching version, or remove it with `shmpipe rm --force`",
                crate::layout::LAYOUT_VERSION
            ),
            OpenError::BadMagic { segment, found } => write!(
                f,
                "{segment} is not a shmpipe segment (it starts with {:?}, not \"SHMPIPE\\0\")",
                String::from_utf8_lossy(found)
            ),
            OpenError::VersionMismatch { segment, found, expected } => write!(
                f,
                "{segment} has layout version {found}, but this build reads version {expected}; use matching shmpipe versions"
            ),
            OpenError::Incompatible { segment, reason } => write!(f, "{segment} cannot be used here: {reason}"),
            OpenError::Corrupted { segment, reason } => write!(f, "{segment} has a corrupted header: {reason}"),
            OpenError::Truncated { segment, needed, actual } => write!(
                f,
                "{segment} is truncated: its header needs {needed} bytes but the segment has {actual}"
            ),
            OpenError::NotSealed { seals } => write!(
                f,
                "the memfd received is not sealed against shrinking and growing (seals: {seals}); refusing it because its sender could make us crash"
            ),
            OpenError::PermissionDenied { segment, source } => write!(
                f,
                "not allowed to open {segment}: {source}; its creator must give a wider mode"
            ),
            OpenError::Os { op, segment, source } => write!(f, "opening {segment} failed in {op}: {source}"),
        }
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenError::PermissionDenied { source, .. } | OpenError::Os { source, .. } => {
                Some(source)
            }
            _ => None,
        }
    }
}

/// Why a `Writer` or `Reader` could not be attached to a ring.
#[derive(Debug)]
#[non_exhaustive]
pub enum AttachError {
    /// Another live process (or handle) already holds the role.
    AlreadyAttached {
        /// The role asked for.
        role: Role,
        /// The pid that holds it.
        pid: u32,
    },
    /// The role was closed earlier; a ring is used once.
    Closed {
        /// The role asked for.
        role: Role,
    },
    /// The positions in the header are impossible.
    Corrupted {
        /// What is wrong.
        reason: String,
    },
    /// Another process kept the role in the middle of a claim or a close for seconds (it may
    /// be stopped); try again.
    Busy {
        /// The role asked for.
        role: Role,
    },
    /// A system call needed to hold the role failed (the role lock: see `docs/LAYOUT.md`).
    Os {
        /// The call.
        op: &'static str,
        /// The role asked for.
        role: Role,
        /// The error.
        source: io::Error,
    },
}

impl fmt::Display for AttachError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttachError::AlreadyAttached { role, pid } => write!(
                f,
                "this ring already has a {role} (pid {pid}); a ring has exactly one {role}"
            ),
            AttachError::Closed { role } => write!(
                f,
                "this ring's {role} has already closed it; create a new ring"
            ),
            AttachError::Corrupted { reason } => write!(f, "the ring is corrupted: {reason}"),
            AttachError::Busy { role } => write!(
                f,
                "another process has been claiming or closing this ring's {role} for seconds (is it stopped?); try again"
            ),
            AttachError::Os { op, role, source } => write!(
                f,
                "cannot hold this ring's {role} role: {op} failed: {source}"
            ),
        }
    }
}

impl std::error::Error for AttachError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AttachError::Os { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Why a send failed. Nothing was published when a send fails.
#[derive(Debug)]
#[non_exhaustive]
pub enum SendError {
    /// The ring has no room now (`try_send`, `try_reserve` only).
    Full,
    /// The ring had no room before the deadline (`send_timeout`, `reserve_timeout`).
    Timeout,
    /// The message can never fit in this ring.
    TooLarge {
        /// The message length.
        len: usize,
        /// The largest message this ring can carry.
        max: usize,
    },
    /// A grant was committed with more bytes than were reserved; nothing was committed.
    GrantExceeded {
        /// The length passed to `commit`.
        len: usize,
        /// The length reserved.
        reserved: usize,
    },
    /// The reader closed the ring (a pipe's `EPIPE`, without the `SIGPIPE`).
    Closed,
    /// The reader's process died; the pid is named.
    PeerDied {
        /// The reader's pid.
        pid: u32,
    },
    /// The shared positions are impossible: the peer is buggy or hostile.
    Corrupted {
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Full => f.write_str("the ring is full; retry once the reader has caught up"),
            SendError::Timeout => f.write_str("timed out waiting for room in the ring"),
            SendError::TooLarge { len, max } => write!(
                f,
                "a {len}-byte message does not fit in this ring, which carries at most {max} bytes per message; create a larger ring"
            ),
            SendError::GrantExceeded { len, reserved } => write!(
                f,
                "cannot commit {len} bytes of a {reserved}-byte reservation; nothing was committed"
            ),
            SendError::Closed => f.write_str("the reader has closed the ring"),
            SendError::PeerDied { pid } => write!(f, "the reader (pid {pid}) died"),
            SendError::Corrupted { reason } => write!(f, "the ring is corrupted: {reason}"),
        }
    }
}

impl std::error::Error for SendError {}

impl From<SendError> for io::Error {
    fn from(e: SendError) -> io::Error {
        let kind = match e {
            SendError::Full => io::ErrorKind::WouldBlock,
            SendError::Timeout => io::ErrorKind::TimedOut,
            SendError::TooLarge { .. } | SendError::GrantExceeded { .. } => {
                io::ErrorKind::InvalidInput
            }
            SendError::Closed => io::ErrorKind::BrokenPipe,
            SendError::PeerDied { .. } => io::ErrorKind::ConnectionAborted,
            SendError::Corrupted { .. } => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

/// Why a receive failed. End-of-stream is not an error: it is `Ok(None)`.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecvError {
    /// The ring is empty now (`try_recv` only).
    Empty,
    /// Nothing arrived before the deadline (`recv_timeout`).
    Timeout,
    /// The next record is larger than the buffer; it stays in the ring.
    BufferTooSmall {
        /// The record's length.
        needed: usize,
        /// The buffer's length.
        available: usize,
    },
    /// The next record is not the size of the value asked for; it stays in the ring.
    LengthMismatch {
        /// The size of the type.
        expected: usize,
        /// The record's length.
        found: usize,
    },
    /// The writer's process died after everything it committed was delivered.
    PeerDied {
        /// The writer's pid.
        pid: u32,
    },
    /// A position or record header in shared memory is impossible.
    Corrupted {
        /// What is wrong.
        reason: String,
    },
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Empty => f.write_str("the ring is empty; retry later"),
            RecvError::Timeout => f.write_str("timed out waiting for a message"),
            RecvError::BufferTooSmall { needed, available } => write!(
                f,
                "the next message is {needed} bytes but the buffer holds {available}; it is still in the ring"
            ),
            RecvError::LengthMismatch { expected, found } => write!(
                f,
                "the next message is {found} bytes, not the {expected} bytes of the value asked for; it is still in the ring"
            ),
            RecvError::PeerDied { pid } => write!(
                f,
                "the writer (pid {pid}) died; every message it committed was delivered"
            ),
            RecvError::Corrupted { reason } => write!(f, "the ring is corrupted: {reason}"),
        }
    }
}

impl std::error::Error for RecvError {}

impl From<RecvError> for io::Error {
    fn from(e: RecvError) -> io::Error {
        let kind = match e {
            RecvError::Empty => io::ErrorKind::WouldBlock,
            RecvError::Timeout => io::ErrorKind::TimedOut,
            RecvError::BufferTooSmall { .. } | RecvError::LengthMismatch { .. } => {
                io::ErrorKind::InvalidInput
            }
            RecvError::PeerDied { .. } => io::ErrorKind::ConnectionAborted,
            RecvError::Corrupted { .. } => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}
