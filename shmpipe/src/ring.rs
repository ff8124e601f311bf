//! `Ring`: a ring's memory, created or opened through one of the backends, from which the one
//! [`Writer`] and the one [`Reader`] are attached; and [`RingOptions`], its builder.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{AttachError, CreateError, OpenError, Role};
use crate::layout::{self, Backend, Geometry, FLAG_KEEP_NAME};
use crate::memory::Memory;
use crate::protocol::{self, ReaderState, WriterState};
use crate::reader::Reader;
use crate::sync::Ordering;
use crate::wait::DEFAULT_SPIN;
use crate::writer::Writer;

/// How to create or open a ring: capacity, permissions, name handling, timeouts.
///
/// ```
/// use shmpipe::RingOptions;
/// let ring = RingOptions::new().capacity(4096).heap()?;
/// assert_eq!(ring.capacity(), 4096);
/// # Ok::<(), shmpipe::CreateError>(())
/// ```
#[derive(Debug, Clone)]
pub struct RingOptions {
    pub(crate) capacity: u64,
    pub(crate) mode: u32,
    pub(crate) keep_name: bool,
    pub(crate) timeout: Option<Duration>,
    pub(crate) wait_for_creation: bool,
    pub(crate) spin: Duration,
    pub(crate) replace_stale: bool,
}

impl Default for RingOptions {
    fn default() -> Self {
        RingOptions {
            capacity: 64 * 1024,
            mode: 0o600,
            keep_name: false,
            timeout: Some(Duration::from_secs(1)),
            wait_for_creation: false,
            spin: DEFAULT_SPIN,
            replace_stale: false,
        }
    }
}

impl RingOptions {
    /// The defaults: 64 KiB, mode 0600, name removed once both sides attach, a one-second wait
    /// for a segment that is still being initialised, 50 µs of spinning before sleeping.
    pub fn new() -> Self {
        Self::default()
    }

    /// The data capacity in bytes: a power of two from 16 bytes to 1 TiB. The largest message
    /// is the capacity minus 8.
    pub fn capacity(mut self, bytes: u64) -> Self {
        self.capacity = bytes;
        self
    }

    /// The permission bits of a created segment (default `0o600`: only this user). Applied
    /// exactly, whatever the umask.
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Keep the segment's name after both sides have attached (default: remove it, so a crash
    /// leaves nothing behind). Recorded in the header, so it binds the opener too.
    pub fn keep_name(mut self, keep: bool) -> Self {
        self.keep_name = keep;
        self
    }

    /// How long `open` waits for a segment that exists but is still being initialised (and,
    /// with [`wait_for_creation`](Self::wait_for_creation), for one that does not exist yet).
    /// `None` waits forever. Default: one second.
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Make `open` wait (up to the timeout) for a segment that does not exist yet, as opening
    /// a FIFO waits for its writer. Default: `false`, a missing segment is `NotFound` at once.
    pub fn wait_for_creation(mut self, wait: bool) -> Self {
        self.wait_for_creation = wait;
        self
    }

    /// Let [`create`](Self::create) replace a stale ring that holds the name (default:
    /// `false`, an existing name is `AlreadyExists`): a ring of this layout that no process
    /// has open any more, as a crash leaves it, so a program restarts cleanly after a crash.
    /// Whether anyone has it open is the kernel's answer (file locks; System V: the attach
    /// count), never a guess from time. Anything else holding the name (a live ring, a file or
    /// segment that is not a ring, a ring of layout version 1, a symbolic link) is left alone
    /// and reported as [`CreateError::Occupied`], naming what is there.
    ///
    /// The replacement is atomic: the new ring is built under a temporary name and renamed
    /// over the stale one only while the stale one is locked against other replacers and
    /// openers, so of two processes replacing the same stale ring exactly one wins and the
    /// other gets `Occupied` (or finds the winner's live ring). [`Ring::replaced`] tells
    /// whether (and what) a create replaced.
    ///
    /// ```no_run
    /// use shmpipe::{RingOptions, Segment};
    /// let ring = RingOptions::new()
    ///     .replace_stale(true)
    ///     .create(&Segment::posix("jobs"))?;
    /// if let Some(what) = ring.replaced() {
    ///     eprintln!("replaced {what}");
    /// }
    /// # Ok::<(), shmpipe::CreateError>(())
    /// ```
    pub fn replace_stale(mut self, replace: bool) -> Self {
        self.replace_stale = replace;
        self
    }

    /// How long a blocked handle spins before it sleeps on the futex (default 50 µs).
    /// Zero sleeps at once; longer trades CPU for latency.
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    fn geometry(&self, backend: Backend) -> Result<Geometry, CreateError> {
        layout::check_capacity(self.capacity).map_err(|reason| CreateError::InvalidCapacity {
            capacity: self.capacity,
            reason,
        })?;
        Ok(Geometry {
            capacity: self.capacity,
            flags: if self.keep_name { FLAG_KEEP_NAME } else { 0 },
            backend,
        })
    }

    fn finish(&self, memory: Memory, description: String) -> Ring {
        memory.header().initialise(
            memory.geometry,
            creator_word(memory.liveness().tracks_pids()),
        );
        Ring {
            memory: Arc::new(memory),
            description,
            spin: self.spin,
            replaced: None,
        }
    }

    /// A ring on the heap of this process, for threads (no name, no system calls beyond the
    /// allocation). [`channel`](crate::channel) is the short form.
    pub fn heap(&self) -> Result<Ring, CreateError> {
        let geometry = self.geometry(Backend::Heap)?;
        let memory = Memory::heap(geometry).ok_or_else(|| CreateError::ResourceLimit {
            segment: "a heap ring".into(),
            limit: format!(
                "could not allocate {} bytes of memory",
                self.capacity + layout::HEADER_SIZE as u64
            ),
            source: None,
        })?;
        Ok(self.finish(memory, "a heap ring".into()))
    }
}

/// A ring buffer's memory, shared between processes or threads. Attach the one [`Writer`] with
/// [`writer`](Ring::writer) and the one [`Reader`] with [`reader`](Ring::reader); the handles
/// keep the memory alive, so the `Ring` itself may be dropped after that.
///
/// ```
/// let ring = shmpipe::RingOptions::new().capacity(1024).heap()?;
/// let mut writer = ring.writer()?;
/// let mut reader = ring.reader()?;
/// writer.send(b"hello")?;
/// let mut buf = [0u8; 16];
/// assert_eq!(reader.recv(&mut buf)?, Some(5));
/// assert_eq!(&buf[..5], b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ring {
    pub(crate) memory: Arc<Memory>,
    pub(crate) description: String,
    pub(crate) spin: Duration,
    /// What a create with `replace_stale` replaced, if anything.
    pub(crate) replaced: Option<String>,
}

/// The creator word a new header records: pid and PID namespace; where roles are tracked by
/// pid (System V), pid and start time instead.
fn creator_word(pid_tracked: bool) -> u64 {
    #[cfg(not(loom))]
    if pid_tracked {
        return crate::process::current().0;
    }
    let _ = pid_tracked;
    crate::ownership::holder_word()
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("segment", &self.description)
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl Ring {
    /// The data capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.memory.geometry.capacity
    }

    /// The largest message one send can carry (capacity minus the 8-byte record header).
    pub fn max_message(&self) -> usize {
        protocol::max_message(self.capacity())
    }

    /// The backend the segment was created with.
    pub fn backend(&self) -> Backend {
        self.memory.backend()
    }

    /// The segment, as error messages name it.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Attaches the ring's one writer. Fails if a live writer holds the role (naming the pid
    /// it recorded) or the writer already closed the ring; a role whose holder died is taken
    /// over. Who is alive is the kernel's answer (see [`Writer`] on `fork`), not a pid's.
    pub fn writer(&self) -> Result<Writer, AttachError> {
        let token = self
            .memory
            .liveness()
            .claim(self.memory.header(), Role::Writer)?;
        let ring = self.memory.ring();
        match WriterState::attach(&ring) {
            Ok(state) => {
                self.after_attach(Role::Writer);
                Ok(Writer::new(self.memory.clone(), state, self.spin, token))
            }
            Err(e) => {
                crate::ownership::unclaim_word(&ring.header.writer);
                Err(e)
            }
        }
    }

    /// Attaches the ring's one reader. Fails like [`writer`](Ring::writer).
    pub fn reader(&self) -> Result<Reader, AttachError> {
        let token = self
            .memory
            .liveness()
            .claim(self.memory.header(), Role::Reader)?;
        let ring = self.memory.ring();
        match ReaderState::attach(&ring) {
            Ok(state) => {
                self.after_attach(Role::Reader);
                Ok(Reader::new(self.memory.clone(), state, self.spin, token))
            }
            Err(e) => {
                crate::ownership::unclaim_word(&ring.header.reader);
                Err(e)
            }
        }
    }

    /// What a create with [`RingOptions::replace_stale`] replaced (a sentence), or `None` if
    /// the name was free.
    pub fn replaced(&self) -> Option<&str> {
        self.replaced.as_deref()
    }

    /// Once both roles are claimed nobody else needs the name: remove it unless asked to keep
    /// it, so a crash from now on leaves nothing behind. Best effort: a failure leaves the name
    /// for `shmpipe rm`.
    fn after_attach(&self, own: Role) {
        let ring = self.memory.ring();
        if protocol::both_attached(&ring, own) && self.memory.geometry.flags & FLAG_KEEP_NAME == 0 {
            #[cfg(not(loom))]
            if let Some(mapping) = self.memory.mapping() {
                let _ = mapping.remove_name();
            }
            #[cfg(loom)]
            ring.header.os.remove_name();
        }
    }

    /// Loom only: has an attach removed the segment's name, i.e. did one of the two handles
    /// see the other attached (`both_attached`)? The heap rings of the loom build have no
    /// name; the header's model of the kernel records the removal instead.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_name_removed(&self) -> bool {
        self.memory.header().os.name_removed()
    }

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
    pub(crate) fn of(
        header: &layout::Header,
        liveness: &crate::ownership::Liveness<'_>,
        role: Role,
    ) -> Self {
        let line = header.side(role);
        let word = line.owner.load(Ordering::Relaxed);
        let state = RoleState::from_code(line.state.load(Ordering::Relaxed));
        let held = liveness.role_alive(header, role).unwrap_or(false);
        SideStatus {
            position: line.position.load(Ordering::Relaxed),
            state,
            pid: (word != 0).then(|| crate::ownership::holder_pid(word)),
            alive: held && state == RoleState::Attached,
            same_namespace: same_namespace(liveness, word),
            sleeping: line.wake.load(Ordering::Relaxed) == layout::WAKE_SLEEPING,
        }
    }
}

/// Is the pid in `word` (a holder or creator word) one of this process's PID namespace?
pub(crate) fn same_namespace(liveness: &crate::ownership::Liveness<'_>, word: u64) -> bool {
    match liveness {
        #[cfg(not(loom))]
        crate::ownership::Liveness::Pids => true,
        #[cfg(not(loom))]
        crate::ownership::Liveness::Locks(..) => {
            let theirs = crate::ownership::holder_namespace(word);
            theirs == 0 || theirs == crate::process::pid_namespace()
        }
        _ => {
            let _ = word;
            true
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

/// A ring on the heap for two threads: its writer and its reader.
///
/// ```
/// let (mut tx, mut rx) = shmpipe::channel(1024)?;
/// std::thread::spawn(move || {
///     for i in 0u32..100 {
///         tx.send(&i.to_le_bytes()).unwrap();
///     }
/// }); // dropping `tx` closes the ring
/// let mut sum = 0;
/// let mut buf = [0u8; 4];
/// while let Some(n) = rx.recv(&mut buf)? {
///     sum += u32::from_le_bytes(buf[..n].try_into().unwrap());
/// }
/// assert_eq!(sum, 4950);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn channel(capacity: u64) -> Result<(Writer, Reader), CreateError> {
    let ring = RingOptions::new().capacity(capacity).heap()?;
    let writer = ring.writer().map_err(attach_on_fresh)?;
    let reader = ring.reader().map_err(attach_on_fresh)?;
    Ok((writer, reader))
}

/// Attaching to a ring nobody else has seen cannot fail; if it somehow does, say so as a
/// creation error rather than panicking.
fn attach_on_fresh(e: AttachError) -> CreateError {
    CreateError::Os {
        op: "attach",
        segment: "a fresh heap ring".into(),
        source: std::io::Error::other(e.to_string()),
    }
}

/// A refused header as the error `open` reports.
fn layout_error(e: layout::LayoutError, segment: String) -> OpenError {
    match e {
        layout::LayoutError::BadMagic(found) => OpenError::BadMagic { segment, found },
        layout::LayoutError::Version(found) => OpenError::VersionMismatch {
            segment,
            found,
            expected: layout::LAYOUT_VERSION,
        },
        layout::LayoutError::Incompatible(reason) => OpenError::Incompatible { segment, reason },
        layout::LayoutError::Geometry(reason) => OpenError::Corrupted { segment, reason },
        layout::LayoutError::Truncated { needed, actual } => OpenError::Truncated {
            segment,
            needed,
            actual,
        },
    }
}

/// Loom only: a segment that a model creates in one thread and opens in another, so the
/// header's initialisation races the open as it does between two processes (the shared-memory
/// backends are not built under loom). [`create`](Self::create) initialises the header as
/// `RingOptions::create` does; [`open`](Self::open) waits for the init word and validates the
/// header as `RingOptions::open` does, with the same `Header::is_ready` and `Header::validate`.
#[cfg(loom)]
#[doc(hidden)]
#[derive(Clone)]
pub struct LoomSegment {
    memory: Arc<Memory>,
    spin: Duration,
}

#[cfg(loom)]
impl RingOptions {
    /// Loom only: a heap ring whose roles are claimed as a std heap ring's are (the holder
    /// word's compare-exchange alone), where [`heap`](Self::heap) models the file locks of a
    /// shared segment.
    #[doc(hidden)]
    pub fn heap_in_process(&self) -> Result<Ring, CreateError> {
        let geometry = self.geometry(Backend::Heap)?;
        let memory =
            Memory::heap_in_process(geometry).ok_or_else(|| CreateError::ResourceLimit {
                segment: "a loom heap ring".into(),
                limit: "could not allocate it".into(),
                source: None,
            })?;
        Ok(self.finish(memory, "a heap ring".into()))
    }

    /// Loom only: a segment of this capacity whose header is not initialised yet.
    #[doc(hidden)]
    pub fn loom_segment(&self) -> Result<LoomSegment, CreateError> {
        let geometry = self.geometry(Backend::Posix)?;
        let memory = Memory::heap(geometry).ok_or_else(|| CreateError::ResourceLimit {
            segment: "a loom segment".into(),
            limit: "could not allocate it".into(),
            source: None,
        })?;
        Ok(LoomSegment {
            memory: Arc::new(memory),
            spin: self.spin,
        })
    }
}

#[cfg(loom)]
impl LoomSegment {
    /// The creator's side: initialise the header (publishing it), then the ring.
    pub fn create(&self) -> Ring {
        self.memory
            .header()
            .initialise(self.memory.geometry, crate::ownership::holder_word());
        self.ring()
    }

    /// The opener's side: wait (yielding) for the init word, then validate the header.
    pub fn open(&self) -> Result<Ring, OpenError> {
        let header = self.memory.header();
        while !header.is_ready() {
            crate::sync::spin_hint();
        }
        let size = layout::HEADER_SIZE as u64 + self.memory.geometry.capacity;
        let geometry = header
            .validate(size)
            .map_err(|e| layout_error(e, "a loom segment".into()))?;
        if geometry.capacity != self.memory.geometry.capacity {
            return Err(OpenError::Corrupted {
                segment: "a loom segment".into(),
                reason: format!(
                    "capacity {} read back as {}",
                    self.memory.geometry.capacity, geometry.capacity
                ),
            });
        }
        Ok(self.ring())
    }

    fn ring(&self) -> Ring {
        Ring {
            memory: self.memory.clone(),
            description: "a loom segment".into(),
            spin: self.spin,
            replaced: None,
        }
    }
}

#[cfg(not(loom))]
mod shared {
    use super::*;
    use crate::layout::HEADER_SIZE;
    use crate::segment::{self, Mapping, Purpose, Segment, Stale, Verdict};
    use std::os::unix::net::UnixStream;

    impl RingOptions {
        fn segment_size(&self, segment: String) -> Result<usize, CreateError> {
            usize::try_from(self.capacity)
                .ok()
                .and_then(|c| c.checked_add(HEADER_SIZE))
                .ok_or(CreateError::ResourceLimit {
                    segment,
                    limit: format!(
                        "a capacity of {} bytes does not fit this address space",
                        self.capacity
                    ),
                    source: None,
                })
        }

        /// Creates a named ring (POSIX, System V or file), exclusively: an existing segment of
        /// that name is `AlreadyExists`, never reused.
        ///
        /// ```no_run
        /// use shmpipe::{RingOptions, Segment};
        /// let ring = RingOptions::new().capacity(1 << 20).create(&Segment::posix("demo"))?;
        /// let mut writer = ring.writer()?;
        /// writer.send(b"to whoever opens \"demo\"")?;
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        ///
        /// With [`replace_stale`](Self::replace_stale), a stale ring holding the name is
        /// replaced atomically; anything else there is [`CreateError::Occupied`].
        pub fn create(&self, segment: &Segment) -> Result<Ring, CreateError> {
            let geometry = self.geometry(segment.backend())?;
            let size = self.segment_size(segment.to_string())?;
            // A name that vanishes between the exclusive create and the verdict is created
            // again; one that keeps coming back is a live contest, reported.
            for _ in 0..8 {
                match segment::create(segment, size, self.mode) {
                    Ok(mapping) => {
                        return Ok(
                            self.finish(Memory::mapped(mapping, geometry), segment.to_string())
                        )
                    }
                    Err(CreateError::AlreadyExists { .. }) if self.replace_stale => {}
                    Err(e) => return Err(e),
                }
                match segment::judge_stale(segment)? {
                    Verdict::Gone => continue,
                    Verdict::Stale(stale) => return self.replace(segment, stale, size, geometry),
                }
            }
            Err(CreateError::Occupied {
                segment: segment.to_string(),
                reason: "it keeps being created and removed by other processes; try again".into(),
            })
        }

        /// Builds a new ring beside a stale one and moves it over the name (see
        /// [`replace_stale`](Self::replace_stale)).
        fn replace(
            &self,
            segment: &Segment,
            stale: Stale,
            size: usize,
            geometry: Geometry,
        ) -> Result<Ring, CreateError> {
            let temporary = stale.temporary(segment);
            let mut mapping =
                segment::create(&temporary, size, self.mode).map_err(|e| match e {
                    CreateError::AlreadyExists { .. } => CreateError::Occupied {
                        segment: segment.to_string(),
                        reason: "another process replaced the stale ring first".into(),
                    },
                    e => e,
                })?;
            // SAFETY: `segment::create` maps at least HEADER_SIZE bytes, page-aligned.
            let header = unsafe { Memory::header_of(&mapping) };
            // No file to lock: System V, whose roles are tracked by pid.
            header.initialise(geometry, creator_word(mapping.file().is_none()));
            let what = stale.description.clone();
            stale.install(&mut mapping, segment)?;
            Ok(Ring {
                memory: Arc::new(Memory::mapped(mapping, geometry)),
                description: segment.to_string(),
                spin: self.spin,
                replaced: Some(what),
            })
        }

        /// Creates a ring in an anonymous shared mapping: processes `fork`ed after this call
        /// share it. It has no name and is freed with the last mapping.
        pub fn create_anonymous(&self) -> Result<Ring, CreateError> {
            let geometry = self.geometry(Backend::Anonymous)?;
            let size = self.segment_size("an anonymous ring".into())?;
            let mapping = segment::create_anonymous(size)?;
            Ok(self.finish(
                Memory::mapped(mapping, geometry),
                "an anonymous ring".into(),
            ))
        }

        /// Creates a ring in a `memfd`, sealed against shrinking and growing, to be passed to
        /// another process with [`Ring::send_memfd`].
        pub fn create_memfd(&self) -> Result<Ring, CreateError> {
            let geometry = self.geometry(Backend::Memfd)?;
            let size = self.segment_size("a memfd ring".into())?;
            let mapping = segment::create_memfd(size)?;
            Ok(self.finish(Memory::mapped(mapping, geometry), "a memfd ring".into()))
        }

        /// Opens an existing named ring. Waits up to the [timeout](Self::timeout) for a segment
        /// still being initialised (and, if asked, for one that does not exist yet), then checks
        /// the header: magic, version, endianness, pointer width, geometry, size.
        pub fn open(&self, segment: &Segment) -> Result<Ring, OpenError> {
            let start = Instant::now();
            let mut pause = Duration::from_micros(200);
            loop {
                let timed_out = self.timeout.is_some_and(|t| start.elapsed() >= t);
                match segment::open(segment, Purpose::Use) {
                    Ok(mapping) => {
                        match self.validated(mapping, segment.to_string(), start, &mut pause) {
                            Ok(ring) => return Ok(ring),
                            Err(e) => return Err(e),
                        }
                    }
                    Err(OpenError::NotFound { .. }) if self.wait_for_creation && !timed_out => {}
                    Err(OpenError::NotInitialised { .. }) if !timed_out => {}
                    Err(OpenError::NotInitialised { segment, .. }) => {
                        return Err(OpenError::NotInitialised {
                            segment,
                            waited: start.elapsed(),
                        })
                    }
                    Err(e) => return Err(e),
                }
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
        }

        /// Waits for the init word of an opened mapping, then validates the header.
        fn validated(
            &self,
            mapping: Mapping,
            description: String,
            start: Instant,
            pause: &mut Duration,
        ) -> Result<Ring, OpenError> {
            // SAFETY: `segment::open` maps at least HEADER_SIZE bytes, page-aligned.
            let header = unsafe { Memory::header_of(&mapping) };
            while !header.is_ready() {
                if creator_gone(&mapping) {
                    return Err(OpenError::Abandoned {
                        segment: description,
                    });
                }
                if self.timeout.is_some_and(|t| start.elapsed() >= t) {
                    return Err(OpenError::NotInitialised {
                        segment: description,
                        waited: start.elapsed(),
                    });
                }
                std::thread::sleep(*pause);
                *pause = (*pause * 2).min(Duration::from_millis(10));
            }
            let geometry = header
                .validate(mapping.len() as u64)
                .map_err(|e| layout_error(e, description.clone()))?;
            mapping.reserve(HEADER_SIZE as u64 + geometry.capacity, &description)?;
            Ok(Ring {
                memory: Arc::new(Memory::mapped(mapping, geometry)),
                description,
                spin: self.spin,
                replaced: None,
            })
        }

        /// Receives a memfd ring sent with [`Ring::send_memfd`] and opens it. The memfd must be
        /// sealed against shrinking and growing.
        pub fn receive_memfd(&self, socket: &UnixStream) -> Result<Ring, OpenError> {
            let description = String::from("a memfd ring received over a socket");
            let fd = segment::recv_fd(socket).map_err(|source| OpenError::Os {
                op: "recvmsg",
                segment: description.clone(),
                source,
            })?;
            let mapping = segment::open_memfd(fd)?;
            let start = Instant::now();
            let mut pause = Duration::from_micros(200);
            self.validated(mapping, description, start, &mut pause)
        }
    }

    /// Has the creator of a segment whose header is not initialised gone without initialising
    /// it? The kernel's answer: nobody else holds the presence lock (the creator takes it
    /// before it sizes the segment). System V segments cannot tell: `false`.
    fn creator_gone(mapping: &Mapping) -> bool {
        mapping.file().is_some_and(|fd| {
            crate::ownership::locks::holder(fd, crate::ownership::PRESENCE_BYTE).is_none()
        })
    }

    impl Ring {
        /// Creates a named ring with the default options and this capacity.
        ///
        /// ```no_run
        /// let ring = shmpipe::Ring::create(&shmpipe::Segment::posix("demo"), 1 << 16)?;
        /// # Ok::<(), shmpipe::CreateError>(())
        /// ```
        pub fn create(segment: &Segment, capacity: u64) -> Result<Ring, CreateError> {
            RingOptions::new().capacity(capacity).create(segment)
        }

        /// Opens a named ring with the default options.
        ///
        /// ```no_run
        /// let ring = shmpipe::Ring::open(&shmpipe::Segment::posix("demo"))?;
        /// let mut reader = ring.reader()?;
        /// # Ok::<(), Box<dyn std::error::Error>>(())
        /// ```
        pub fn open(segment: &Segment) -> Result<Ring, OpenError> {
            RingOptions::new().open(segment)
        }

        /// Sends this memfd ring's file descriptor over a Unix socket (`SCM_RIGHTS`); the peer
        /// opens it with [`RingOptions::receive_memfd`]. Only for memfd rings.
        pub fn send_memfd(&self, socket: &UnixStream) -> std::io::Result<()> {
            let fd = self
                .memory
                .mapping()
                .filter(|_| self.backend() == Backend::Memfd)
                .and_then(|m| m.memfd())
                .ok_or_else(|| {
                    std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "{} is not a memfd ring; only memfd rings can be sent over a socket",
                            self.description
                        ),
                    )
                })?;
            segment::send_fd(socket, fd)
        }

        /// Removes the segment's name now (it is removed anyway once both sides attach, unless
        /// kept). Mappings stay valid. A no-op for heap, anonymous and memfd rings.
        pub fn remove_name(&self) -> std::io::Result<()> {
            match self.memory.mapping() {
                Some(m) => m.remove_name(),
                None => Ok(()),
            }
        }
    }

    /// Removes a named segment (what `shmpipe rm` does), e.g. one left by a crash before both
    /// sides attached. Processes that have it mapped keep it until they unmap it.
    ///
    /// ```no_run
    /// shmpipe::remove(&shmpipe::Segment::posix("demo"))?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn remove(segment: &Segment) -> std::io::Result<()> {
        segment::remove(segment)
    }
}
#[cfg(not(loom))]
pub use shared::remove;

#[cfg(all(test, not(loom)))]
mod layout_tests {
    //! The bytes a C program would see, at the offsets `docs/LAYOUT.md` documents.
    use super::*;

    fn u32_at(base: *const u8, offset: usize) -> u32 {
        // SAFETY: `offset + 4` is inside the heap block (header + data) and 4-aligned; this
        // test is single-threaded, so no store races with the read.
        unsafe { (base.add(offset) as *const u32).read() }
    }

    fn u64_at(base: *const u8, offset: usize) -> u64 {
        // SAFETY: as above, 8-aligned.
        unsafe { (base.add(offset) as *const u64).read() }
    }

    #[test]
    fn header_and_records_sit_at_the_documented_offsets() {
        let ring = RingOptions::new().capacity(256).heap().unwrap();
        let base = ring.memory.header() as *const layout::Header as *const u8;
        let mut magic = [0u8; 8];
        // SAFETY: the first 8 bytes of the header, read in a single-threaded test.
        unsafe { std::ptr::copy_nonoverlapping(base, magic.as_mut_ptr(), 8) };
        assert_eq!(&magic, b"SHMPIPE\0");
        assert_eq!(u32_at(base, 8), 2, "version");
        assert_eq!(u32_at(base, 12), 4096, "header size");
        assert_eq!(u64_at(base, 16), 256, "capacity");
        assert_eq!(u32_at(base, 24), 0, "flags");
        assert_eq!(u32_at(base, 28), 0x0102_0304, "endian marker");
        assert_eq!(u32_at(base, 32), 1, "init word");
        assert_eq!(u32_at(base, 36), std::process::id(), "creator pid");
        assert_eq!(
            u32_at(base, 40),
            crate::process::pid_namespace(),
            "creator PID namespace"
        );
        assert_eq!(u32_at(base, 48), usize::BITS, "pointer bits");
        assert_eq!(u32_at(base, 52), 0, "backend: heap");

        let mut writer = ring.writer().unwrap();
        assert_eq!(u32_at(base, 128 + 64), 1, "writer state: attached");
        assert_eq!(
            u64_at(base, 128 + 72) as u32,
            std::process::id(),
            "writer owner pid"
        );
        assert_eq!(u32_at(base, 256 + 64), 0, "reader state: vacant");
        writer.send(b"abc").unwrap();
        assert_eq!(u64_at(base, 128), 16, "write position: 8 + 8");
        assert_eq!(u32_at(base, 4096), 3, "record length");
        assert_eq!(u32_at(base, 4096 + 4), 0, "record flags");
        // SAFETY: the payload bytes of the record, read in a single-threaded test.
        let payload = unsafe { std::slice::from_raw_parts(base.add(4096 + 8), 3) };
        assert_eq!(payload, b"abc");

        let mut reader = ring.reader().unwrap();
        let mut buf = [0u8; 8];
        reader.recv(&mut buf).unwrap();
        assert_eq!(u64_at(base, 256), 16, "read position");
        drop(writer);
        assert_eq!(u32_at(base, 128 + 64), 2, "writer state: closed");
    }

    #[test]
    fn handles_are_send() {
        // Not Clone and not Sync: the compile_fail doctests on `Writer` and `Reader`.
        fn send<T: Send>() {}
        send::<crate::Writer>();
        send::<crate::Reader>();
        send::<Ring>();
    }
}
