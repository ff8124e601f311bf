//! The `Reader` handle: receives records by copy or in place, or as a byte stream.

use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use crate::error::RecvError;
use crate::layout::Role;
use crate::memory::Memory;
use crate::ownership::Token;
use crate::peer::Peer;
use crate::protocol::{self, Poll, ReaderState, RecordRef};
use crate::region::Lent;
use crate::wait::{self, Attempt, Gave, Vigil, Wait};

/// When a received record's space goes back to the writer: at once (`recv`), or with the
/// receive batch it is part of (`RecvBatch`, published once an eighth of the ring is released,
/// before the reader waits, and when the batch drops).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Release {
    Now,
    WithBatch,
}

/// What a readiness check does with zero-length records: count them as messages (the message
/// API), or release them on the way (the byte stream, which does not see them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Empties {
    Count,
    Skip,
}

/// The receiving end of a ring. There is exactly one per ring, across all processes.
///
/// `Send` but neither `Clone` nor `Sync`. Receiving returns `Ok(None)` at end-of-stream: after
/// the writer closed and every record was delivered. Dropping the reader closes the ring: the
/// writer's next send fails with `Closed`.
///
/// ```compile_fail
/// fn shared<T: Sync>(_: &T) {}
/// let (_writer, reader) = shmpipe::channel(64).unwrap();
/// shared(&reader); // a Reader is not Sync
/// ```
///
/// ```compile_fail
/// let (_writer, reader) = shmpipe::channel(64).unwrap();
/// let second = reader.clone(); // a Reader is not Clone: one reader per ring
/// ```
///
/// # Across `fork`
///
/// Like a pipe's read end: a reader copied into a child by `fork` belongs to every process
/// holding a copy, closes (the writer's next send fails with `Closed`) when the last copy is
/// dropped, and is dead (`PeerDied` for the writer) only when the last holder dies. Use it in
/// one process only, dropping the copies elsewhere. See [`Writer`](crate::Writer) for the
/// pipe(2) idiom with both ends.
pub struct Reader {
    pub(crate) memory: Arc<Memory>,
    pub(crate) state: ReaderState,
    pub(crate) spin: Duration,
    /// What proves this handle holds its role (see `ownership`); `None` once let go.
    pub(crate) token: Option<Token>,
    /// What the handle keeps between its waits about its peer's liveness.
    vigil: Vigil,
    /// The record being read, held (not yet released) across calls: one a `recv` refused as
    /// too large, one `BufRead` has partly consumed, or a run of values some of which were
    /// taken (`consumed` bytes of it).
    current: Option<(RecordRef, usize)>,
    _not_sync: PhantomData<Cell<()>>,
}

impl std::fmt::Debug for Reader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("state", &self.state)
            .finish()
    }
}

impl Reader {
    pub(crate) fn new(
        memory: Arc<Memory>,
        state: ReaderState,
        spin: Duration,
        token: Token,
    ) -> Self {
        Reader {
            memory,
            state,
            spin,
            token: Some(token),
            vigil: Vigil::default(),
            current: None,
            _not_sync: PhantomData,
        }
    }

    /// The ring's data capacity in bytes.
    ///
    /// ```
    /// let (_writer, reader) = shmpipe::channel(4096)?;
    /// assert_eq!(reader.capacity(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(&self) -> u64 {
        self.memory.geometry.capacity
    }

    /// The largest message the ring carries: the capacity less one 8-byte record header.
    ///
    /// ```
    /// let (_writer, reader) = shmpipe::channel(4096)?;
    /// assert_eq!(reader.max_message(), 4088);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_message(&self) -> usize {
        protocol::max_message(self.capacity())
    }

    /// Sets how long a blocked receive spins before it sleeps (50 µs unless
    /// [`RingOptions::spin`](crate::RingOptions::spin) said otherwise). Zero sleeps at once:
    /// the least CPU, the slowest wake-up.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_writer, mut reader) = shmpipe::channel(4096)?;
    /// reader.set_spin(Duration::ZERO);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_spin(&mut self, spin: Duration) {
        self.spin = spin;
    }

    /// The next message (held as `current` until finished): the unread part of the next
    /// record, or of the value it is at in a run of values; `None` at end-of-stream.
    ///
    /// The first look at the ring is inlined into the caller; only an empty ring (or a padding
    /// record, the end of the stream, an error) takes the out-of-line waiting path, which looks
    /// again.
    #[inline]
    fn next(&mut self, wait: Wait) -> Result<Option<(usize, usize)>, RecvError> {
        if let Some((record, consumed)) = self.current {
            return Ok(Some((
                record.offset + consumed,
                record.message_at(consumed),
            )));
        }
        if let Some(record) = self.state.try_next_fast(&self.memory.ring(), wait.blocks()) {
            self.current = Some((record, 0));
            return Ok(Some((record.offset, record.len)));
        }
        self.next_slow(wait)
    }

    /// `next` when no record was published at the first look.
    #[cold]
    #[inline(never)]
    fn next_slow(&mut self, wait: Wait) -> Result<Option<(usize, usize)>, RecvError> {
        let ring = self.memory.ring();
        let header = ring.header;
        let state = &mut self.state;
        let found = wait::wait_for(
            &header.reader,
            Peer::new(&self.memory, self.token.as_ref(), Role::Writer),
            &mut self.vigil,
            wait,
            // No doze: a reader waiting for records is woken at once (wait::WRITER_DOZE).
            (self.spin, Duration::ZERO),
            || match state.poll(&ring) {
                Ok(Poll::Record(record)) => Attempt::Ready(Some(record)),
                Ok(nothing) => {
                    // Before waiting, and at end-of-stream, publish what was released without
                    // a store yet (a skipped padding record, a receive batch): a writer waiting
                    // for that room, or for the reader to drain (`Writer::close_and_wait`),
                    // would otherwise wait for ever.
                    state.publish_skipped(&ring).redeem();
                    if nothing == Poll::Eof {
                        Attempt::Ready(None)
                    } else {
                        Attempt::NotYet
                    }
                }
                Err(e) => Attempt::Failed(e),
            },
        )
        .map_err(|gave| match gave {
            Gave::Failed(e) => e,
            Gave::WouldBlock => RecvError::Empty,
            Gave::TimedOut => RecvError::Timeout,
            Gave::PeerDied(pid) => RecvError::PeerDied { pid },
        })?;
        Ok(found.map(|record| {
            self.current = Some((record, 0));
            (record.offset, record.message_at(0))
        }))
    }

    /// Releases the current record to the writer and wakes it if it sleeps.
    #[inline]
    fn finish_current(&mut self) {
        self.finish_current_then(Release::Now);
    }

    /// Finishes the current message: releases its record, now or (`defer`) with the receive
    /// batch (see `release`), unless it is a value of a run with more values after it.
    #[inline]
    fn finish_current_then(&mut self, release: Release) {
        if let Some((record, consumed)) = self.current {
            self.take_current(record.message_at(consumed), release);
        }
    }

    /// Takes `bytes` more of the current record (a message, values, bytes of the stream):
    /// releases it, now or (`defer`) with the batch, once all of it is taken.
    #[inline]
    fn take_current(&mut self, bytes: usize, release: Release) {
        if let Some((record, consumed)) = self.current.as_mut() {
            *consumed = (*consumed + bytes).min(record.len);
            if *consumed == record.len {
                let record = *record;
                self.current = None;
                self.release(record, release);
            }
        }
    }

    /// Copies values of `size_of::<T>()` bytes out of the run of values held as `current`
    /// into `out`, with one copy, releasing the run with the batch once all are taken. How
    /// many it took: 0 when no such run is held at a value boundary.
    fn take_held_values<T: bytemuck::Pod>(&mut self, out: &mut [T]) -> usize {
        let elem = std::mem::size_of::<T>();
        let Some((record, consumed)) = self.current else {
            return 0;
        };
        if record.elem != elem || consumed % elem != 0 {
            return 0;
        }
        let n = ((record.len - consumed) / elem).min(out.len());
        // SAFETY: a published run record held as `current`, `n` whole values of which lie after
        // the `consumed` bytes already taken.
        unsafe {
            self.memory.ring().data.read(
                record.offset + consumed,
                bytemuck::cast_slice_mut(&mut out[..n]),
            )
        };
        self.take_current(n * elem, Release::WithBatch);
        n
    }

    /// Releases `record` to the writer: published now (waking the writer if it sleeps), or
    /// (`defer`, a receive batch) once an eighth of the ring is released, so the writer never
    /// waits long for room.
    #[inline]
    fn release(&mut self, record: RecordRef, when: Release) {
        let ring = self.memory.ring();
        if when == Release::WithBatch {
            self.state.release_deferred(&ring, record);
            self.publish_if_due();
        } else {
            self.state.release(&ring, record).redeem();
        }
    }

    /// In a receive batch: publishes the releases once an eighth of the ring is released.
    #[inline]
    fn publish_if_due(&mut self) {
        if self.state.unpublished_bytes() >= self.capacity() / 8 {
            self.publish_released();
        }
    }

    /// Publishes records released but not yet published, waking the writer if it sleeps.
    fn publish_released(&mut self) {
        self.state.publish_skipped(&self.memory.ring()).redeem();
    }

    #[inline]
    fn copy_out(&mut self, buf: &mut [u8], wait: Wait) -> Result<Option<usize>, RecvError> {
        self.copy_out_then(buf, wait, Release::Now)
    }

    /// Copies the next record into `buf` and releases it, now or (`defer`) with the batch.
    ///
    /// The common case (no record held, a data record published, `buf` big enough) is inlined
    /// into the caller; everything else takes `copy_out_more`.
    #[inline(always)]
    fn copy_out_then(
        &mut self,
        buf: &mut [u8],
        wait: Wait,
        release: Release,
    ) -> Result<Option<usize>, RecvError> {
        self.copy_out_slipping(buf, wait, release, wait.blocks())
    }

    /// `try_recv` for a caller that waits when it finds the ring empty (the async receive):
    /// its look may wait the slip's delay first, as a blocking receive's does (see `slip`).
    #[cfg(feature = "tokio")]
    #[inline(always)]
    pub(crate) fn try_recv_slipping(&mut self, buf: &mut [u8]) -> Result<Option<usize>, RecvError> {
        self.copy_out_slipping(buf, Wait::Never, Release::Now, true)
    }

    /// `copy_out_then`, with the first look waiting the slip's delay if `slip`.
    #[inline(always)]
    fn copy_out_slipping(
        &mut self,
        buf: &mut [u8],
        wait: Wait,
        release: Release,
        slip: bool,
    ) -> Result<Option<usize>, RecvError> {
        if self.current.is_none() {
            let ring = self.memory.ring();
            if let Some(record) = self.state.try_next_fast(&ring, slip) {
                if let Some(dst) = buf.get_mut(..record.len) {
                    // SAFETY: `try_next_fast` validated that `record.len` bytes at
                    // `record.offset` are a published record, ours until released below.
                    unsafe { ring.data.read(record.offset, dst) };
                    self.release(record, release);
                    return Ok(Some(record.len));
                }
            }
        }
        self.copy_out_more(buf, wait, release)
    }

    /// `copy_out_then` past its common case: a held record, an empty ring, padding, a record
    /// too big for `buf`, end-of-stream or an error.
    #[inline(never)]
    fn copy_out_more(
        &mut self,
        buf: &mut [u8],
        wait: Wait,
        release: Release,
    ) -> Result<Option<usize>, RecvError> {
        let Some((offset, len)) = self.next(wait)? else {
            return Ok(None);
        };
        if len > buf.len() {
            return Err(RecvError::BufferTooSmall {
                needed: len,
                available: buf.len(),
            });
        }
        // SAFETY: `next` validated that `len` bytes at `offset` are a published record, held by
        // us until `finish_current` releases it.
        unsafe { self.memory.ring().data.read(offset, &mut buf[..len]) };
        self.finish_current_then(release);
        Ok(Some(len))
    }

    /// Receives the next record into `buf`, waiting (spinning, then sleeping) as long as
    /// needed. Returns its length, or `None` at end-of-stream.
    ///
    /// A record longer than `buf` is `BufferTooSmall` and stays in the ring for a bigger
    /// buffer. `PeerDied` comes only after every record the dead writer committed.
    ///
    /// A reader that streams on the writer's heels (each look at the ring finding a few small
    /// records, and more each time it waits) waits a moment before it looks again, from
    /// 250 ns doubling up to 8 µs, so it takes records in batches instead of pulling the
    /// writer's cache lines away one record at a time (temporal slipping; several times the
    /// throughput in that case, docs/BENCHMARKS.md). A ping-pong, where each look finds the one
    /// reply however long it waits, never waits so; a record published during such a wait is
    /// taken at most 8 µs late. [`try_recv`](Self::try_recv) never waits. While it waits so,
    /// in a ring of at most 1 MiB, it also hands each 64-byte line of records of up to 256
    /// bytes back to memory once it has taken them (`clflush`), so the writer's next stores
    /// there need not claim the line from this core (docs/BENCHMARKS.md, "Handing lines
    /// back"): a cache hint, which changes nothing the writer or the reader reads.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// writer.send(b"abc")?;
    /// drop(writer);
    /// let mut buf = [0u8; 8];
    /// assert_eq!(reader.recv(&mut buf)?, Some(3));
    /// assert_eq!(reader.recv(&mut buf)?, None); // end-of-stream
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use = "a received message is lost if the result is not looked at"]
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, RecvError> {
        self.copy_out(buf, Wait::Forever)
    }

    /// Receives the next record if one is there now; `Empty` otherwise.
    ///
    /// A non-empty ring stays non-empty until this reader takes from it; an empty one may fill
    /// at any moment.
    ///
    /// ```
    /// let (_writer, mut reader) = shmpipe::channel(256)?;
    /// let mut buf = [0u8; 8];
    /// assert!(matches!(reader.try_recv(&mut buf), Err(shmpipe::RecvError::Empty)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received message is lost if the result is not looked at"]
    #[inline]
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, RecvError> {
        self.copy_out(buf, Wait::Never)
    }

    /// Receives the next record, waiting at most `timeout`; `Timeout` after that.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// let mut buf = [0u8; 8];
    /// let waited = reader.recv_timeout(&mut buf, Duration::from_millis(5));
    /// assert!(matches!(waited, Err(shmpipe::RecvError::Timeout)));
    /// writer.send(b"late")?;
    /// assert_eq!(reader.recv_timeout(&mut buf, Duration::from_secs(1))?, Some(4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received message is lost if the result is not looked at"]
    pub fn recv_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<Option<usize>, RecvError> {
        self.copy_out(buf, Wait::timeout(timeout))
    }

    fn lend(&mut self, wait: Wait) -> Result<Option<RecvRef<'_>>, RecvError> {
        let Some((offset, len)) = self.next(wait)? else {
            return Ok(None);
        };
        // SAFETY: a published record held by us until the guard releases it.
        let lent = unsafe { self.memory.ring().data.lend(offset, len) };
        Ok(Some(RecvRef { reader: self, lent }))
    }

    /// Receives the next record in place (zero-copy): the guard dereferences to the record's
    /// bytes in shared memory and releases them to the writer when dropped.
    ///
    /// The bytes live in memory the writer's process can also write to; a correct writer does
    /// not touch a record until it is released, but a hostile one could change it while you
    /// read. Copy out (with [`recv`](Self::recv)) what must not change under you.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// writer.send(b"in place")?;
    /// let record = reader.recv_ref()?.expect("a record");
    /// assert_eq!(&*record, b"in place");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received message is lost if the result is not looked at"]
    pub fn recv_ref(&mut self) -> Result<Option<RecvRef<'_>>, RecvError> {
        self.lend(Wait::Forever)
    }

    /// Like [`recv_ref`](Self::recv_ref), but `Empty` if nothing is there now.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// assert!(matches!(reader.try_recv_ref(), Err(shmpipe::RecvError::Empty)));
    /// writer.send(b"here")?;
    /// assert_eq!(&*reader.try_recv_ref()?.expect("a record"), b"here");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received message is lost if the result is not looked at"]
    pub fn try_recv_ref(&mut self) -> Result<Option<RecvRef<'_>>, RecvError> {
        self.lend(Wait::Never)
    }

    /// Like [`recv_ref`](Self::recv_ref), but `Timeout` after `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (writer, mut reader) = shmpipe::channel(256)?;
    /// assert!(matches!(
    ///     reader.recv_ref_timeout(Duration::from_millis(5)),
    ///     Err(shmpipe::RecvError::Timeout)
    /// ));
    /// drop(writer);
    /// assert!(reader.recv_ref_timeout(Duration::from_secs(1))?.is_none()); // end-of-stream
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received message is lost if the result is not looked at"]
    pub fn recv_ref_timeout(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<RecvRef<'_>>, RecvError> {
        self.lend(Wait::timeout(timeout))
    }

    /// Starts a receive batch: records received through it are released to the writer
    /// together, with one store of the read position and one check for a sleeping writer,
    /// instead of one of each per record (the mirror of [`Writer::batch`](crate::Writer::batch)).
    /// Released records are published when an eighth of the ring has been received, before the
    /// reader waits on an empty ring, and when the batch is dropped; until then the writer does
    /// not see their space.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(1024)?;
    /// for i in 0u8..10 {
    ///     writer.send(&[i])?;
    /// }
    /// let mut buf = [0u8; 1];
    /// let mut batch = reader.batch();
    /// for i in 0u8..10 {
    ///     assert_eq!(batch.recv(&mut buf)?, Some(1));
    ///     assert_eq!(buf[0], i);
    /// }
    /// drop(batch); // one release for ten records
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn batch(&mut self) -> RecvBatch<'_> {
        RecvBatch { reader: self }
    }

    /// Receives a plain-old-data value sent with `send_value`, waiting as
    /// [`recv`](Self::recv) does; `None` at end-of-stream. A record of another length is
    /// `LengthMismatch` (never a panic) and stays in the ring. See also
    /// [`try_recv_value`](Self::try_recv_value), [`recv_value_timeout`](Self::recv_value_timeout)
    /// and [`values`](Self::values).
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// writer.send_value(&[3u32, 4])?;
    /// writer.send(b"xyz")?;
    /// assert_eq!(reader.recv_value::<[u32; 2]>()?, Some([3, 4]));
    /// assert!(matches!(
    ///     reader.recv_value::<[u32; 2]>(),
    ///     Err(shmpipe::RecvError::LengthMismatch { expected: 8, found: 3 })
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received value is lost if the result is not looked at"]
    pub fn recv_value<T: bytemuck::Pod>(&mut self) -> Result<Option<T>, RecvError> {
        self.value_then(Wait::Forever, Release::Now)
    }

    /// `recv_value`, releasing the record now or (`defer`) with the receive batch.
    fn value_then<T: bytemuck::Pod>(
        &mut self,
        wait: Wait,
        release: Release,
    ) -> Result<Option<T>, RecvError> {
        let Some((offset, len)) = self.next(wait)? else {
            return Ok(None);
        };
        let expected = std::mem::size_of::<T>();
        if len != expected {
            return Err(RecvError::LengthMismatch {
                expected,
                found: len,
            });
        }
        let mut value = T::zeroed();
        // SAFETY: a published record of exactly `size_of::<T>()` bytes, held by us.
        unsafe {
            self.memory
                .ring()
                .data
                .read(offset, bytemuck::bytes_of_mut(&mut value))
        };
        self.finish_current_then(release);
        Ok(Some(value))
    }

    /// Receives a plain-old-data value as `recv_value` does, waiting as `wait` says (for the
    /// typed receives in `typed`). A record of another length is `LengthMismatch` and stays.
    pub(crate) fn value_waiting<T: bytemuck::Pod>(
        &mut self,
        wait: Wait,
    ) -> Result<Option<T>, RecvError> {
        self.value_then(wait, Release::Now)
    }

    /// Closes the ring from the reader's side: the writer's next send fails with `Closed`
    /// (a pipe's `EPIPE`, without a `SIGPIPE`). Dropping the reader does the same.
    ///
    /// ```
    /// let (mut writer, reader) = shmpipe::channel(256)?;
    /// reader.close();
    /// assert!(matches!(writer.send(b"anyone?"), Err(shmpipe::SendError::Closed)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn close(mut self) {
        self.close_now();
    }

    /// Lets go of the role without closing the ring, as if this process had died here:
    /// records committed but not yet published are lost, and the writer sees the reader as
    /// dead (`PeerDied`, after everything published) instead of a close. For a
    /// program that must not let a half-done stream look complete (its input failed, its
    /// ring was truncated under it); in every other case drop or close the handle.
    ///
    /// ```
    /// let (_writer, reader) = shmpipe::channel(1024)?;
    /// reader.abort();
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
        let published = state.publish_skipped(&ring);
        crate::ownership::release_role(
            self.memory.liveness(),
            &mut self.token,
            Role::Reader,
            published,
            || state.close(&ring),
        );
    }
}

impl Drop for Reader {
    fn drop(&mut self) {
        self.close_now();
    }
}

/// The records' payloads as one byte stream, for `io::copy` and friends. End-of-stream is a
/// read of 0; a dead writer is `ConnectionAborted` after its last committed byte.
///
/// ```
/// use std::io::{BufRead, Write};
/// let (mut writer, reader) = shmpipe::channel(1024)?;
/// writer.write_all(b"first line\nsecond ")?;
/// writer.write_all(b"line\n")?; // lines need not follow the records
/// drop(writer);
/// let lines: Vec<String> = reader.lines().collect::<Result<_, _>>()?;
/// assert_eq!(lines, ["first line", "second line"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl std::io::BufRead for Reader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        loop {
            match self.next(Wait::Forever)? {
                None => return Ok(&[]),
                Some((_, 0)) => self.finish_current(),
                Some((offset, len)) => {
                    // SAFETY: a published record held as `current` until consumed; the
                    // returned slice borrows `self`, which keeps the memory mapped.
                    let lent = unsafe { self.memory.ring().data.lend(offset, len) };
                    // SAFETY: as above.
                    return Ok(unsafe { lent.as_slice() });
                }
            }
        }
    }

    fn consume(&mut self, amt: usize) {
        self.take_current(amt, Release::Now);
    }
}

/// The records' payloads as one byte stream (see the `BufRead` implementation).
///
/// ```
/// use std::io::Read;
/// let (mut writer, mut reader) = shmpipe::channel(1024)?;
/// writer.send(b"one ")?;
/// writer.send(b"stream")?;
/// drop(writer);
/// let mut text = String::new();
/// reader.read_to_string(&mut text)?;
/// assert_eq!(text, "one stream");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl std::io::Read for Reader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use std::io::BufRead;
        if buf.is_empty() {
            return Ok(0);
        }
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

/// Records received together ([`Reader::batch`]); their release is published when dropped.
#[must_use = "a receive batch receives nothing by itself: receive through it"]
pub struct RecvBatch<'a> {
    reader: &'a mut Reader,
}

impl RecvBatch<'_> {
    /// Receives the next record into `buf`, as [`Reader::recv`] does, releasing it with the
    /// batch.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// writer.send(b"in a batch")?;
    /// drop(writer);
    /// let mut batch = reader.batch();
    /// let mut buf = [0u8; 16];
    /// assert_eq!(batch.recv(&mut buf)?, Some(10));
    /// assert_eq!(batch.recv(&mut buf)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    #[must_use = "a received message is lost if the result is not looked at"]
    pub fn recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, RecvError> {
        self.reader
            .copy_out_then(buf, Wait::Forever, Release::WithBatch)
    }

    /// Receives the next record if one is there now; `Empty` otherwise (after publishing what
    /// the batch released).
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// writer.send(b"a")?;
    /// writer.send(b"b")?;
    /// let mut batch = reader.batch();
    /// let mut buf = [0u8; 1];
    /// let mut n = 0;
    /// while batch.try_recv(&mut buf).is_ok() {
    ///     n += 1; // stops at `Empty`
    /// }
    /// assert_eq!(n, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received message is lost if the result is not looked at"]
    pub fn try_recv(&mut self, buf: &mut [u8]) -> Result<Option<usize>, RecvError> {
        self.reader
            .copy_out_then(buf, Wait::Never, Release::WithBatch)
    }

    /// Receives the next record, waiting at most `timeout`; `Timeout` after that.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_writer, mut reader) = shmpipe::channel(256)?;
    /// let mut batch = reader.batch();
    /// let mut buf = [0u8; 8];
    /// let waited = batch.recv_timeout(&mut buf, Duration::from_millis(5));
    /// assert!(matches!(waited, Err(shmpipe::RecvError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received message is lost if the result is not looked at"]
    pub fn recv_timeout(
        &mut self,
        buf: &mut [u8],
        timeout: Duration,
    ) -> Result<Option<usize>, RecvError> {
        self.reader
            .copy_out_then(buf, Wait::timeout(timeout), Release::WithBatch)
    }

    /// Receives plain-old-data values sent with `send_value` or
    /// [`Batch::send_values`](crate::Batch::send_values) into `out`: waits (as `recv` does) for
    /// the first, then takes every further one already published, up to `out.len()`: a run
    /// of values sent together with one copy, values sent one by one with one check of their
    /// headers each. Returns how many it stored; 0 at end-of-stream (or for an empty `out`). A
    /// record of another length is `LengthMismatch` if it comes first, and otherwise ends the
    /// run, staying in the ring for the next call. Values of a run not taken stay in the ring
    /// for the next receive, of any kind; the run's space goes back to the writer with its
    /// last value.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(4096)?;
    /// writer.batch().send_values(&[7u32; 5])?;
    /// drop(writer);
    /// let mut got = [0u32; 4];
    /// let mut batch = reader.batch();
    /// assert_eq!(batch.recv_values(&mut got)?, 4);
    /// assert_eq!(batch.recv_values(&mut got)?, 1);
    /// assert_eq!(batch.recv_values(&mut got)?, 0); // end-of-stream
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_values<T: bytemuck::Pod>(&mut self, out: &mut [T]) -> Result<usize, RecvError> {
        self.values_into(out, Wait::Forever)
    }

    /// Like [`recv_values`](Self::recv_values), but `Empty` if no value is there now.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(4096)?;
    /// let mut got = [0u16; 8];
    /// let mut batch = reader.batch();
    /// assert!(matches!(batch.try_recv_values(&mut got), Err(shmpipe::RecvError::Empty)));
    /// writer.batch().send_values(&[1u16, 2, 3])?;
    /// assert_eq!(batch.try_recv_values(&mut got)?, 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv_values<T: bytemuck::Pod>(&mut self, out: &mut [T]) -> Result<usize, RecvError> {
        self.values_into(out, Wait::Never)
    }

    fn values_into<T: bytemuck::Pod>(
        &mut self,
        out: &mut [T],
        wait: Wait,
    ) -> Result<usize, RecvError> {
        let Some(slot) = out.first_mut() else {
            return Ok(0);
        };
        let Some(first) = self.reader.value_then(wait, Release::WithBatch)? else {
            return Ok(0);
        };
        *slot = first;
        let mut got = 1;
        let len = std::mem::size_of::<T>();
        while got < out.len() {
            // The rest of a run of values being taken (the first value may have started it).
            let taken = self.reader.take_held_values(&mut out[got..]);
            if taken != 0 {
                got += taken;
                continue;
            }
            if self.reader.current.is_some() {
                break; // a record `recv_value` refused, or a run of other values part-taken
            }
            // Values sent one by one: records of exactly `len` bytes.
            let ring = self.reader.memory.ring();
            let (offset, n) = self.reader.state.next_run(&ring, len, out.len() - got);
            let size = crate::protocol::record_size(len) as usize;
            for (i, slot) in out[got..got + n].iter_mut().enumerate() {
                // SAFETY: `next_run` found `n` published records of exactly `len` bytes, back
                // to back from `offset`, ours until released below.
                unsafe {
                    ring.data
                        .read(offset + i * size, bytemuck::bytes_of_mut(slot))
                };
            }
            self.reader.state.release_run(len, n);
            got += n;
            if n == 0 {
                // Values sent together: a run record, taken at the top of the loop.
                match self.reader.state.next_values(&ring, len) {
                    Some(record) => self.reader.current = Some((record, 0)),
                    None => break,
                }
            }
        }
        self.reader.publish_if_due();
        Ok(got)
    }

    /// Receives plain-old-data values in place (zero-copy, like rtrb's `read_chunk`): waits
    /// (as `recv` does) for the next value, and lends it with every further value of the same
    /// run (values sent together: [`Batch::send_values`](crate::Batch::send_values),
    /// [`Batch::reserve_values`](crate::Batch::reserve_values)) as `&[T]`; a value sent on its
    /// own comes alone. Dropping the guard takes them all, released with the batch. `None` at
    /// end-of-stream. A record of another length is `LengthMismatch` and stays in the ring.
    ///
    /// The values live in memory the writer's process can also write to; a correct writer
    /// does not touch them until they are released, but a hostile one could change them while
    /// you read (see [`Reader::recv_ref`]). `T` must be of 1 byte or more, aligned to at most
    /// 8 (a compile-time error otherwise).
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(4096)?;
    /// writer.batch().send_values(&[1u64, 2, 3])?;
    /// writer.send_value(&4u64)?;
    /// let mut batch = reader.batch();
    /// assert_eq!(&*batch.recv_values_ref::<u64>()?.unwrap(), &[1, 2, 3]);
    /// assert_eq!(&*batch.recv_values_ref::<u64>()?.unwrap(), &[4]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "received values are lost if the result is not looked at"]
    pub fn recv_values_ref<T: bytemuck::Pod>(
        &mut self,
    ) -> Result<Option<ValuesRef<'_, T>>, RecvError> {
        self.values_ref(Wait::Forever)
    }

    /// Like [`recv_values_ref`](Self::recv_values_ref), but `Empty` if no value is there now.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(4096)?;
    /// let mut batch = reader.batch();
    /// assert!(matches!(
    ///     batch.try_recv_values_ref::<u32>(),
    ///     Err(shmpipe::RecvError::Empty)
    /// ));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "received values are lost if the result is not looked at"]
    pub fn try_recv_values_ref<T: bytemuck::Pod>(
        &mut self,
    ) -> Result<Option<ValuesRef<'_, T>>, RecvError> {
        self.values_ref(Wait::Never)
    }

    fn values_ref<T: bytemuck::Pod>(
        &mut self,
        wait: Wait,
    ) -> Result<Option<ValuesRef<'_, T>>, RecvError> {
        const {
            assert!(
                std::mem::size_of::<T>() != 0,
                "values in place are of 1 byte or more"
            );
            assert!(
                std::mem::align_of::<T>() <= 8,
                "values in place are aligned to at most 8 (the record alignment)"
            );
        }
        let size = std::mem::size_of::<T>();
        let Some((offset, len)) = self.reader.next(wait)? else {
            return Ok(None);
        };
        if len != size {
            return Err(RecvError::LengthMismatch {
                expected: size,
                found: len,
            });
        }
        // `next` holds the record it returned a message of as `current`.
        let bytes = match self.reader.current {
            Some((record, consumed)) if record.elem == size => record.len - consumed,
            _ => size,
        };
        // SAFETY: `bytes` bytes at `offset` are the rest of a published record held by us as
        // `current` until the guard takes them.
        let lent = unsafe { self.reader.memory.ring().data.lend(offset, bytes) };
        Ok(Some(ValuesRef {
            reader: self.reader,
            lent,
            bytes,
            _values: PhantomData,
        }))
    }

    /// Publishes the releases of the batch so far: the writer sees their room now, without
    /// waiting for the batch to drop.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(64)?;
    /// writer.send(&[0u8; 56])?; // the whole ring
    /// let mut batch = reader.batch();
    /// let mut buf = [0u8; 56];
    /// batch.recv(&mut buf)?;
    /// batch.publish();
    /// writer.try_send(&[1u8; 56])?; // the room is back, the batch still open
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn publish(&mut self) {
        self.reader.publish_released();
    }
}

impl std::fmt::Debug for RecvBatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvBatch")
            .field("reader", &self.reader)
            .finish()
    }
}

impl Drop for RecvBatch<'_> {
    fn drop(&mut self) {
        self.reader.publish_released();
    }
}

/// A record lent in place ([`Reader::recv_ref`]). Dereferences to its bytes; released to the
/// writer when dropped.
#[must_use = "dropping the guard releases the record to the writer: the message is lost unread"]
pub struct RecvRef<'a> {
    reader: &'a mut Reader,
    lent: Lent,
}

impl std::fmt::Debug for RecvRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecvRef").field("bytes", &&**self).finish()
    }
}

impl Deref for RecvRef<'_> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: the guard borrows the reader, which keeps the memory mapped and holds the
        // record unreleased while the guard lives.
        unsafe { self.lent.as_slice() }
    }
}

impl Drop for RecvRef<'_> {
    fn drop(&mut self) {
        // End loom's tracking of the bytes before they go back to the writer.
        // SAFETY: the replacement lends nothing (zero length at the same place).
        let empty = unsafe { self.reader.memory.ring().data.lend(0, 0) };
        drop(std::mem::replace(&mut self.lent, empty));
        self.reader.finish_current();
    }
}

/// Values lent in place ([`RecvBatch::recv_values_ref`]): the rest of a run of values, or one
/// value sent alone. Dereferences to them; taken (released with the batch) when dropped.
#[must_use = "dropping the guard takes the values: they are lost unread"]
pub struct ValuesRef<'a, T> {
    reader: &'a mut Reader,
    lent: Lent,
    bytes: usize,
    _values: PhantomData<T>,
}

impl<T: bytemuck::Pod> std::fmt::Debug for ValuesRef<'_, T>
where
    T: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValuesRef")
            .field("values", &&**self)
            .finish()
    }
}

impl<T: bytemuck::Pod> Deref for ValuesRef<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        // SAFETY: the guard borrows the reader, which keeps the memory mapped and holds the
        // values unreleased while the guard lives.
        let bytes = unsafe { self.lent.as_slice() };
        // The values start 8 bytes after a record header plus whole values, so on an address
        // aligned to `T` (aligned to at most 8, checked at compile time): cannot fail.
        bytemuck::cast_slice(bytes)
    }
}

impl<T> Drop for ValuesRef<'_, T> {
    fn drop(&mut self) {
        // End loom's tracking of the bytes before they go back to the writer.
        // SAFETY: the replacement lends nothing (zero length at the same place).
        let empty = unsafe { self.reader.memory.ring().data.lend(0, 0) };
        drop(std::mem::replace(&mut self.lent, empty));
        self.reader.take_current(self.bytes, Release::WithBatch);
    }
}

/// Hooks for the waiters on many rings (`notify`, `WaitSet`, `shmpipe::tokio`).
impl Reader {
    /// The ring's memory (kept mapped by whoever holds a clone).
    pub(crate) fn memory(&self) -> &Arc<Memory> {
        &self.memory
    }

    /// Is the writer's process gone without closing? The pid it recorded, if so.
    pub(crate) fn peer_gone(&self) -> Option<u32> {
        Peer::new(&self.memory, self.token.as_ref(), Role::Writer).died()
    }

    /// What the handle keeps about its peer's liveness between waits, and the peer (for a
    /// wait made outside `wait::wait_for`: the async handles').
    pub(crate) fn vigil_and_peer(&mut self) -> (&mut Vigil, Peer<'_>) {
        (
            &mut self.vigil,
            Peer::new(&self.memory, self.token.as_ref(), Role::Writer),
        )
    }

    /// Without waiting: is a record (held as `current` for the next receive) or end-of-stream
    /// there? `Empties::Skip` releases zero-length records on the way (for the byte stream,
    /// which does not see them). Errors are the next receive's.
    pub(crate) fn poll_ready(&mut self, empties: Empties) -> Result<bool, RecvError> {
        loop {
            return match self.next(Wait::Never) {
                Ok(Some((_, 0))) if empties == Empties::Skip => {
                    self.finish_current();
                    continue;
                }
                Ok(_) => Ok(true),
                Err(RecvError::Empty) => Ok(false),
                Err(e) => Err(e),
            };
        }
    }
}
