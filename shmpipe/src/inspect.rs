//! Raw inspection of a named segment (what `shmpipe stat` shows): every header field as it is
//! in shared memory, and each problem with it as a sentence, without refusing the segment the
//! way [`RingOptions::open`](crate::RingOptions::open) does. Nothing is written.

use crate::error::OpenError;
use crate::layout::Role;
use crate::layout::{LAYOUT_VERSION, MAGIC};
use crate::lock_table::PRESENCE_BYTE;
use crate::memory::Memory;
use crate::os::Pids;
use crate::ownership::Liveness;
use crate::problem::{header_problems, position_problem, HeaderProblem, Identity};
use crate::segment::locks::{self, FdLocks};
use crate::segment::{self, Segment};
use crate::status::{RoleState, Status};

/// What [`inspect`] found in a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Inspection {
    /// The segment, as error messages name it.
    pub segment: String,
    /// The segment's size in bytes.
    pub segment_size: u64,
    /// The header's fields, or `None` when the segment is too short to hold a header.
    pub header: Option<Status>,
    /// Every problem found (each one's `Display` is a sentence); empty for a valid ring.
    pub problems: Vec<HeaderProblem>,
}

impl Inspection {
    /// Is the segment a ring this build can open (no problem found)?
    ///
    /// ```
    /// use shmpipe::{RingOptions, Segment};
    /// let name = format!("doc-inspect-{}", std::process::id());
    /// let ring = RingOptions::new().keep_name(true).create(&Segment::posix(&name))?;
    /// let found = shmpipe::inspect(&Segment::posix(&name))?;
    /// assert!(found.is_valid(), "{:?}", found.problems);
    /// shmpipe::remove(&Segment::posix(&name))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_valid(&self) -> bool {
        self.problems.is_empty()
    }

    /// Does the segment start with the shmpipe magic (`"SHMPIPE\0"`)? A segment that does not
    /// was made by something else (or by layout version 1, `"SHMRING\0"`), or never got a
    /// header.
    ///
    /// ```
    /// use shmpipe::{RingOptions, Segment};
    /// let name = format!("doc-inspect-{}", std::process::id());
    /// let ring = RingOptions::new().keep_name(true).create(&Segment::posix(&name))?;
    /// let found = shmpipe::inspect(&Segment::posix(&name))?;
    /// assert!(found.is_shmpipe());
    /// shmpipe::remove(&Segment::posix(&name))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_shmpipe(&self) -> bool {
        self.header.is_some_and(|h| h.magic == MAGIC)
    }

    /// Is the header blank (no magic, no init word, no creator): a segment whose creator has
    /// not written its header yet, or crashed before it did? Also true of a segment too short
    /// to hold a header.
    ///
    /// ```
    /// use shmpipe::{RingOptions, Segment};
    /// let name = format!("doc-inspect-{}", std::process::id());
    /// let ring = RingOptions::new().keep_name(true).create(&Segment::posix(&name))?;
    /// let found = shmpipe::inspect(&Segment::posix(&name))?;
    /// assert!(!found.is_blank());
    /// shmpipe::remove(&Segment::posix(&name))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_blank(&self) -> bool {
        match &self.header {
            None => true,
            Some(h) => h.magic == [0; 8] && h.init == 0 && h.creator_pid == 0,
        }
    }

    /// Is it a stale ring: a ring of this layout that no process has open any more (the
    /// kernel's answer), as a crash leaves it? What `RingOptions::replace_stale` replaces and
    /// `shmpipe rm` removes without `--force`.
    ///
    /// ```
    /// use shmpipe::{RingOptions, Segment};
    /// let name = format!("doc-inspect-{}", std::process::id());
    /// let ring = RingOptions::new().keep_name(true).create(&Segment::posix(&name))?;
    /// let found = shmpipe::inspect(&Segment::posix(&name))?;
    /// assert!(!found.is_stale()); // this process has it open
    /// shmpipe::remove(&Segment::posix(&name))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_stale(&self) -> bool {
        self.header
            .is_some_and(|h| h.magic == MAGIC && h.version == LAYOUT_VERSION && !h.in_use)
    }

    /// Bytes committed by the writer and not yet released by the reader, when the positions
    /// make sense.
    ///
    /// ```
    /// use shmpipe::{RingOptions, Segment};
    /// let name = format!("doc-inspect-{}", std::process::id());
    /// let ring = RingOptions::new().keep_name(true).create(&Segment::posix(&name))?;
    /// let found = shmpipe::inspect(&Segment::posix(&name))?;
    /// assert_eq!(found.used(), Some(0));
    /// shmpipe::remove(&Segment::posix(&name))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn used(&self) -> Option<u64> {
        let h = self.header.as_ref()?;
        h.writer.position.checked_sub(h.reader.position)
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
        Err(OpenError::NotInitialised { .. }) => return Ok(short(description, 0)),
        Err(OpenError::Truncated { actual, .. }) => return Ok(short(description, actual)),
        Err(e) => return Err(e),
    };
    // SAFETY: `segment::open` maps the whole segment, at least HEADER_SIZE bytes, page-aligned.
    let header = unsafe { Memory::header_of(&mapping) };
    let creator = header.creator();
    let liveness = match mapping.file() {
        Some(fd) => Liveness::Locks(FdLocks(fd, None)),
        None => Liveness::Pids(Pids),
    };
    // Relaxed loads: an inspection is a snapshot of words other processes may be changing, not
    // a synchronised read. A creator racing with `stat` is reported as still initialising, or
    // with the fields it had written so far, at worst; `Ring::open` is the synchronised path
    // (`Header::is_ready`).
    let in_use = anyone_present(&liveness, &mapping);
    let raw = Status::read(header, &liveness, creator != 0 && in_use, in_use);
    // The problems of exactly the words shown: one load of each, not a second snapshot.
    let words = raw.identity();
    let segment_size = mapping.len() as u64;
    Ok(Inspection {
        problems: problems(&words, &raw, segment_size),
        segment: description,
        segment_size,
        header: Some(raw),
    })
}

/// Does any process have the ring open? File locks where there is a file; System V: does any
/// process but this inspection have it attached (`shm_nattch`), as `replace_stale` judges it.
fn anyone_present(liveness: &Liveness<'_>, mapping: &segment::Mapping) -> bool {
    match liveness {
        Liveness::Locks(FdLocks(fd, _)) => locks::holder(*fd, PRESENCE_BYTE).is_some(),
        _ => mapping.sysv_attachments().is_none_or(|n| n > 1),
    }
}

/// The inspection of a segment too short to hold a header.
fn short(segment: String, segment_size: u64) -> Inspection {
    Inspection {
        segment,
        segment_size,
        header: None,
        problems: vec![HeaderProblem::TooShort { size: segment_size }],
    }
}

/// Everything wrong with a header: the identity line (as `open` judges it, but listing every
/// problem), then the positions and the state words.
fn problems(words: &Identity, h: &Status, segment_size: u64) -> Vec<HeaderProblem> {
    let mut out = header_problems(words, segment_size, (h.creator_pid, h.in_use));
    if h.magic != MAGIC {
        // Whatever follows is not a shmpipe header: listing its fields would be noise.
        return out;
    }
    let capacity = if words.capacity_ok() {
        h.capacity
    } else {
        u64::MAX
    };
    out.extend(position_problem(
        h.writer.position,
        h.reader.position,
        capacity,
    ));
    for (role, side) in [(Role::Writer, &h.writer), (Role::Reader, &h.reader)] {
        if let RoleState::Invalid(code) = side.state {
            out.push(HeaderProblem::InvalidState { role, code });
        }
    }
    out
}
