//! The status codes of the C API and the mapping from every error of the Rust API to one.
//!
//! The codes are part of the ABI: `include/shmpipe.h` defines the same names with the same
//! values (checked by `tests/header.rs`), and a code, once published, never changes meaning.
//! The Rust error enums are `#[non_exhaustive]`: a variant added to the library later maps to
//! [`ERROR`] until it is given a code of its own.

use std::ffi::c_int;
use std::fmt;

use shmpipe::{AttachError, CreateError, OpenError, RecvError, SendError};

/// Success.
pub const OK: c_int = 0;
/// The writer closed the ring and every record was delivered (a receive only). Not a failure.
pub const END_OF_STREAM: c_int = 1;
/// Nothing to receive now (`try_` receives only).
pub const EMPTY: c_int = 2;
/// No room to send now (`try_` sends and reserves only).
pub const FULL: c_int = 3;
/// The deadline of a `_timeout` call (or of an open) passed first.
pub const TIMED_OUT: c_int = 4;
/// The next record is longer than the buffer; its length is in `*len` and it stays in the ring.
pub const BUFFER_TOO_SMALL: c_int = 5;
/// The other side closed the ring (a send after the reader closed: a pipe's `EPIPE`), or this
/// role was closed earlier and a ring is used once.
pub const CLOSED: c_int = 6;
/// The peer's process died. A reader gets it only after every record the writer committed.
pub const PEER_DIED: c_int = 7;
/// The message can never fit in this ring (longer than its largest message).
pub const TOO_LARGE: c_int = 8;
/// A position, record or header in shared memory is impossible: a buggy or hostile peer.
pub const CORRUPTED: c_int = 9;
/// A NULL pointer, a negative timeout other than -1, a commit longer than the reservation, or
/// any other argument the call cannot take.
pub const INVALID_ARGUMENT: c_int = 10;
/// The capacity is not a power of two in the allowed range.
pub const INVALID_CAPACITY: c_int = 11;
/// The ring's name is not acceptable (empty, contains '/', too long, not UTF-8, ...).
pub const INVALID_NAME: c_int = 12;
/// The handle holds a reservation or a lent record: commit, abandon or release it first.
pub const BUSY: c_int = 13;
/// Another live process (or handle) holds this role of the ring.
pub const ALREADY_ATTACHED: c_int = 14;
/// A segment of that name exists already (creation is exclusive).
pub const ALREADY_EXISTS: c_int = 15;
/// No ring of that name (and the open did not wait for one).
pub const NOT_FOUND: c_int = 16;
/// The segment exists but is not a shmpipe ring (wrong magic).
pub const NOT_A_RING: c_int = 17;
/// The ring was made by another layout version, endianness or pointer width, or a memfd is not
/// sealed: it cannot be used by this build.
pub const INCOMPATIBLE: c_int = 18;
/// The segment exists but its creator did not finish initialising it in time.
pub const NOT_INITIALISED: c_int = 19;
/// The caller may not create or open the segment.
pub const PERMISSION_DENIED: c_int = 20;
/// A system limit is too small (memory, `/dev/shm` space, `shmmax`, ...).
pub const RESOURCE_LIMIT: c_int = 21;
/// Another system call failed; the last-error message names it and the OS error.
pub const OS: c_int = 22;
/// A commit or release without a reservation or lent record.
pub const NOTHING_HELD: c_int = 23;
/// A bug in shmpipe: a panic was caught at the boundary. The handle may be unusable.
pub const INTERNAL: c_int = 24;
/// An error this version of the C API has no specific code for (a newer library error).
pub const ERROR: c_int = 25;

/// Every code with its C name and its `shmpipe_strerror` text, in value order.
pub const CODES: &[(c_int, &str, &str)] = &[
    (OK, "SHMPIPE_OK", "success"),
    (
        END_OF_STREAM,
        "SHMPIPE_END_OF_STREAM",
        "end of stream: the writer closed the ring and everything was delivered",
    ),
    (EMPTY, "SHMPIPE_EMPTY", "the ring is empty"),
    (FULL, "SHMPIPE_FULL", "the ring is full"),
    (TIMED_OUT, "SHMPIPE_TIMED_OUT", "timed out"),
    (
        BUFFER_TOO_SMALL,
        "SHMPIPE_BUFFER_TOO_SMALL",
        "the buffer is too small for the next message; it is still in the ring",
    ),
    (CLOSED, "SHMPIPE_CLOSED", "the ring is closed"),
    (PEER_DIED, "SHMPIPE_PEER_DIED", "the peer process died"),
    (
        TOO_LARGE,
        "SHMPIPE_TOO_LARGE",
        "the message is larger than the ring can carry",
    ),
    (CORRUPTED, "SHMPIPE_CORRUPTED", "the ring is corrupted"),
    (
        INVALID_ARGUMENT,
        "SHMPIPE_INVALID_ARGUMENT",
        "invalid argument",
    ),
    (
        INVALID_CAPACITY,
        "SHMPIPE_INVALID_CAPACITY",
        "invalid capacity: use a power of two",
    ),
    (INVALID_NAME, "SHMPIPE_INVALID_NAME", "invalid ring name"),
    (
        BUSY,
        "SHMPIPE_BUSY",
        "a reservation or a lent record is held on this handle",
    ),
    (
        ALREADY_ATTACHED,
        "SHMPIPE_ALREADY_ATTACHED",
        "another process holds this role of the ring",
    ),
    (
        ALREADY_EXISTS,
        "SHMPIPE_ALREADY_EXISTS",
        "a ring of that name already exists",
    ),
    (NOT_FOUND, "SHMPIPE_NOT_FOUND", "no ring of that name"),
    (
        NOT_A_RING,
        "SHMPIPE_NOT_A_RING",
        "the segment is not a shmpipe ring",
    ),
    (
        INCOMPATIBLE,
        "SHMPIPE_INCOMPATIBLE",
        "the ring cannot be used by this build (layout version, endianness or seals)",
    ),
    (
        NOT_INITIALISED,
        "SHMPIPE_NOT_INITIALISED",
        "the ring's creator did not finish initialising it",
    ),
    (
        PERMISSION_DENIED,
        "SHMPIPE_PERMISSION_DENIED",
        "permission denied",
    ),
    (
        RESOURCE_LIMIT,
        "SHMPIPE_RESOURCE_LIMIT",
        "a system limit is too small for this ring",
    ),
    (OS, "SHMPIPE_OS", "a system call failed"),
    (
        NOTHING_HELD,
        "SHMPIPE_NOTHING_HELD",
        "no reservation or lent record is held",
    ),
    (
        INTERNAL,
        "SHMPIPE_INTERNAL",
        "internal error in shmpipe (a bug: please report it)",
    ),
    (ERROR, "SHMPIPE_ERROR", "an error without a specific code"),
];

/// The `shmpipe_strerror` text of a code; unknown codes get a fixed text.
pub fn describe(code: c_int) -> &'static str {
    CODES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map_or("unknown shmpipe status code", |(_, _, text)| text)
}

/// A failure as the bindings report it: a code and the message of the error it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// One of the codes above, never [`OK`] or [`END_OF_STREAM`].
    pub code: c_int,
    /// A sentence a user can act on (the Rust error's `Display`).
    pub message: String,
}

impl Error {
    /// An error with this code and message.
    pub fn new(code: c_int, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<CreateError> for Error {
    fn from(e: CreateError) -> Self {
        let code = match &e {
            CreateError::InvalidCapacity { .. } => INVALID_CAPACITY,
            CreateError::InvalidName { .. } => INVALID_NAME,
            CreateError::AlreadyExists { .. } | CreateError::Occupied { .. } => ALREADY_EXISTS,
            CreateError::ResourceLimit { .. } => RESOURCE_LIMIT,
            CreateError::PermissionDenied { .. } => PERMISSION_DENIED,
            CreateError::Os { .. } => OS,
            _ => ERROR,
        };
        Error::new(code, e.to_string())
    }
}

impl From<OpenError> for Error {
    fn from(e: OpenError) -> Self {
        let code = match &e {
            OpenError::NotFound { .. } => NOT_FOUND,
            OpenError::InvalidName { .. } => INVALID_NAME,
            OpenError::NotInitialised { .. } | OpenError::Abandoned { .. } => NOT_INITIALISED,
            OpenError::BadMagic { .. } => NOT_A_RING,
            OpenError::VersionMismatch { .. }
            | OpenError::Incompatible { .. }
            | OpenError::NotSealed { .. } => INCOMPATIBLE,
            OpenError::Corrupted { .. } | OpenError::Truncated { .. } => CORRUPTED,
            OpenError::PermissionDenied { .. } => PERMISSION_DENIED,
            OpenError::Os { .. } => OS,
            _ => ERROR,
        };
        Error::new(code, e.to_string())
    }
}

impl From<AttachError> for Error {
    fn from(e: AttachError) -> Self {
        let code = match &e {
            AttachError::AlreadyAttached { .. } => ALREADY_ATTACHED,
            AttachError::Closed { .. } => CLOSED,
            AttachError::Corrupted { .. } => CORRUPTED,
            AttachError::Os { .. } => OS,
            _ => ERROR,
        };
        Error::new(code, e.to_string())
    }
}

impl From<SendError> for Error {
    fn from(e: SendError) -> Self {
        let code = match &e {
            SendError::Full => FULL,
            SendError::Timeout => TIMED_OUT,
            SendError::TooLarge { .. } => TOO_LARGE,
            SendError::GrantExceeded { .. } => INVALID_ARGUMENT,
            SendError::Closed => CLOSED,
            SendError::PeerDied { .. } => PEER_DIED,
            SendError::Corrupted { .. } => CORRUPTED,
            _ => ERROR,
        };
        Error::new(code, e.to_string())
    }
}

impl From<RecvError> for Error {
    fn from(e: RecvError) -> Self {
        let code = match &e {
            RecvError::Empty => EMPTY,
            RecvError::Timeout => TIMED_OUT,
            RecvError::BufferTooSmall { .. } => BUFFER_TOO_SMALL,
            // Only `recv_value`, which the bindings do not call, returns it.
            RecvError::LengthMismatch { .. } => INVALID_ARGUMENT,
            RecvError::PeerDied { .. } => PEER_DIED,
            RecvError::Corrupted { .. } => CORRUPTED,
            _ => ERROR,
        };
        Error::new(code, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_dense_distinct_and_described() {
        for (i, (code, name, text)) in CODES.iter().enumerate() {
            assert_eq!(*code as usize, i, "{name} is out of order");
            assert!(name.starts_with("SHMPIPE_"));
            assert_eq!(describe(*code), *text);
        }
        assert_eq!(describe(-1), "unknown shmpipe status code");
        assert_eq!(
            describe(CODES.len() as c_int),
            "unknown shmpipe status code"
        );
    }

    #[test]
    fn errors_map_to_their_codes() {
        assert_eq!(Error::from(SendError::Full).code, FULL);
        assert_eq!(Error::from(SendError::Closed).code, CLOSED);
        assert_eq!(Error::from(SendError::PeerDied { pid: 7 }).code, PEER_DIED);
        assert_eq!(
            Error::from(SendError::TooLarge { len: 9, max: 8 }).code,
            TOO_LARGE
        );
        assert_eq!(Error::from(RecvError::Empty).code, EMPTY);
        assert_eq!(Error::from(RecvError::Timeout).code, TIMED_OUT);
        let small = Error::from(RecvError::BufferTooSmall {
            needed: 9,
            available: 8,
        });
        assert_eq!(small.code, BUFFER_TOO_SMALL);
        assert!(small.message.contains("9 bytes"), "{}", small.message);
        assert_eq!(
            Error::from(OpenError::NotFound {
                segment: "x".into()
            })
            .code,
            NOT_FOUND
        );
        assert_eq!(
            Error::from(AttachError::Closed {
                role: shmpipe::Role::Reader
            })
            .code,
            CLOSED
        );
    }
}
