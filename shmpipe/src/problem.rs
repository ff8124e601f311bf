//! What can be wrong with a segment's header and a ring's positions: one typed list
//! ([`HeaderProblem`], whose `Display` is the sentence) written once, with two consumers.
//! Opening a ring stops at the first problem ([`first_problem`], mapped onto [`OpenError`]);
//! [`inspect`](crate::inspect) (`shmpipe stat`) lists them all ([`header_problems`]). The
//! positions a handle starts from are checked by the same [`position_problem`] that `inspect`
//! uses.
//!
//! Nothing here is trusted: every word is loaded once ([`Identity::load`]) and then judged.

use std::fmt;

use crate::error::OpenError;
use crate::layout::{
    Backend, Geometry, Header, Role, ENDIAN_MARK, HEADER_SIZE, INIT_READY, KNOWN_FLAGS,
    LAYOUT_VERSION, MAGIC, MAGIC_V1, MAX_CAPACITY, MAX_POSITION, MIN_CAPACITY,
};
use crate::sync::Ordering;

/// One thing wrong with a segment's header or with a ring's positions.
///
/// The `Display` of each is the sentence `shmpipe stat` prints; [`inspect`](crate::inspect)
/// returns them in [`Inspection::problems`](crate::Inspection::problems).
///
/// ```
/// use shmpipe::HeaderProblem;
/// let problem = HeaderProblem::Capacity { found: 1000 };
/// assert_eq!(
///     problem.to_string(),
///     "the capacity 1000 is not a power of two between 16 and 1099511627776"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderProblem {
    /// The segment is shorter than a header.
    TooShort {
        /// Its size in bytes.
        size: u64,
    },
    /// The magic is layout version 1's (`"SHMRING\0"`): a ring this build does not read.
    LayoutV1,
    /// The magic is all zeroes: a header not written yet (or never).
    Blank,
    /// The magic is something else: not a shmpipe segment.
    ForeignMagic {
        /// The first eight bytes.
        found: [u8; 8],
    },
    /// The init word is not set: the creator has not finished (or died before it did).
    NotInitialised {
        /// The init word.
        init: u32,
        /// The creator's pid as recorded (0: none recorded).
        creator_pid: u32,
        /// Whether some process has the ring open (the creator may still be at work).
        in_use: bool,
    },
    /// The endianness marker is not this machine's.
    Endianness {
        /// The marker as read.
        found: u32,
    },
    /// Another layout version.
    Version {
        /// The version recorded.
        found: u32,
    },
    /// Created by a process of another pointer width.
    PointerWidth {
        /// The creator's pointer width in bits.
        bits: u32,
    },
    /// The header size is not this layout's.
    HeaderSize {
        /// The size recorded.
        found: u32,
    },
    /// The capacity is not a power of two in range.
    Capacity {
        /// The capacity recorded.
        found: u64,
    },
    /// The segment is shorter than the header plus the capacity.
    Truncated {
        /// Bytes the header says the segment holds.
        needed: u64,
        /// Bytes it has.
        actual: u64,
    },
    /// Flags this build does not know are set.
    UnknownFlags {
        /// The unknown bits.
        flags: u32,
    },
    /// The backend code names no backend.
    UnknownBackend {
        /// The code recorded.
        code: u32,
    },
    /// A position is not a multiple of 8.
    Misaligned {
        /// The write position.
        write: u64,
        /// The read position.
        read: u64,
    },
    /// The reader is ahead of the writer.
    ReadAhead {
        /// The write position.
        write: u64,
        /// The read position.
        read: u64,
    },
    /// More than the capacity is in use.
    Overfull {
        /// The write position.
        write: u64,
        /// The read position.
        read: u64,
        /// The capacity.
        capacity: u64,
    },
    /// The write position is beyond the highest a ring reaches.
    BeyondEnd {
        /// The write position.
        write: u64,
    },
    /// A role's state word holds no state.
    InvalidState {
        /// Whose state word.
        role: Role,
        /// The value found.
        code: u32,
    },
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderProblem::TooShort { size: 0 } => f.write_str(
                "the segment is empty (0 bytes): its creator has not sized it yet, or crashed before it did",
            ),
            HeaderProblem::TooShort { size } => write!(
                f,
                "the segment is {size} bytes, too short for the {HEADER_SIZE}-byte header: it is not a shmpipe segment, or it was truncated"
            ),
            HeaderProblem::LayoutV1 => write!(
                f,
                "this is a ring of layout version 1 (shmring), which this build does not read (it reads version {LAYOUT_VERSION})"
            ),
            HeaderProblem::Blank => f.write_str(
                "the header is blank (no magic number): its creator has not written it yet, or crashed before it did",
            ),
            HeaderProblem::ForeignMagic { found } => write!(
                f,
                "the magic number is {:?}, not \"SHMPIPE\\0\": this is not a shmpipe segment",
                String::from_utf8_lossy(found)
            ),
            HeaderProblem::NotInitialised {
                init,
                creator_pid,
                in_use,
            } => {
                let who = match (creator_pid, in_use) {
                    (0, _) => "its creator".to_owned(),
                    (pid, true) => format!("its creator (pid {pid}, still at it)"),
                    (pid, false) => format!("its creator (pid {pid}, gone: nobody has it open)"),
                };
                write!(
                    f,
                    "the init word is {init}, not {INIT_READY}: {who} has not finished initialising the header"
                )
            }
            HeaderProblem::Endianness { found } => write!(
                f,
                "the endianness marker reads {found:#010x}, expected {ENDIAN_MARK:#010x} (created on a machine of the other byte order?)"
            ),
            HeaderProblem::Version { found } => write!(
                f,
                "the layout version is {found}, but this build reads version {LAYOUT_VERSION}"
            ),
            HeaderProblem::PointerWidth { bits } => write!(
                f,
                "it was created by a {bits}-bit process and this one is {}-bit",
                usize::BITS
            ),
            HeaderProblem::HeaderSize { found } => {
                write!(f, "the header size is {found}, expected {HEADER_SIZE}")
            }
            HeaderProblem::Capacity { found } => write!(
                f,
                "the capacity {found} is not a power of two between {MIN_CAPACITY} and {MAX_CAPACITY}"
            ),
            HeaderProblem::Truncated { needed, actual } => write!(
                f,
                "the segment is truncated: the header needs {needed} bytes but the segment has {actual}"
            ),
            HeaderProblem::UnknownFlags { flags } => write!(f, "unknown flags {flags:#x} are set"),
            HeaderProblem::UnknownBackend { code } => {
                write!(f, "unknown backend code {code}")
            }
            HeaderProblem::Misaligned { write, read } => write!(
                f,
                "the write position {write} and read position {read} must both be multiples of 8"
            ),
            HeaderProblem::ReadAhead { write, read } => write!(
                f,
                "the read position {read} is ahead of the write position {write}"
            ),
            HeaderProblem::Overfull {
                write,
                read,
                capacity,
            } => write!(
                f,
                "the write position {write} is more than the capacity {capacity} ahead of the read position {read}"
            ),
            HeaderProblem::BeyondEnd { write } => write!(
                f,
                "the write position {write} is beyond the highest a ring reaches ({MAX_POSITION})"
            ),
            HeaderProblem::InvalidState { role, code } => {
                write!(f, "the {role}'s state word is {code}, which is not a state")
            }
        }
    }
}

/// The identity words of a header, each loaded once (relaxed: the caller orders the loads
/// after the init word where it matters, see `Header::is_ready`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Identity {
    pub magic: [u8; 8],
    pub version: u32,
    pub header_size: u32,
    pub capacity: u64,
    pub flags: u32,
    pub endian: u32,
    pub init: u32,
    pub pointer_bits: u32,
    pub backend_code: u32,
}

impl Identity {
    /// Loads every identity word of `header` once.
    pub(crate) fn load(header: &Header) -> Identity {
        let id = &header.identity;
        Identity {
            magic: id.magic.load(Ordering::Relaxed).to_ne_bytes(),
            version: id.version.load(Ordering::Relaxed),
            header_size: id.header_size.load(Ordering::Relaxed),
            capacity: id.capacity.load(Ordering::Relaxed),
            flags: id.flags.load(Ordering::Relaxed),
            endian: id.endian.load(Ordering::Relaxed),
            init: id.init.load(Ordering::Relaxed),
            pointer_bits: id.pointer_bits.load(Ordering::Relaxed),
            backend_code: id.backend.load(Ordering::Relaxed),
        }
    }

    /// Is the capacity a power of two in range?
    pub(crate) fn capacity_ok(&self) -> bool {
        self.capacity.is_power_of_two() && (MIN_CAPACITY..=MAX_CAPACITY).contains(&self.capacity)
    }
}

/// Every problem with an identity line in a segment of `segment_len` bytes, in the order
/// `open` judges them. A wrong magic ends the list (whatever follows is not a shmpipe header).
/// `creator` is the creator's pid and whether anyone has the ring open, for the sentence
/// about an unfinished header.
pub(crate) fn header_problems(
    id: &Identity,
    segment_len: u64,
    creator: (u32, bool),
) -> Vec<HeaderProblem> {
    let mut out = Vec::new();
    if id.magic != MAGIC {
        out.push(if id.magic == MAGIC_V1 {
            HeaderProblem::LayoutV1
        } else if id.magic == [0; 8] {
            HeaderProblem::Blank
        } else {
            HeaderProblem::ForeignMagic { found: id.magic }
        });
        return out;
    }
    if id.init != INIT_READY {
        out.push(HeaderProblem::NotInitialised {
            init: id.init,
            creator_pid: creator.0,
            in_use: creator.1,
        });
    }
    if id.endian != ENDIAN_MARK {
        out.push(HeaderProblem::Endianness { found: id.endian });
    }
    if id.version != LAYOUT_VERSION {
        out.push(HeaderProblem::Version { found: id.version });
    }
    if id.pointer_bits != usize::BITS {
        out.push(HeaderProblem::PointerWidth {
            bits: id.pointer_bits,
        });
    }
    if id.header_size as usize != HEADER_SIZE {
        out.push(HeaderProblem::HeaderSize {
            found: id.header_size,
        });
    }
    if !id.capacity_ok() {
        out.push(HeaderProblem::Capacity { found: id.capacity });
    } else if segment_len < HEADER_SIZE as u64 + id.capacity {
        out.push(HeaderProblem::Truncated {
            needed: HEADER_SIZE as u64 + id.capacity,
            actual: segment_len,
        });
    }
    if id.flags & !KNOWN_FLAGS != 0 {
        out.push(HeaderProblem::UnknownFlags {
            flags: id.flags & !KNOWN_FLAGS,
        });
    }
    if Backend::from_code(id.backend_code).is_none() {
        out.push(HeaderProblem::UnknownBackend {
            code: id.backend_code,
        });
    }
    out
}

/// The first problem `open` stops at, if any (the init word is `open`'s to wait for, so it
/// is not judged here).
pub(crate) fn first_problem(id: &Identity, segment_len: u64) -> Option<HeaderProblem> {
    header_problems(
        &Identity {
            init: INIT_READY,
            ..*id
        },
        segment_len,
        (0, false),
    )
    .into_iter()
    .next()
}

/// Checks the identity line of a header whose init word is set, against a segment of
/// `segment_len` bytes, and returns the geometry: what `open` does. Nothing is trusted.
pub(crate) fn validate(header: &Header, segment_len: u64) -> Result<Geometry, HeaderProblem> {
    let id = Identity::load(header);
    if let Some(problem) = first_problem(&id, segment_len) {
        return Err(problem);
    }
    Ok(Geometry {
        capacity: id.capacity,
        flags: id.flags,
        backend: Backend::from_code(id.backend_code).ok_or(HeaderProblem::UnknownBackend {
            code: id.backend_code,
        })?,
    })
}

/// What is wrong with a pair of positions of a ring of `capacity` bytes (valid or not), if
/// anything: both multiples of 8, read not ahead of write, at most `capacity` bytes in use,
/// write not beyond [`MAX_POSITION`].
pub(crate) fn position_problem(write: u64, read: u64, capacity: u64) -> Option<HeaderProblem> {
    if write % 8 != 0 || read % 8 != 0 {
        Some(HeaderProblem::Misaligned { write, read })
    } else if read > write {
        Some(HeaderProblem::ReadAhead { write, read })
    } else if write - read > capacity {
        Some(HeaderProblem::Overfull {
            write,
            read,
            capacity,
        })
    } else if write > MAX_POSITION {
        Some(HeaderProblem::BeyondEnd { write })
    } else {
        None
    }
}

/// A header problem as the error `open` reports for `segment`.
pub(crate) fn open_error(problem: HeaderProblem, segment: String) -> OpenError {
    match problem {
        HeaderProblem::LayoutV1 => OpenError::BadMagic {
            segment,
            found: MAGIC_V1,
        },
        HeaderProblem::Blank => OpenError::BadMagic {
            segment,
            found: [0; 8],
        },
        HeaderProblem::ForeignMagic { found } => OpenError::BadMagic { segment, found },
        HeaderProblem::Version { found } => OpenError::VersionMismatch {
            segment,
            found,
            expected: LAYOUT_VERSION,
        },
        HeaderProblem::Truncated { needed, actual } => OpenError::Truncated {
            segment,
            needed,
            actual,
        },
        problem @ (HeaderProblem::Endianness { .. } | HeaderProblem::PointerWidth { .. }) => {
            OpenError::Incompatible {
                segment,
                reason: problem.to_string(),
            }
        }
        problem => OpenError::Corrupted {
            segment,
            reason: problem.to_string(),
        },
    }
}
