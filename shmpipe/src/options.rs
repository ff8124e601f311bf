//! [`RingOptions`]: how to create or open a ring (capacity, permissions, name handling,
//! timeouts), and the heap ring any build can make. Creating and opening named segments is
//! in `open`.

use std::sync::Arc;
use std::time::Duration;

use crate::error::CreateError;
use crate::layout::{self, Backend, Geometry, FLAG_KEEP_NAME};
use crate::memory::Memory;
use crate::ring::Ring;
use crate::wait::DEFAULT_SPIN;

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
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().heap()?;
    /// assert_eq!(ring.capacity(), 64 * 1024);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The data capacity in bytes: a power of two from 16 bytes to 1 TiB. The largest message
    /// is the capacity minus 8.
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().capacity(1 << 20).heap()?;
    /// assert_eq!(ring.max_message(), (1 << 20) - 8);
    /// assert!(shmpipe::RingOptions::new().capacity(1000).heap().is_err()); // not a power of two
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(mut self, bytes: u64) -> Self {
        self.capacity = bytes;
        self
    }

    /// The permission bits of a created segment (default `0o600`: only this user). Applied
    /// exactly, whatever the umask.
    ///
    /// ```no_run
    /// // A ring another user's process (in the same group) may open.
    /// let ring = shmpipe::RingOptions::new()
    ///     .mode(0o660)
    ///     .create(&shmpipe::Segment::posix("shared-jobs"))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }

    /// Keep the segment's name after both sides have attached (default: remove it, so a crash
    /// leaves nothing behind). Recorded in the header, so it binds the opener too.
    ///
    /// ```no_run
    /// use shmpipe::{RingOptions, Segment};
    /// // A ring that stays findable for readers that come and go (remove it with `shmpipe rm`).
    /// let ring = RingOptions::new().keep_name(true).create(&Segment::posix("metrics"))?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn keep_name(mut self, keep: bool) -> Self {
        self.keep_name = keep;
        self
    }

    /// How long `open` waits for a segment that exists but is still being initialised (and,
    /// with [`wait_for_creation`](Self::wait_for_creation), for one that does not exist yet).
    /// `None` waits forever. Default: one second.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use shmpipe::{RingOptions, Segment};
    /// let ring = RingOptions::new()
    ///     .timeout(Some(Duration::from_secs(5)))
    ///     .wait_for_creation(true)
    ///     .open(&Segment::posix("jobs"))?; // waits up to 5 s for the creator
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timeout(mut self, timeout: Option<Duration>) -> Self {
        self.timeout = timeout;
        self
    }

    /// Make `open` wait (up to the timeout) for a segment that does not exist yet, as opening
    /// a FIFO waits for its writer. Default: `false`, a missing segment is `NotFound` at once.
    ///
    /// ```no_run
    /// use shmpipe::{RingOptions, Segment};
    /// // Start the reader first: it waits (up to the timeout) for the writer to create the ring.
    /// let ring = RingOptions::new().wait_for_creation(true).open(&Segment::posix("jobs"))?;
    /// let mut reader = ring.reader()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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

    /// How long a blocked handle spins before it sleeps on the futex (default 50 µs); a
    /// writer waiting for room then dozes up to 1 ms (naps of about 60 µs, looking after
    /// each: its reader need not wake it) before it sleeps. Zero sleeps at once (no doze
    /// either); longer trades CPU for latency.
    ///
    /// ```
    /// use std::time::Duration;
    /// // Sleep at once on an empty ring: no CPU burnt waiting, a wake-up costs a system call.
    /// let ring = shmpipe::RingOptions::new().spin(Duration::ZERO).heap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spin(mut self, spin: Duration) -> Self {
        self.spin = spin;
        self
    }

    pub(crate) fn geometry(&self, backend: Backend) -> Result<Geometry, CreateError> {
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

    pub(crate) fn finish(&self, memory: Memory, description: String) -> Ring {
        memory
            .header()
            .initialise(memory.geometry, memory.liveness().creator_word());
        Ring {
            memory: Arc::new(memory),
            description,
            spin: self.spin,
            replaced: None,
        }
    }

    /// A ring on the heap of this process, for threads (no name, no system calls beyond the
    /// allocation). [`channel`](crate::channel) is the short form.
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().capacity(4096).heap()?;
    /// let (mut writer, mut reader) = (ring.writer()?, ring.reader()?);
    /// std::thread::spawn(move || writer.send(b"from a thread"));
    /// let mut buf = [0u8; 64];
    /// assert_eq!(reader.recv(&mut buf)?, Some(13));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
