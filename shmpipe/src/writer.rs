//! The `Writer` handle: sends records, copying or in place, one at a time or in batches.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use crate::error::Role;
use crate::error::SendError;
use crate::memory::Memory;
use crate::ownership::{peer_died, Token};
use crate::protocol::{self, WriterState};
use crate::sync::LentMut;
use crate::wait::{self, Attempt, Gave, Wait};

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
    memory: Arc<Memory>,
    state: WriterState,
    spin: Duration,
    /// What proves this handle holds its role (see `ownership`); `None` once let go.
    token: Option<Token>,
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
            _not_sync: PhantomData,
        }
    }

    /// The ring's data capacity in bytes.
    pub fn capacity(&self) -> u64 {
        self.memory.geometry.capacity
    }

    /// The largest message one send can carry.
    pub fn max_message(&self) -> usize {
        protocol::max_message(self.capacity())
    }

    /// Sets how long a blocked send spins before it sleeps.
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
        match self.state.try_place(&self.memory.ring(), len) {
            Err(SendError::Full) => self.place_slow(len, wait),
            placed => placed,
        }
    }

    /// `place` when the ring was full at the first attempt.
    #[cold]
    #[inline(never)]
    fn place_slow(&mut self, len: usize, wait: Wait) -> Result<usize, SendError> {
        let ring = self.memory.ring();
        let header = ring.header;
        let state = &mut self.state;
        wait::wait_for(
            header,
            &header.writer,
            peer_died(&self.memory, self.token.as_ref(), Role::Reader),
            wait,
            self.spin,
            || match state.try_place(&ring, len) {
                Ok(offset) => Attempt::Ready(offset),
                Err(SendError::Full) => {
                    if state.has_pending() && state.publish(&ring) {
                        wait::futex_wake(header, &header.reader.wake);
                    }
                    Attempt::NotYet
                }
                Err(e) => Attempt::Failed(e),
            },
        )
        .map_err(send_error)
    }

    /// Copies `msg` in as one record; publishes it unless inside a batch.
    #[inline(always)]
    fn push(&mut self, msg: &[u8], wait: Wait, publish: bool) -> Result<(), SendError> {
        let offset = self.place(msg.len(), wait)?;
        let ring = self.memory.ring();
        // SAFETY: `place` found room for a `msg.len()`-byte payload at `offset`: free space
        // owned by the writer until it is published.
        unsafe { ring.data.write(offset, msg) };
        self.state.commit(&ring, offset, msg.len());
        if publish {
            self.publish();
        }
        Ok(())
    }

    /// Makes committed records visible and wakes a sleeping reader.
    #[inline]
    fn publish(&mut self) {
        let ring = self.memory.ring();
        if self.state.publish(&ring) {
            wait::futex_wake(ring.header, &ring.header.reader.wake);
        }
    }

    /// Sends `msg` as one record, waiting for room (spinning, then sleeping) as long as needed.
    ///
    /// Fails with `Closed` once the reader has closed, `PeerDied` if the reader's process
    /// dies while we wait, `TooLarge` if the message can never fit.
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
        self.push(msg, Wait::Forever, true)
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
    #[inline]
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.push(msg, Wait::Never, true)
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
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        self.push(msg, Wait::timeout(timeout), true)
    }

    /// Sends a plain-old-data value as one record of `size_of::<T>()` bytes.
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

    fn grant(&mut self, len: usize, wait: Wait, publish: bool) -> Result<Grant<'_>, SendError> {
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
        self.grant(len, Wait::Forever, true)
    }

    /// Like [`reserve`](Self::reserve), but `Full` if there is no room now.
    pub fn try_reserve(&mut self, len: usize) -> Result<Grant<'_>, SendError> {
        self.grant(len, Wait::Never, true)
    }

    /// Like [`reserve`](Self::reserve), but `Timeout` after `timeout`.
    pub fn reserve_timeout(
        &mut self,
        len: usize,
        timeout: Duration,
    ) -> Result<Grant<'_>, SendError> {
        self.grant(len, Wait::timeout(timeout), true)
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
        let ring = self.memory.ring();
        let header = ring.header;
        let state = &mut self.state;
        let wait = timeout.map_or(Wait::Forever, Wait::timeout);
        // The reader wakes this writer's futex word after each release and when it closes.
        wait::wait_for(
            header,
            &header.writer,
            peer_died(&self.memory, self.token.as_ref(), Role::Reader),
            wait,
            self.spin,
            || match state.drained(&ring) {
                Ok(true) => Attempt::Ready(()),
                Ok(false) => Attempt::NotYet,
                Err(e) => Attempt::Failed(e),
            },
        )
        .map_err(send_error)
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
            token.abandon(&self.memory);
        }
    }

    /// Loom only: the process holding this writer dies here (see [`abort`](Self::abort)).
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn crash(self) {
        self.abort();
    }

    /// Loom only: a copy of this handle in another (modelled) process, as `fork` makes: the
    /// role ends when the last copy is dropped.
    #[cfg(loom)]
    #[doc(hidden)]
    pub fn loom_fork(&self) -> Self {
        let token = self.token.as_ref().and_then(|t| t.loom_fork(&self.memory));
        Writer {
            memory: self.memory.clone(),
            state: self.state.clone(),
            spin: self.spin,
            token,

            _not_sync: PhantomData,
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
            &self.memory,
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
pub struct Grant<'a> {
    writer: &'a mut Writer,
    offset: usize,
    lent: LentMut,
    publish: bool,
}

impl Grant<'_> {
    /// Commits the first `len` bytes as the record and publishes it (unless inside a batch).
    /// `len` larger than the reservation is an error and commits nothing.
    pub fn commit(self, len: usize) -> Result<(), SendError> {
        if len > self.len() {
            return Err(SendError::GrantExceeded {
                len,
                reserved: self.len(),
            });
        }
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
        writer.state.commit(&ring, offset, len);
        if publish {
            writer.publish();
        }
        Ok(())
    }

    /// Commits every reserved byte.
    pub fn commit_all(self) {
        let len = self.len();
        // Cannot fail: `len` is exactly the reservation.
        let _ = self.commit(len);
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

/// Records published together ([`Writer::batch`]); publishes when dropped.
pub struct Batch<'a> {
    writer: &'a mut Writer,
}

impl Batch<'_> {
    /// Adds `msg` to the batch, waiting for room as long as needed.
    #[inline]
    pub fn send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.writer.push(msg, Wait::Forever, false)
    }

    /// Adds `msg` if there is room now; `Full` otherwise.
    pub fn try_send(&mut self, msg: &[u8]) -> Result<(), SendError> {
        self.writer.push(msg, Wait::Never, false)
    }

    /// Adds `msg`, waiting at most `timeout` for room.
    pub fn send_timeout(&mut self, msg: &[u8], timeout: Duration) -> Result<(), SendError> {
        self.writer.push(msg, Wait::timeout(timeout), false)
    }

    /// Adds a plain-old-data value.
    pub fn send_value<T: bytemuck::Pod>(&mut self, value: &T) -> Result<(), SendError> {
        self.send(bytemuck::bytes_of(value))
    }

    /// Adds every value of `values` as a record of its own, as many calls of
    /// [`send_value`](Self::send_value) would (the reader receives them one by one, with
    /// [`Reader::recv_value`](crate::Reader::recv_value), or many at a time with
    /// [`RecvBatch::recv_values`](crate::RecvBatch::recv_values)), waiting for room as long as
    /// needed. Writes as many records as fit at once with one check of the room and of the
    /// reader: the fast way to stream small values.
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
        let len = std::mem::size_of::<T>();
        let mut rest = values;
        while let Some(first) = rest.first() {
            let ring = self.writer.memory.ring();
            let (header_at, n) = self.writer.state.place_run(&ring, len, rest.len())?;
            if n == 0 {
                // No room without wrapping or waiting (or the reader closed): one record the
                // ordinary way, which pads, waits, or reports the error.
                self.send_value(first)?;
                rest = &rest[1..];
                continue;
            }
            let size = crate::protocol::record_size(len) as usize;
            let header = crate::protocol::encode_record_header(len as u32, 0);
            for (i, value) in rest[..n].iter().enumerate() {
                let at = header_at + i * size;
                // SAFETY: `place_run` found `n` records' room from `header_at`, before the end
                // of the region, in free space the writer owns until it publishes: the header
                // word at `at` (8-aligned) and the `len` payload bytes after it.
                unsafe {
                    ring.data.write_word(at, header);
                    ring.data.write(at + 8, bytemuck::bytes_of(value));
                }
            }
            self.writer.state.commit_run(&ring, header_at, len, n);
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Reserves room for a record in the batch, lent for writing in place.
    pub fn reserve(&mut self, len: usize) -> Result<Grant<'_>, SendError> {
        self.writer.grant(len, Wait::Forever, false)
    }

    /// Publishes what the batch holds so far.
    pub fn publish(&mut self) {
        self.writer.publish();
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
        peer_died(&self.memory, self.token.as_ref(), Role::Reader)()
    }

    /// Without waiting: would a `len`-byte send go through now (or fail at once: reader
    /// closed, too large, corrupted)? On a full ring, publishes what is pending (so the reader
    /// can make room), as a waiting send does.
    pub(crate) fn poll_room(&mut self, len: usize) -> bool {
        let ring = self.memory.ring();
        match self.state.try_place(&ring, len) {
            Err(SendError::Full) => {
                if self.state.has_pending() && self.state.publish(&ring) {
                    wait::futex_wake(ring.header, &ring.header.reader.wake);
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
