//! The `Writer` handle: sends records, copying or in place, one at a time or in batches.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::SendError;
use crate::layout::Role;
use crate::memory::Memory;
use crate::os;
use crate::ownership::Token;
use crate::peer::Peer;
use crate::protocol::{self, RingRef, WriterState};
use crate::region::LentMut;
use crate::wait::{self, Attempt, Gave, Vigil, Wait};

/// The sending end of a ring. There is exactly one per ring, across all processes.
///
/// `Send` (it may move to another thread) but neither `Clone` nor `Sync`. Dropping it closes
/// the ring: the reader receives everything sent, then end-of-stream.
///
/// # Across `fork`
///
/// A writer copied into a child by `fork` behaves like a pipe's write end: the role belongs
/// to every process holding a copy, closes (end-of-stream for the reader) when the last copy
/// is dropped, and is dead (`PeerDied` for the reader) only when the last holder dies. So the
/// pipe(2) idiom works, and so does a daemon whose parent exits right after the fork. Use the
/// copy in one process only (drop it in the others): two processes sending through copies of
/// one writer would be two writers. The liveness is the kernel's (a file lock held by the
/// handle, see `docs/LAYOUT.md`), right across PID namespaces and when the main thread of the
/// holding process has exited. (System V rings track their roles by pid instead: not across
/// `fork` or PID namespaces.)
///
/// ```no_run
/// use shmpipe::RingOptions;
/// let ring = RingOptions::new().capacity(1 << 16).create_anonymous()?;
/// let mut writer = ring.writer()?;
/// let mut reader = ring.reader()?;
/// // SAFETY: the child only uses the ring, then `_exit`s.
/// match unsafe { libc::fork() } {
///     0 => {
///         drop(writer); // the child reads
///         let mut buf = [0u8; 64];
///         while let Some(n) = reader.recv(&mut buf)? {
///             println!("{}", String::from_utf8_lossy(&buf[..n]));
///         }
///         unsafe { libc::_exit(0) };
///     }
///     _ => {
///         drop(reader); // the parent writes
///         writer.send(b"hello from the parent")?;
///         drop(writer); // the last copy: the child sees end-of-stream
///     }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// ```compile_fail
/// fn shared<T: Sync>(_: &T) {}
/// let (writer, _reader) = shmpipe::channel(64).unwrap();
/// shared(&writer); // a Writer is not Sync
/// ```
///
/// ```compile_fail
/// let (writer, _reader) = shmpipe::channel(64).unwrap();
/// let second = writer.clone(); // a Writer is not Clone: one writer per ring
/// ```
pub struct Writer {
    pub(crate) memory: Arc<Memory>,
    pub(crate) state: WriterState,
    pub(crate) spin: Duration,
    /// What proves this handle holds its role (see `ownership`); `None` once let go.
    pub(crate) token: Option<Token>,
    /// What the handle keeps between its waits about its peer's liveness.
    vigil: Vigil,
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("state", &self.state)
            .finish()
    }
}

impl Writer {
    pub(crate) fn new(
        memory: Arc<Memory>,
        state: WriterState,
        spin: Duration,
        token: Token,
    ) -> Self {
        Writer {
            memory,
            state,
            spin,
            token: Some(token),
            vigil: Vigil::default(),
            _not_sync: PhantomData,
        }
    }

    /// The ring's data capacity in bytes.
    ///
    /// ```
    /// let (writer, _reader) = shmpipe::channel(4096)?;
    /// assert_eq!(writer.capacity(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(&self) -> u64 {
        self.memory.geometry.capacity
    }

    /// The largest message one send can carry: the capacity less one 8-byte record header.
    /// A longer one is `TooLarge`. (A message that large fits only into an empty ring, so the
    /// writer waits for the reader to drain everything first: see the crate documentation on
    /// picking a capacity.)
    ///
    /// ```
    /// let (mut writer, _reader) = shmpipe::channel(4096)?;
    /// assert_eq!(writer.max_message(), 4088);
    /// let too_large = vec![0u8; writer.max_message() + 1];
    /// assert!(matches!(writer.send(&too_large), Err(shmpipe::SendError::TooLarge { .. })));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_message(&self) -> usize {
        protocol::max_message(self.capacity())
    }

    /// Sets how long a blocked send spins before it sleeps (50 µs unless
    /// [`RingOptions::spin`](crate::RingOptions::spin) said otherwise); after a non-zero spin
    /// it dozes up to 1 ms (naps of about 60 µs, a look after each) before it sleeps. Zero
    /// sleeps at once, without the doze: the least CPU, the slowest wake-up.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut writer, _reader) = shmpipe::channel(4096)?;
    /// writer.set_spin(Duration::from_micros(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// Finds room for a `len`-byte record, waiting as `wait` says. On a full ring, records
    /// already committed but unpublished (a batch, a padding record) are published first, so
    /// the reader can make room.
    ///
    /// The first attempt is inlined into the caller; only a full ring takes the out-of-line
    /// waiting path (which tries again before it waits).
    #[inline]
    fn place(&mut self, len: usize, wait: Wait) -> Result<usize, SendError> {
        if let Some(offset) = self.state.try_place_fast(&self.memory.ring(), len) {
            return Ok(offset);
        }
        self.place_more(len, wait)
    }

    /// `place` when the cached read position shows no room before the end of the region (or
    /// the reader closed): the full first attempt, then waiting on a full ring.
    #[inline(never)]
    fn place_more(&mut self, len: usize, wait: Wait) -> Result<usize, SendError> {
        match self
            .state
            .try_place(&self.memory.ring(), len, wait.blocks(), self.guards(wait))
        {
            Err(SendError::Full) => self.place_slow(len, wait),
            placed => placed,
        }
    }

    /// Does a send waiting as `wait` says stay off the reader's line at first? Only one that
    /// waits as long as needed (`send`), with a spin to do it in.
    #[inline]
    fn guards(&self, wait: Wait) -> bool {
        matches!(wait, Wait::Forever) && !self.spin.is_zero()
    }

    /// `place` when the ring was full at the first attempt.
    #[cold]
    #[inline(never)]
    fn place_slow(&mut self, len: usize, wait: Wait) -> Result<usize, SendError> {
        // Off the reader's line for the first moments of a wait without a deadline
        // (`WriterState::room_limit`, `wait::LINE_GUARD`).
        let since = Instant::now();
        let mut guard = self.guards(wait);
        let guard_for = self.spin.min(wait::LINE_GUARD);
        self.wait_until(wait, |state, ring| {
            // Once over, the guard stays off: no clock read per attempt after it.
            guard = guard && os::still_guarding(since, guard_for);
            match state.try_place(ring, len, false, guard) {
                Ok(offset) => Attempt::Ready(offset),
                Err(SendError::Full) => {
                    // Publish what is pending before waiting: the reader may be asleep.
                    if state.has_pending() {
                        state.publish(ring).redeem();
                    }
                    Attempt::NotYet
                }
                Err(e) => Attempt::Failed(e),
            }
        })
    }

    /// Repeats `attempt` on the writer's state until it is done, spinning, dozing
    /// (`wait::WRITER_DOZE`) and then sleeping on the writer's wake word (which the reader
    /// wakes after each release and when it closes), until `wait` runs out or the reader's
    /// process dies.
    fn wait_until<T>(
        &mut self,
        wait: Wait,
        mut attempt: impl FnMut(&mut WriterState, &RingRef<'_>) -> Attempt<T, SendError>,
    ) -> Result<T, SendError> {
        let ring = self.memory.ring();
        let state = &mut self.state;
        wait::wait_for(
            &ring.header.writer,
            Peer::new(&self.memory, self.token.as_ref(), Role::Reader),
            &mut self.vigil,
            wait,
            (self.spin, wait::WRITER_DOZE),
            || attempt(state, &ring),
        )
        .map_err(send_error)
    }

    /// Copies `msg` in as one record; publishes it unless inside a batch.
    #[inline(always)]
    fn push(&mut self, msg: &[u8], wait: Wait, publish: Publish) -> Result<(), SendError> {
        let offset = self.place(msg.len(), wait)?;
        // SAFETY: `place` found room for a `msg.len()`-byte payload at `offset` (through
        // `try_place` or `try_place_fast`), and nothing was committed since.
        unsafe { self.state.write_record(&self.memory.ring(), offset, msg) };
        if publish == Publish::Now {
            self.publish();
        }
        Ok(())
    }

    /// Makes committed records visible and wakes a sleeping reader.
    #[inline]
    fn publish(&mut self) {
        self.state.publish(&self.memory.ring()).redeem();
    }

    /// Sends `msg` as one record, waiting for room (spinning, dozing, then sleeping) as long as
    /// needed.
    ///
    /// Fails with `Closed` once the reader has closed, `PeerDied` if the reader's process
    /// dies while we wait, `TooLarge` if the message can never fit.
    ///
    /// A writer that streams into a full ring on the reader's heels (each look at the reader's
    /// position finding a little more room, and more each time it waits) waits a moment before
    /// it looks again, from 250 ns doubling up to 8 µs, as a receive on the writer's heels
    /// does (temporal slipping, docs/BENCHMARKS.md, "The writer's slip"): room released
    /// during such a wait is taken at most 8 µs late. For the first 20 µs of a wait on a full
    /// ring (at most its spin) it also leaves alone the 64-byte line the reader is reading,
    /// filling only the lines the reader has left, so the reader, which sets the pace there,
    /// does not find its next record taken away to the writer's core (the line guard,
    /// docs/BENCHMARKS.md, "The writer's line guard"): free bytes in that line are taken at
    /// most 20 µs late. [`try_send`](Self::try_send) never waits, and
    /// [`send_timeout`](Self::send_timeout) takes every free byte at once.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// writer.send(b"ping")?;
    /// let mut buf = [0; 8];
    /// assert_eq!(reader.recv(&mut buf)?, Some(4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.push(msg, Wait::Forever, Publish::Now)
    }

    /// Sends `msg` if there is room now; `Full` otherwise.
    ///
    /// A ring that is not full may become full at any time only through this writer, so a
    /// `Full` answer can turn into room at any moment, but room never disappears by itself.
    ///
    /// ```
    /// let (mut writer, _reader) = shmpipe::channel(16)?;
    /// writer.try_send(b"12345678")?; // 8 + 8 bytes: the ring is now full
    /// assert!(matches!(writer.try_send(b"x"), Err(shmpipe::SendError::Full)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a message that was not sent is lost unless the error is handled"]
    #[inline]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.push(msg, Wait::Never, Publish::Now)
    }

    /// Sends `msg`, waiting at most `timeout` for room; `Timeout` after that.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut writer, _reader) = shmpipe::channel(16)?;
    /// writer.send(b"12345678")?;
    /// let err = writer.send_timeout(b"x", Duration::from_millis(10)).unwrap_err();
    /// assert!(matches!(err, shmpipe::SendError::Timeout));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a message that was not sent is lost unless the error is handled"]
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        self.push(msg, Wait::timeout(timeout), Publish::Now)
    }

    /// Sends a plain-old-data value as one record of `size_of::<T>()` bytes, waiting for room
    /// as [`send`](Self::send) does. See also [`try_send_value`](Self::try_send_value) and
    /// [`send_value_timeout`](Self::send_value_timeout).
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// writer.send_value(&[1.5f64, 2.5])?;
    /// assert_eq!(reader.recv_value::<[f64; 2]>()?, Some([1.5, 2.5]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_value<T: bytemuck::Pod>(&mut self, value: &T) -> Result<(), SendError> {
        self.send(bytemuck::bytes_of(value))
    }

    fn grant(&mut self, len: usize, wait: Wait, publish: Publish) -> Result<Grant<'_>, SendError> {
        let offset = self.place(len, wait)?;
        // SAFETY: `place` found `len` free bytes at `offset`, ours until published; the grant
        // borrows the writer, so no other placement can overlap it.
        let lent = unsafe { self.memory.ring().data.lend_mut(offset, len) };
        Ok(Grant {
            writer: self,
            offset,
            lent,
            publish,
        })
    }

    /// Reserves room for a `len`-byte record and lends it for writing in place (zero-copy),
    /// waiting for room as long as needed. [`Grant::commit`] publishes it; dropping the grant
    /// abandons it.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// let mut grant = writer.reserve(5)?;
    /// grant.copy_from_slice(b"hello");
    /// grant.commit_all();
    /// assert_eq!(&*reader.recv_ref()?.unwrap(), b"hello");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve(&mut self, len: usize) -> Result<Grant<'_>, SendError> {
        self.grant(len, Wait::Forever, Publish::Now)
    }

    /// Like [`reserve`](Self::reserve), but `Full` if there is no room now.
    ///
    /// ```
    /// let (mut writer, _reader) = shmpipe::channel(64)?;
    /// writer.try_reserve(56)?.commit_all(); // 8 + 56: the whole ring
    /// assert!(matches!(writer.try_reserve(1), Err(shmpipe::SendError::Full)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_reserve(&mut self, len: usize) -> Result<Grant<'_>, SendError> {
        self.grant(len, Wait::Never, Publish::Now)
    }

    /// Like [`reserve`](Self::reserve), but `Timeout` after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// let mut grant = writer.reserve_timeout(4, Duration::from_secs(1))?;
    /// grant.copy_from_slice(b"ping");
    /// grant.commit_all();
    /// let mut buf = [0u8; 4];
    /// assert_eq!(reader.recv(&mut buf)?, Some(4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<Grant<'_>, SendError> {
        self.grant(len, Wait::timeout(timeout), Publish::Now)
    }

    /// Starts a batch: records sent through it are published together with one store when the
    /// batch is dropped or [published](Batch::publish), instead of one store (and one check for
    /// a sleeping reader) per record. If the ring fills, what the batch holds so far is
    /// published so the reader can make room.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(1024)?;
    /// let mut batch = writer.batch();
    /// for i in 0u8..10 {
    ///     batch.send(&[i])?;
    /// }
    /// drop(batch); // one publish for ten records
    /// let mut buf = [0u8; 1];
    /// assert_eq!(reader.recv(&mut buf)?, Some(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch(&mut self) -> Batch<'_> {
        Batch { writer: self }
    }

    /// Closes the ring from the writer's side: the reader gets every record sent, then
    /// end-of-stream. Dropping the writer does the same.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// writer.send(b"bye")?;
    /// writer.close();
    /// let mut buf = [0u8; 8];
    /// assert_eq!(reader.recv(&mut buf)?, Some(3));
    /// assert_eq!(reader.recv(&mut buf)?, None); // end-of-stream
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(mut self) {
        self.close_now();
    }

    /// Closes the ring, as [`close`](Self::close) does, then waits until the reader has
    /// received everything: the way a program waits for its pipe's reader before reporting
    /// success. `timeout` bounds the wait; `None` waits as long as needed.
    ///
    /// Returns `Ok(())` once the reader has released every record this writer sent: at once
    /// if nothing is left unread, even if no reader ever attached. While records are unread
    /// and no reader has attached, it waits for one to come, as a FIFO's writer does. Fails
    /// with:
    /// - `Closed` if the reader closed the ring with records still unread;
    /// - `PeerDied` if the reader's process died first;
    /// - `Timeout` if `timeout` passed first: the ring stays closed, and a reader can still
    ///   drain it and see end-of-stream;
    /// - `Corrupted` if the read position in shared memory is impossible.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut writer, mut reader) = shmpipe::channel(1024)?;
    /// writer.send(b"last words")?;
    /// let reading = std::thread::spawn(move || {
    ///     let mut buf = [0u8; 16];
    ///     while reader.recv(&mut buf)?.is_some() {}
    ///     Ok::<_, shmpipe::RecvError>(())
    /// });
    /// writer.close_and_wait(Some(Duration::from_secs(30)))?; // the reader has it all
    /// reading.join().unwrap()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close_and_wait(mut self, timeout: Option<Duration>) -> Result<(), SendError> {
        self.close_now();
        let wait = timeout.map_or(Wait::Forever, Wait::timeout);
        self.wait_until(wait, |state, ring| match state.drained(ring) {
            Ok(true) => Attempt::Ready(()),
            Ok(false) => Attempt::NotYet,
            Err(e) => Attempt::Failed(e),
        })
    }

    /// Lets go of the role without closing the ring, as if this process had died here:
    /// records committed but not yet published are lost, and the reader sees the writer as
    /// dead (`PeerDied`, after everything published) instead of end-of-stream. For a
    /// program that must not let a half-done stream look complete (its input failed, its
    /// ring was truncated under it); in every other case drop or close the handle.
    ///
    /// ```
    /// let (writer, _reader) = shmpipe::channel(1024)?;
    /// writer.abort();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn abort(mut self) {
        if let Some(token) = self.token.take() {
            self.memory.liveness().abandon(token);
        }
    }

    /// Closes the role if this is its last copy in any process (see `ownership`), after
    /// publishing what this handle has pending.
    fn close_now(&mut self) {
        if self.token.is_none() {
            return; // closed or aborted already
        }
        let ring = self.memory.ring();
        let state = &mut self.state;
        let published = state.publish(&ring);
        crate::ownership::release_role(
            self.memory.liveness(),
            &mut self.token,
            Role::Writer,
            published,
            || state.close(&ring),
        );
    }

    /// The chunk size `io::Write` uses: small enough that the ring holds several, so the reader
    /// can drain one while the writer fills the next.
    fn chunk(&self) -> usize {
        let quarter = (self.capacity() / 4) as usize;
        self.max_message().min(quarter.max(8))
    }
}

/// When a record is made visible to the reader: at once (`send`), or with the batch it is
/// part of (`Batch::send`, published when the batch publishes or drops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publish {
    Now,
    WithBatch,
}

/// What a wait ended with, as a send error.
fn send_error(gave: Gave<SendError>) -> SendError {
    match gave {
        Gave::Failed(e) => e,
        Gave::WouldBlock => SendError::Full,
        Gave::TimedOut => SendError::Timeout,
        Gave::PeerDied(pid) => SendError::PeerDied { pid },
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close_now();
    }
}

/// A byte stream over records: each `write` sends up to a quarter of the ring as one record.
/// Wrap it in a `BufWriter` for many small writes.
///
/// ```
/// use std::io::{Read, Write};
/// let (writer, mut reader) = shmpipe::channel(4096)?;
/// let mut out = std::io::BufWriter::new(writer);
/// for i in 0..100 {
///     write!(out, "{i} ")?;
/// }
/// drop(out); // flushes, then closes the ring
/// let mut text = String::new();
/// reader.read_to_string(&mut text)?;
/// assert!(text.starts_with("0 1 2 ") && text.ends_with(" 99 "));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl std::io::Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let n = buf.len().min(self.chunk());
        self.send(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.publish();
        Ok(())
    }
}

/// Room for one record, lent for writing in place ([`Writer::reserve`]). Dereferences to the
/// reserved bytes. [`commit`](Grant::commit) publishes it; dropping it abandons it.
#[must_use = "dropping a grant abandons the reservation: nothing is sent until it is committed"]
pub struct Grant<'a> {
    writer: &'a mut Writer,
    offset: usize,
    lent: LentMut,
    publish: Publish,
}

impl Grant<'_> {
    /// Commits the first `len` bytes as the record and publishes it (unless inside a batch).
    /// `len` larger than the reservation is an error and commits nothing.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// let text = b"shorter";
    /// let mut grant = writer.reserve(64)?; // room for the longest it may be
    /// grant[..text.len()].copy_from_slice(text);
    /// grant.commit(text.len())?; // only the bytes written
    /// assert_eq!(&*reader.recv_ref()?.unwrap(), b"shorter");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(self, len: usize) -> Result<(), SendError> {
        if len > self.len() {
            return Err(SendError::GrantExceeded {
                len,
                reserved: self.len(),
            });
        }
        self.complete(len, 0);
        Ok(())
    }

    /// Completes the record with its first `len` bytes (at most the reservation): a plain
    /// record, or (`elem` not 0) a run of `len / elem` values; published unless in a batch.
    fn complete(self, len: usize, elem: usize) {
        let Grant {
            writer,
            offset,
            lent,
            publish,
        } = self;
        // Under loom this ends the tracked write access before the record is published.
        #[allow(clippy::drop_non_drop)]
        drop(lent);
        let ring = writer.memory.ring();
        if elem == 0 {
            writer.state.commit(&ring, offset, len);
        } else {
            writer.state.commit_run(&ring, offset, len, elem);
        }
        if publish == Publish::Now {
            writer.publish();
        }
    }

    /// Commits every reserved byte.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// let mut grant = writer.reserve(3)?;
    /// grant.fill(b'z');
    /// grant.commit_all();
    /// assert_eq!(&*reader.recv_ref()?.unwrap(), b"zzz");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit_all(self) {
        let len = self.len();
        // Cannot fail: `len` is exactly the reservation.
        let _ = self.commit(len);
    }
}

impl std::fmt::Debug for Grant<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("offset", &self.offset)
            .field("len", &self.len())
            .field("publish", &self.publish)
            .finish_non_exhaustive()
    }
}

impl Deref for Grant<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the grant borrows the writer, which keeps the memory mapped; the bytes are
        // free space no reader touches until committed.
        unsafe { self.lent.as_slice() }
    }
}

impl DerefMut for Grant<'_> {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as for `deref`; `&mut self` makes this the only live slice.
        unsafe { self.lent.as_mut_slice() }
    }
}

/// Room for a run of plain-old-data values in a batch, lent for writing in place
/// ([`Batch::reserve_values`]). Dereferences to the values (`[T]`, of unspecified content
/// until written). [`commit`](ValuesGrant::commit) adds them to the batch; dropping it
/// abandons them.
#[must_use = "dropping a grant abandons the reservation: nothing is sent until it is committed"]
pub struct ValuesGrant<'a, T> {
    /// The bytes reserved; `None` for a grant of no values.
    grant: Option<Grant<'a>>,
    _values: PhantomData<T>,
}

impl<T: bytemuck::Pod> ValuesGrant<'_, T> {
    /// Commits the first `n` values as one run (published with the batch). `n` larger than
    /// the grant is `GrantExceeded` (in bytes) and commits nothing; 0 commits nothing.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(4096)?;
    /// let mut batch = writer.batch();
    /// let mut grant = batch.reserve_values::<u32>(8)?;
    /// grant[..2].copy_from_slice(&[5, 6]);
    /// grant.commit(2)?; // only the values written
    /// drop(batch);
    /// assert_eq!(&*reader.batch().recv_values_ref::<u32>()?.unwrap(), &[5, 6]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit(self, n: usize) -> Result<(), SendError> {
        let size = std::mem::size_of::<T>();
        if n > self.len() {
            return Err(SendError::GrantExceeded {
                len: n * size,
                reserved: self.len() * size,
            });
        }
        if let Some(grant) = self.grant.filter(|_| n != 0) {
            grant.complete(n * size, size);
        }
        Ok(())
    }

    /// Commits every value of the grant.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(4096)?;
    /// let mut batch = writer.batch();
    /// let mut grant = batch.reserve_values::<u16>(4)?;
    /// grant.fill(7);
    /// grant.commit_all();
    /// drop(batch);
    /// assert_eq!(reader.values::<u16>().take(4).count(), 4);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn commit_all(self) {
        let n = self.len();
        // Cannot fail: `n` is exactly the grant's.
        let _ = self.commit(n);
    }
}

impl<T> std::fmt::Debug for ValuesGrant<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValuesGrant")
            .field("grant", &self.grant)
            .finish()
    }
}

impl<T: bytemuck::Pod> Deref for ValuesGrant<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &self.grant {
            // The reserved bytes start 8 bytes after a record header, so on an 8-aligned
            // address, and `T` is aligned to at most 8 (checked at compile time): the cast
            // cannot fail.
            Some(grant) => bytemuck::cast_slice(grant),
            None => &[],
        }
    }
}

impl<T: bytemuck::Pod> DerefMut for ValuesGrant<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        match &mut self.grant {
            // As for `deref`.
            Some(grant) => bytemuck::cast_slice_mut(grant),
            None => &mut [],
        }
    }
}

/// Records published together ([`Writer::batch`]); publishes when dropped.
#[must_use = "a batch sends nothing by itself: send through it, and it publishes when dropped"]
pub struct Batch<'a> {
    writer: &'a mut Writer,
}

impl Batch<'_> {
    /// Adds `msg` to the batch, waiting for room as long as needed.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// {
    ///     let mut batch = writer.batch();
    ///     batch.send(b"one")?;
    ///     batch.send(b"two")?;
    /// } // published here
    /// assert_eq!(reader.try_iter().count(), 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.writer.push(msg, Wait::Forever, Publish::WithBatch)
    }

    /// Adds `msg` if there is room now; `Full` otherwise.
    ///
    /// ```
    /// let (mut writer, _reader) = shmpipe::channel(32)?;
    /// let mut batch = writer.batch();
    /// batch.try_send(&[0u8; 24])?; // 8 + 24: the whole ring
    /// assert!(matches!(batch.try_send(b"x"), Err(shmpipe::SendError::Full)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a message that was not sent is lost unless the error is handled"]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.writer.push(msg, Wait::Never, Publish::WithBatch)
    }

    /// Adds `msg`, waiting at most `timeout` for room; `Timeout` after that (what the batch
    /// held was published first, so the reader could make room).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut writer, _reader) = shmpipe::channel(32)?;
    /// let mut batch = writer.batch();
    /// batch.send_timeout(&[0u8; 24], Duration::from_millis(5))?;
    /// let late = batch.send_timeout(b"x", Duration::from_millis(5));
    /// assert!(matches!(late, Err(shmpipe::SendError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a message that was not sent is lost unless the error is handled"]
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        self.writer
            .push(msg, Wait::timeout(timeout), Publish::WithBatch)
    }

    /// Adds a plain-old-data value, as one record of `size_of::<T>()` bytes.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// let mut batch = writer.batch();
    /// batch.send_value(&1.5f32)?;
    /// batch.send_value(&2.5f32)?;
    /// drop(batch);
    /// assert_eq!(reader.values::<f32>().take(2).collect::<Result<Vec<_>, _>>()?, [1.5, 2.5]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_value<T: bytemuck::Pod>(&mut self, value: &T) -> Result<(), SendError> {
        self.send(bytemuck::bytes_of(value))
    }

    /// Adds every value of `values` as a message of its own, as many calls of
    /// [`send_value`](Self::send_value) would: the reader receives them one by one (with
    /// [`Reader::recv_value`](crate::Reader::recv_value), `recv`, `recv_ref`, ...) or many at a
    /// time with [`RecvBatch::recv_values`](crate::RecvBatch::recv_values), waiting for room as
    /// long as needed: the fast way to stream small values. They go in runs: one record
    /// header for up to 4 KiB of them (an eighth of a smaller ring), written and read with one
    /// copy each; a run's space goes back to the writer once its last value is received.
    /// Where a run of two does not fit (values over 2 KiB, the end of the ring, a full ring),
    /// the values are records of their own, as `send_value` writes them.
    ///
    /// Fails as `send` does; the values before the failing one were added to the batch.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(4096)?;
    /// writer.batch().send_values(&[1u64, 2, 3])?; // published when the batch drops
    /// let mut got = [0u64; 8];
    /// assert_eq!(reader.batch().recv_values(&mut got)?, 3);
    /// assert_eq!(got[..3], [1, 2, 3]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_values<T: bytemuck::Pod>(&mut self, values: &[T]) -> Result<(), SendError> {
        self.values_with(values, Wait::Forever).map(drop)
    }

    /// Adds as many values of `values` as there is room for now, as
    /// [`send_values`](Self::send_values) does, and returns how many (the first ones);
    /// `Full` if there was room for none. Never waits. Fails otherwise as `send_values` does
    /// (the values before the failing one were added).
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(64)?;
    /// let mut batch = writer.batch();
    /// let sent = batch.try_send_values(&[1u64, 2, 3, 4, 5, 6, 7, 8])?;
    /// assert!(sent > 0 && sent < 8); // a 64-byte ring holds some of them
    /// drop(batch);
    /// let mut got = [0u64; 8];
    /// assert_eq!(reader.batch().try_recv_values(&mut got)?, sent);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "values that were not sent are lost unless the count is looked at"]
    pub fn try_send_values<T: bytemuck::Pod>(&mut self, values: &[T]) -> Result<usize, SendError> {
        self.values_with(values, Wait::Never)
    }

    /// `send_values` (waiting as `wait` says): how many values were added. With
    /// `Wait::Never`, `Full` only if none was.
    fn values_with<T: bytemuck::Pod>(
        &mut self,
        values: &[T],
        wait: Wait,
    ) -> Result<usize, SendError> {
        let len = std::mem::size_of::<T>();
        let mut rest = values;
        while let Some(first) = rest.first() {
            let ring = self.writer.memory.ring();
            let run = self.writer.state.place_values(&ring, len, rest.len())?;
            if run.n != 0 {
                self.writer
                    .state
                    .write_values(&ring, run, bytemuck::cast_slice(rest));
                rest = &rest[run.n..];
                continue;
            }
            let run = self.writer.state.place_run(&ring, len, rest.len())?;
            if run.n == 0 {
                // No room without wrapping or waiting (or the reader closed): one record the
                // ordinary way, which pads, waits, or reports the error.
                match self
                    .writer
                    .push(bytemuck::bytes_of(first), wait, Publish::WithBatch)
                {
                    Err(SendError::Full) if rest.len() < values.len() => break,
                    sent => sent?,
                }
                rest = &rest[1..];
                continue;
            }
            let written =
                self.writer
                    .state
                    .write_run(&ring, run, rest.iter().map(|v| bytemuck::bytes_of(v)));
            rest = &rest[written..];
        }
        Ok(values.len() - rest.len())
    }

    /// Reserves room for up to `n` plain-old-data values as one run of values, lent for
    /// writing in place (zero-copy, like rtrb's `write_chunk_uninit`), waiting for room as long
    /// as needed. The grant holds `n` values, or fewer where a run's bound (4 KiB of values, an
    /// eighth of a smaller ring; one value at least) says so: [`ValuesGrant::len`] says how
    /// many. Committing adds them to the batch; dropping the grant abandons them. The reader
    /// receives them as any values sent together: one by one, with `recv_values`, or in place
    /// with [`RecvBatch::recv_values_ref`](crate::RecvBatch::recv_values_ref). `n` 0 reserves
    /// nothing.
    ///
    /// `T` must be of 1 to 65535 bytes, aligned to at most 8 (a compile-time error
    /// otherwise); fails as [`reserve`](Self::reserve) does.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(4096)?;
    /// let mut batch = writer.batch();
    /// let mut grant = batch.reserve_values::<u64>(3)?;
    /// for (i, v) in grant.iter_mut().enumerate() {
    ///     *v = i as u64 * 10;
    /// }
    /// grant.commit_all();
    /// drop(batch);
    /// let mut rb = reader.batch();
    /// assert_eq!(&*rb.recv_values_ref::<u64>()?.unwrap(), &[0, 10, 20]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve_values<T: bytemuck::Pod>(
        &mut self,
        n: usize,
    ) -> Result<ValuesGrant<'_, T>, SendError> {
        self.values_grant(n, Wait::Forever)
    }

    /// Like [`reserve_values`](Self::reserve_values), but `Full` if there is no room for them
    /// now.
    ///
    /// ```
    /// let (mut writer, _reader) = shmpipe::channel(256)?; // runs of up to 32 bytes
    /// let mut batch = writer.batch();
    /// for _ in 0..6 {
    ///     let grant = batch.try_reserve_values::<u64>(4)?;
    ///     assert_eq!(grant.len(), 4);
    ///     grant.commit_all(); // 8 + 32 bytes
    /// }
    /// // 240 of 256 bytes used: room for one more value, not four
    /// assert_eq!(batch.try_reserve_values::<u64>(1)?.len(), 1);
    /// assert!(matches!(
    ///     batch.try_reserve_values::<u64>(4),
    ///     Err(shmpipe::SendError::Full)
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_reserve_values<T: bytemuck::Pod>(
        &mut self,
        n: usize,
    ) -> Result<ValuesGrant<'_, T>, SendError> {
        self.values_grant(n, Wait::Never)
    }

    fn values_grant<T: bytemuck::Pod>(
        &mut self,
        n: usize,
        wait: Wait,
    ) -> Result<ValuesGrant<'_, T>, SendError> {
        const {
            assert!(
                std::mem::size_of::<T>() != 0 && std::mem::size_of::<T>() <= protocol::MAX_RUN_ELEM,
                "values in place are of 1 to 65535 bytes"
            );
            assert!(
                std::mem::align_of::<T>() <= 8,
                "values in place are aligned to at most 8 (the record alignment)"
            );
        }
        let size = std::mem::size_of::<T>();
        let bound = (protocol::max_run_bytes(self.writer.capacity()) as usize / size).max(1);
        let n = n.min(bound);
        let grant = if n == 0 {
            None
        } else {
            Some(self.writer.grant(n * size, wait, Publish::WithBatch)?)
        };
        Ok(ValuesGrant {
            grant,
            _values: PhantomData,
        })
    }

    /// Reserves room for a record in the batch, lent for writing in place; committing it adds
    /// it to the batch (published with the batch).
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// let mut batch = writer.batch();
    /// for i in 0u8..3 {
    ///     let mut grant = batch.reserve(1)?;
    ///     grant[0] = i;
    ///     grant.commit_all();
    /// }
    /// drop(batch);
    /// assert_eq!(reader.try_iter().count(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reserve(&mut self, len: usize) -> Result<Grant<'_>, SendError> {
        self.writer.grant(len, Wait::Forever, Publish::WithBatch)
    }

    /// Publishes what the batch holds so far: the reader sees it now, without waiting for the
    /// batch to drop.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// let mut batch = writer.batch();
    /// batch.send(b"early")?;
    /// assert!(reader.is_empty()); // not published yet
    /// batch.publish();
    /// assert_eq!(reader.try_iter().count(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish(&mut self) {
        self.writer.publish();
    }
}

impl std::fmt::Debug for Batch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batch")
            .field("writer", &self.writer)
            .finish()
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        self.writer.publish();
    }
}

/// Hooks for the waiters on many rings (`notify`, `WaitSet`, `shmpipe::tokio`).
impl Writer {
    /// The ring's memory (kept mapped by whoever holds a clone).
    pub(crate) fn memory(&self) -> &Arc<Memory> {
        &self.memory
    }

    /// Is the reader's process gone without closing? The pid it recorded, if so.
    pub(crate) fn peer_gone(&self) -> Option<u32> {
        Peer::new(&self.memory, self.token.as_ref(), Role::Reader).died()
    }

    /// What the handle keeps about its peer's liveness between waits, and the peer (for a
    /// wait made outside `wait::wait_for`: the async handles').
    pub(crate) fn vigil_and_peer(&mut self) -> (&mut Vigil, Peer<'_>) {
        (
            &mut self.vigil,
            Peer::new(&self.memory, self.token.as_ref(), Role::Reader),
        )
    }

    /// Without waiting: would a `len`-byte send go through now (or fail at once: reader
    /// closed, too large, corrupted)? On a full ring, publishes what is pending (so the reader
    /// can make room), as a waiting send does.
    pub(crate) fn poll_room(&mut self, len: usize) -> bool {
        let ring = self.memory.ring();
        match self.state.try_place(&ring, len, false, false) {
            Err(SendError::Full) => {
                if self.state.has_pending() {
                    self.state.publish(&ring).redeem();
                }
                false
            }
            _ => true,
        }
    }

    /// The largest record one `io::Write::write` sends.
    #[cfg(feature = "tokio")]
    pub(crate) fn write_chunk(&self) -> usize {
        self.chunk()
    }
}
