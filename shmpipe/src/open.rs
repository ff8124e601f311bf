//! Creating and opening rings in named (and anonymous, and memfd) segments: the std build's
//! half of [`RingOptions`](crate::RingOptions), with the wait for a segment that is still
//! being created or initialised.

use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{CreateError, OpenError};
use crate::layout::{Backend, Geometry, HEADER_SIZE};
use crate::memory::Memory;
use crate::options::RingOptions;
use crate::problem::{open_error, validate};
use crate::ring::Ring;
use crate::segment::{self, Mapping, Purpose, Segment, Stale, Verdict};

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
                    return Ok(self.finish(Memory::mapped(mapping, geometry), segment.to_string()))
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
        let mut mapping = segment::create(&temporary, size, self.mode).map_err(|e| match e {
            CreateError::AlreadyExists { .. } => CreateError::Occupied {
                segment: segment.to_string(),
                reason: "another process replaced the stale ring first".into(),
            },
            e => e,
        })?;
        // SAFETY: `segment::create` maps at least HEADER_SIZE bytes, page-aligned.
        let header = unsafe { Memory::header_of(&mapping) };
        // No file to lock: System V, whose roles are tracked by pid.
        let creator = match mapping.file() {
            Some(_) => crate::os::holder_word(),
            None => crate::os::Pids.current(),
        };
        header.initialise(geometry, creator);
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
    ///
    /// ```no_run
    /// let ring = shmpipe::RingOptions::new().create_anonymous()?;
    /// // SAFETY: the child only uses the ring and exits.
    /// match unsafe { libc::fork() } {
    ///     0 => {
    ///         let mut writer = ring.writer().unwrap();
    ///         writer.send(b"from the child").unwrap();
    ///         std::process::exit(0);
    ///     }
    ///     _ => {
    ///         let mut reader = ring.reader()?;
    ///         let mut buf = [0u8; 64];
    ///         assert_eq!(reader.recv(&mut buf)?, Some(14));
    ///     }
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// ```no_run
    /// use std::os::unix::net::UnixStream;
    /// let (here, there) = UnixStream::pair()?;
    /// let ring = shmpipe::RingOptions::new().create_memfd()?;
    /// ring.send_memfd(&here)?; // the peer: RingOptions::new().receive_memfd(&there)
    /// # let _ = there;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn create_memfd(&self) -> Result<Ring, CreateError> {
        let geometry = self.geometry(Backend::Memfd)?;
        let size = self.segment_size("a memfd ring".into())?;
        let mapping = segment::create_memfd(size)?;
        Ok(self.finish(Memory::mapped(mapping, geometry), "a memfd ring".into()))
    }

    /// Opens an existing named ring. Waits up to the [timeout](Self::timeout) for a segment
    /// still being initialised (and, if asked, for one that does not exist yet), then checks
    /// the header: magic, version, endianness, pointer width, geometry, size.
    ///
    /// ```no_run
    /// use shmpipe::{RingOptions, Segment};
    /// let ring = RingOptions::new().open(&Segment::posix("demo"))?;
    /// let mut reader = ring.reader()?;
    /// let mut buf = vec![0u8; reader.max_message()];
    /// while let Some(n) = reader.recv(&mut buf)? {
    ///     println!("{} bytes", n);
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn open(&self, segment: &Segment) -> Result<Ring, OpenError> {
        let mut patience = Patience::new(self.timeout);
        loop {
            match segment::open(segment, Purpose::Use) {
                Ok(mapping) => return self.validated(mapping, segment.to_string(), &mut patience),
                Err(OpenError::NotFound { .. }) if self.wait_for_creation && !patience.out() => {}
                Err(OpenError::NotInitialised { .. }) if !patience.out() => {}
                Err(OpenError::NotInitialised { segment, .. }) => {
                    return Err(OpenError::NotInitialised {
                        segment,
                        waited: patience.waited(),
                    })
                }
                Err(e) => return Err(e),
            }
            patience.pause();
        }
    }

    /// Waits for the init word of an opened mapping, then validates the header.
    fn validated(
        &self,
        mapping: Mapping,
        description: String,
        patience: &mut Patience,
    ) -> Result<Ring, OpenError> {
        // SAFETY: `segment::open` maps at least HEADER_SIZE bytes, page-aligned.
        let header = unsafe { Memory::header_of(&mapping) };
        while !header.is_ready() {
            if creator_gone(&mapping) {
                return Err(OpenError::Abandoned {
                    segment: description,
                });
            }
            if patience.out() {
                return Err(OpenError::NotInitialised {
                    segment: description,
                    waited: patience.waited(),
                });
            }
            patience.pause();
        }
        let geometry = validate(header, mapping.len() as u64)
            .map_err(|e| open_error(e, description.clone()))?;
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
    ///
    /// ```no_run
    /// use std::os::unix::net::UnixStream;
    /// let socket = UnixStream::connect("/run/jobs.sock")?; // where the creator sends its memfd
    /// let ring = shmpipe::RingOptions::new().receive_memfd(&socket)?;
    /// let mut reader = ring.reader()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn receive_memfd(&self, socket: &UnixStream) -> Result<Ring, OpenError> {
        let description = String::from("a memfd ring received over a socket");
        let fd = segment::recv_fd(socket).map_err(|source| OpenError::Os {
            op: "recvmsg",
            segment: description.clone(),
            source,
        })?;
        let mapping = segment::open_memfd(fd)?;
        self.validated(mapping, description, &mut Patience::new(self.timeout))
    }
}

/// Has the creator of a segment whose header is not initialised gone without initialising
/// it? The kernel's answer: nobody else holds the presence lock (the creator takes it
/// before it sizes the segment). System V segments cannot tell: `false`.
fn creator_gone(mapping: &Mapping) -> bool {
    mapping.file().is_some_and(|fd| {
        crate::segment::locks::holder(fd, crate::lock_table::PRESENCE_BYTE).is_none()
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
    ///
    /// ```
    /// use std::os::unix::net::UnixStream;
    /// let (here, there) = UnixStream::pair()?;
    /// let ring = shmpipe::RingOptions::new().capacity(4096).create_memfd()?;
    /// ring.send_memfd(&here)?;
    /// let same = shmpipe::RingOptions::new().receive_memfd(&there)?;
    /// ring.writer()?.send(b"one ring, two mappings")?;
    /// let mut buf = [0u8; 64];
    /// assert_eq!(same.reader()?.recv(&mut buf)?, Some(22));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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
    ///
    /// ```no_run
    /// use shmpipe::{RingOptions, Segment};
    /// let ring = RingOptions::new().keep_name(true).create(&Segment::posix("once"))?;
    /// // ... the peer has opened it: nobody else may find it now.
    /// ring.remove_name()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
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

/// The wait for a segment that is still being created or initialised: pauses from 200 µs,
/// doubling up to 10 ms, until the timeout (none: for ever).
struct Patience {
    start: Instant,
    timeout: Option<Duration>,
    pause: Duration,
}

impl Patience {
    fn new(timeout: Option<Duration>) -> Self {
        Patience {
            start: Instant::now(),
            timeout,
            pause: Duration::from_micros(200),
        }
    }

    /// Has the timeout passed?
    fn out(&self) -> bool {
        self.timeout.is_some_and(|t| self.start.elapsed() >= t)
    }

    /// How long it has waited.
    fn waited(&self) -> Duration {
        self.start.elapsed()
    }

    /// Sleeps for the next pause.
    fn pause(&mut self) {
        std::thread::sleep(self.pause);
        self.pause = (self.pause * 2).min(Duration::from_millis(10));
    }
}
