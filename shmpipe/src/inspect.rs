//! Raw inspection of a named segment (what `shmpipe stat` shows): every header field as it is
//! in shared memory, and each problem with it as a sentence, without refusing the segment the
//! way [`RingOptions::open`](crate::RingOptions::open) does. Nothing is written.

use crate::error::{OpenError, Role};
use crate::layout::{
    self, Backend, ENDIAN_MARK, HEADER_SIZE, INIT_READY, KNOWN_FLAGS, LAYOUT_VERSION, MAGIC,
    MAX_CAPACITY, MIN_CAPACITY,
};
use crate::memory::Memory;
use crate::ownership::{locks, Liveness, PRESENCE_BYTE};
use crate::ring::{RoleState, SideStatus};
use crate::segment::{self, Segment};
use crate::sync::Ordering;

/// What [`inspect`] found in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// The segment, as error messages name it.
    pub segment: String,
    /// The segment's size in bytes.
    pub segment_size: u64,
    /// The header's fields, or `None` when the segment is too short to hold a header.
    pub header: Option<RawHeader>,
    /// Every problem found, one sentence each; empty for a valid ring.
    pub problems: Vec<String>,
}

impl Inspection {
    /// Is the segment a ring this build can open (no problem found)?
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    /// Does the segment start with the shmpipe magic (`"SHMPIPE\0"`)? A segment that does not
    /// was made by something else (or by layout version 1, `"SHMRING\0"`), or never got a
    /// header.
    pub fn is_shmpipe(&self) -> bool {
        self.header.is_some_and(|h| h.magic == MAGIC)
    }

    /// Is the header blank (no magic, no init word, no creator): a segment whose creator has
    /// not written its header yet, or crashed before it did? Also true of a segment too short
    /// to hold a header.
    pub fn is_blank(&self) -> bool {
        match &self.header {
            None => true,
            Some(h) => h.magic == [0; 8] && h.init == 0 && h.creator_pid == 0,
        }
    }

    /// Is it a stale ring: a ring of this layout that no process has open any more (the
    /// kernel's answer), as a crash leaves it? What `RingOptions::replace_stale` replaces and
    /// `shmpipe rm` removes without `--force`.
    pub fn is_stale(&self) -> bool {
        self.header
            .is_some_and(|h| h.magic == MAGIC && h.version == LAYOUT_VERSION && !h.in_use)
    }

    /// Bytes committed by the writer and not yet released by the reader, when the positions
    /// make sense.
    pub fn used(&self) -> Option<u64> {
        let h = self.header.as_ref()?;
        h.writer.position.checked_sub(h.reader.position)
    }
}

/// A segment's header fields, exactly as found (see `docs/LAYOUT.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RawHeader {
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
    /// The creator's pid, as its own PID namespace numbers it.
    pub creator_pid: u32,
    /// Whether the ring's creator may still be at work: some process has the ring open (file
    /// locks; System V rings: the creator's pid and start time).
    pub creator_alive: bool,
    /// Whether any process has the ring open (the kernel's answer: the presence lock, see
    /// `docs/LAYOUT.md`; System V rings: the creator's or a holder's pid is alive).
    pub in_use: bool,
    /// The backend code as stored.
    pub backend_code: u32,
    /// The backend that code names, if it names one.
    pub backend: Option<Backend>,
    /// The writer's line.
    pub writer: SideStatus,
    /// The reader's line.
    pub reader: SideStatus,
}

impl RawHeader {
    /// Is the flag "keep the name once both sides attach" set?
    pub fn keeps_name(&self) -> bool {
        self.flags & layout::FLAG_KEEP_NAME != 0
    }
}

/// Maps a named segment and reads its header without validating it strictly: a corrupted,
/// half-initialised, foreign or truncated segment is described (with [`Inspection::problems`])
/// instead of refused. Fails only when the segment cannot be opened at all (it does not
/// exist, permission is denied, the name is invalid).
///
/// The values are read without synchronisation and may be stale by the time they are used.
///
/// ```no_run
/// let found = shmpipe::inspect(&shmpipe::Segment::posix("demo"))?;
/// if found.is_valid() {
///     let header = found.header.expect("a valid ring has a header");
///     println!("capacity {}, {} bytes in use", header.capacity, found.used().unwrap_or(0));
/// } else {
///     for problem in &found.problems {
///         println!("problem: {problem}");
///     }
/// }
/// # Ok::<(), shmpipe::OpenError>(())
/// ```
pub fn inspect(segment: &Segment) -> Result<Inspection, OpenError> {
    let description = segment.to_string();
    let mapping = match segment::open(segment, segment::Purpose::Inspect) {
        Ok(mapping) => mapping,
        Err(OpenError::NotInitialised { .. }) => {
            return Ok(short(
                description,
                0,
                "the segment is empty (0 bytes): its creator has not sized it yet, or crashed before it did".into(),
            ))
        }
        Err(OpenError::Truncated { actual, .. }) => {
            return Ok(short(
                description,
                actual,
                format!(
                    "the segment is {actual} bytes, too short for the {HEADER_SIZE}-byte header: it is not a shmpipe segment, or it was truncated"
                ),
            ))
        }
        Err(e) => return Err(e),
    };
    // SAFETY: `segment::open` maps the whole segment, at least HEADER_SIZE bytes, page-aligned.
    let header = unsafe { Memory::header_of(&mapping) };
    let id = &header.identity;
    let creator = header.creator();
    let liveness = match mapping.file() {
        Some(fd) => Liveness::Locks(fd, None),
        None => Liveness::Pids,
    };
    let backend_code = id.backend.load(Ordering::Relaxed);
    let raw = RawHeader {
        magic: id.magic.load(Ordering::Relaxed).to_ne_bytes(),
        version: id.version.load(Ordering::Relaxed),
        header_size: id.header_size.load(Ordering::Relaxed),
        capacity: id.capacity.load(Ordering::Relaxed),
        flags: id.flags.load(Ordering::Relaxed),
        endian: id.endian.load(Ordering::Relaxed),
        pointer_bits: id.pointer_bits.load(Ordering::Relaxed),
        // Relaxed: an inspection is a snapshot of words other processes may be changing, not a
        // synchronised read (the fields above are loaded before this word, so an Acquire here
        // would order nothing). A creator racing with `stat` is reported as still initialising,
        // or with the fields it had written so far, at worst; `Ring::open` is the synchronised
        // path (`Header::is_ready`).
        init: id.init.load(Ordering::Relaxed),
        creator_pid: creator as u32,
        creator_alive: creator != 0 && anyone_present(&liveness, &mapping),
        backend_code,
        backend: Backend::from_code(backend_code),
        writer: SideStatus::of(header, &liveness, Role::Writer),
        reader: SideStatus::of(header, &liveness, Role::Reader),
        in_use: anyone_present(&liveness, &mapping),
    };
    let segment_size = mapping.len() as u64;
    Ok(Inspection {
        problems: problems(&raw, segment_size),
        segment: description,
        segment_size,
        header: Some(raw),
    })
}

/// Does any process have the ring open? File locks where there is a file; System V: does any
/// process but this inspection have it attached (`shm_nattch`), as `replace_stale` judges it.
fn anyone_present(liveness: &Liveness<'_>, mapping: &segment::Mapping) -> bool {
    match liveness {
        Liveness::Locks(fd, _) => locks::holder(*fd, PRESENCE_BYTE).is_some(),
        _ => mapping.sysv_attachments().is_none_or(|n| n > 1),
    }
}

/// The inspection of a segment too short to hold a header.
fn short(segment: String, segment_size: u64, problem: String) -> Inspection {
    Inspection {
        segment,
        segment_size,
        header: None,
        problems: vec![problem],
    }
}

/// Everything wrong with a header, as sentences.
fn problems(h: &RawHeader, segment_size: u64) -> Vec<String> {
    let mut out = Vec::new();
    if h.magic != MAGIC {
        out.push(if h.magic == layout::MAGIC_V1 {
            format!(
                "this is a ring of layout version 1 (shmring), which this build does not read (it reads version {LAYOUT_VERSION})"
            )
        } else if h.magic == [0; 8] {
            "the header is blank (no magic number): its creator has not written it yet, or crashed before it did".to_owned()
        } else {
            format!(
                "the magic number is {:?}, not \"SHMPIPE\\0\": this is not a shmpipe segment",
                String::from_utf8_lossy(&h.magic)
            )
        });
        // Whatever follows is not a shmpipe header: listing its fields would be noise.
        return out;
    }
    if h.init != INIT_READY {
        let who = if h.creator_pid == 0 {
            "its creator".to_owned()
        } else if h.in_use {
            format!("its creator (pid {}, still at it)", h.creator_pid)
        } else {
            format!(
                "its creator (pid {}, gone: nobody has it open)",
                h.creator_pid
            )
        };
        out.push(format!(
            "the init word is {}, not {INIT_READY}: {who} has not finished initialising the header",
            h.init
        ));
    }
    if h.endian != ENDIAN_MARK {
        out.push(format!(
            "the endianness marker reads {:#010x}, expected {ENDIAN_MARK:#010x}",
            h.endian
        ));
    }
    if h.version != LAYOUT_VERSION {
        out.push(format!(
            "the layout version is {}, but this build reads version {LAYOUT_VERSION}",
            h.version
        ));
    }
    if h.pointer_bits != usize::BITS {
        out.push(format!(
            "it was created by a {}-bit process and this one is {}-bit",
            h.pointer_bits,
            usize::BITS
        ));
    }
    if h.header_size as usize != HEADER_SIZE {
        out.push(format!(
            "the header size is {}, expected {HEADER_SIZE}",
            h.header_size
        ));
    }
    let capacity_ok =
        h.capacity.is_power_of_two() && (MIN_CAPACITY..=MAX_CAPACITY).contains(&h.capacity);
    if !capacity_ok {
        out.push(format!(
            "the capacity {} is not a power of two between {MIN_CAPACITY} and {MAX_CAPACITY}",
            h.capacity
        ));
    } else if segment_size < HEADER_SIZE as u64 + h.capacity {
        out.push(format!(
            "the segment is truncated: the header needs {} bytes but the segment has {segment_size}",
            HEADER_SIZE as u64 + h.capacity
        ));
    }
    if h.flags & !KNOWN_FLAGS != 0 {
        out.push(format!(
            "unknown flags {:#x} are set",
            h.flags & !KNOWN_FLAGS
        ));
    }
    if h.backend.is_none() {
        out.push(format!("the backend code {} is unknown", h.backend_code));
    }
    let (write, read) = (h.writer.position, h.reader.position);
    if write % 8 != 0 || read % 8 != 0 {
        out.push(format!(
            "the write position {write} and read position {read} must both be multiples of 8"
        ));
    }
    if read > write {
        out.push(format!(
            "the read position {read} is ahead of the write position {write}"
        ));
    } else if capacity_ok && write - read > h.capacity {
        out.push(format!(
            "the write position {write} is more than the capacity {} ahead of the read position {read}",
            h.capacity
        ));
    }
    for (role, side) in [("writer", &h.writer), ("reader", &h.reader)] {
        if let RoleState::Invalid(code) = side.state {
            out.push(format!(
                "the {role}'s state word is {code}, which is not a state"
            ));
        }
    }
    out
}
