//! What a handle can ask about its ring without taking part in the protocol: how many bytes are
//! in use (`len`, `is_empty`, `is_full`) and whether the peer is gone (`is_abandoned`).
//!
//! Every answer is a snapshot, read with plain loads from the shared header and never waiting:
//! the peer may change it the moment after. Each handle's own position is exact (only it stores
//! it), so the answers only move one way until this handle acts: for the writer the ring can
//! only empty, for the reader it can only fill.

use crate::layout::{Header, Role, STATE_CLOSED};
use crate::protocol::RECORD_HEADER;
use crate::reader::Reader;
use crate::sync::Ordering;
use crate::writer::Writer;

/// Bytes in use in a ring of `capacity` bytes: from the shared read position to the shared
/// write position (published records, with their headers, padding to 8, and any padding
/// record at the end of the region).
///
/// Clamped to `0..=capacity`, so a corrupted position (a hostile peer's) gives a wrong answer,
/// never a panic; the next send or receive reports the corruption.
fn in_use(header: &Header, capacity: u64) -> u64 {
    // Acquire, as the protocol's own loads of the peer's position: the read position pairs
    // with the Release store in `ReaderState::publish`, the write position with the one in
    // `WriterState::publish`, so whatever this answer leads the caller to believe about the
    // records is then true of the bytes too. No loom model depends on it (nothing is read
    // through this answer); the protocol's own loads carry the ordering. Loading the read
    // position first keeps a correct ring's answer in range: the write position loaded after it
    // is at least as large.
    let read = header.reader.position.load(Ordering::Acquire);
    let write = header.writer.position.load(Ordering::Acquire);
    write.saturating_sub(read).min(capacity)
}

/// Has `role`'s handle closed the ring? A closed role stays closed: it is never claimed again.
fn closed(header: &Header, role: Role) -> bool {
    header.side(role).state.load(Ordering::Acquire) == STATE_CLOSED
}

/// Occupancy and the peer's state, from the reader's side.
impl Reader {
    /// Bytes in use in the ring: every record published and not yet released by this reader,
    /// counting each record's 8-byte header and its payload padded to a multiple of 8 (a
    /// 5-byte message takes 16 bytes), plus the padding record that fills the end of the region
    /// when a record did not fit there. At most [`capacity`](Self::capacity).
    ///
    /// A snapshot: the writer may publish more at any moment, so the ring only fills until this
    /// reader receives. A record held by a [`RecvRef`](crate::RecvRef) (or released inside a
    /// [`RecvBatch`](crate::RecvBatch) not yet published) still counts.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(1024)?;
    /// assert_eq!(reader.len(), 0);
    /// writer.send(b"hello")?; // 8-byte header + 5 bytes padded to 8
    /// assert_eq!(reader.len(), 16);
    /// writer.send(b"")?; // an empty message is a header alone
    /// assert_eq!(reader.len(), 24);
    /// let mut buf = [0u8; 8];
    /// reader.recv(&mut buf)?;
    /// assert_eq!(reader.len(), 8);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> u64 {
        in_use(self.memory.header(), self.capacity())
    }

    /// `len() == 0`: nothing is published that this reader has not released. Then a
    /// [`try_recv`](Self::try_recv) is `Empty` (or end-of-stream, if the writer closed).
    ///
    /// The converse holds but for one moment: a writer that wraps publishes the padding record
    /// at the end of the region before the record after it, so the ring can be non-empty while
    /// `try_recv` still finds nothing.
    ///
    /// ```
    /// let (mut writer, reader) = shmpipe::channel(1024)?;
    /// assert!(reader.is_empty());
    /// writer.send(b"x")?;
    /// assert!(!reader.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len() == capacity()`: there is no room even for the smallest record (an empty message,
    /// 8 bytes; lengths are multiples of 8), so the writer cannot send anything until this reader receives. Fewer free bytes
    /// than a given message needs is not "full": see [`Writer::is_full`].
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(32)?;
    /// writer.send(&[7u8; 24])?; // 8 + 24 = 32 bytes: every byte of the ring
    /// assert!(reader.is_full());
    /// let mut buf = [0u8; 32];
    /// reader.recv(&mut buf)?;
    /// assert!(!reader.is_full());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_full(&self) -> bool {
        self.capacity() - self.len() < RECORD_HEADER
    }

    /// Has the writer gone: closed the ring (dropped, [`close`](crate::Writer::close)d), or
    /// died without closing (its process is gone, or, on a ring in shared memory, it
    /// [`abort`](crate::Writer::abort)ed; the handles of a [`channel`](crate::channel) live in
    /// one process and never die)?
    /// Once true it stays true. A writer that has not attached yet is not gone: it may still
    /// come.
    ///
    /// Records the writer published before it went are still delivered: receive until
    /// end-of-stream (`Ok(None)`) or `PeerDied`. Never waits; a death is the kernel's answer,
    /// as for the receives (for System V rings, the recorded pid; see `docs/LAYOUT.md`).
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(1024)?;
    /// writer.send(b"last")?;
    /// assert!(!reader.is_abandoned());
    /// drop(writer);
    /// assert!(reader.is_abandoned());
    /// let mut buf = [0u8; 8];
    /// assert_eq!(reader.recv(&mut buf)?, Some(4)); // still delivered
    /// assert_eq!(reader.recv(&mut buf)?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_abandoned(&self) -> bool {
        closed(self.memory.header(), Role::Writer) || self.peer_gone().is_some()
    }
}

/// Occupancy and the peer's state, from the writer's side.
impl Writer {
    /// Bytes in use in the ring: every record this writer published and the reader has not
    /// released yet, counting each record's 8-byte header and its payload padded to a multiple
    /// of 8 (a 5-byte message takes 16 bytes), plus the padding record that fills the end of
    /// the region when a record did not fit there. At most [`capacity`](Self::capacity);
    /// `capacity() - len()` bytes are free.
    ///
    /// A snapshot: the reader may release more at any moment, so the ring only empties until
    /// this writer sends.
    ///
    /// ```
    /// let (mut writer, _reader) = shmpipe::channel(1024)?;
    /// writer.send(b"hello")?; // 8-byte header + 5 bytes padded to 8
    /// writer.send(&[0u8; 8])?; // 8 + 8
    /// assert_eq!(writer.len(), 32);
    /// assert_eq!(writer.capacity() - writer.len(), 992);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn len(&self) -> u64 {
        in_use(self.memory.header(), self.capacity())
    }

    /// `len() == 0`: the reader has received everything this writer sent.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(1024)?;
    /// writer.send(b"x")?;
    /// assert!(!writer.is_empty());
    /// let mut buf = [0u8; 1];
    /// reader.recv(&mut buf)?;
    /// assert!(writer.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `len() == capacity()`: there is no room even for the smallest record (an empty message,
    /// 8 bytes), so no send can succeed until the reader receives; `try_send` of anything is
    /// `Full`. A ring that is not full may still lack room for a given message (a record takes
    /// `8 + len` rounded up to 8, and never wraps): `try_send` says for sure.
    ///
    /// ```
    /// let (mut writer, _reader) = shmpipe::channel(32)?;
    /// writer.send(&[1u8; 16])?; // 24 bytes: 8 left, room for an empty message only
    /// assert!(!writer.is_full());
    /// writer.send(b"")?;
    /// assert!(writer.is_full());
    /// assert!(matches!(writer.try_send(b""), Err(shmpipe::SendError::Full)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_full(&self) -> bool {
        self.capacity() - self.len() < RECORD_HEADER
    }

    /// Has the reader gone: closed the ring (dropped, [`close`](crate::Reader::close)d), or
    /// died without closing (its process is gone, or, on a ring in shared memory, it
    /// [`abort`](crate::Reader::abort)ed; the handles of a [`channel`](crate::channel) live in
    /// one process and never die)?
    /// Once true it stays true, and sends will fail (`Closed`, or `PeerDied` once a send
    /// has to wait). A reader that has not attached yet is not gone: it may still come.
    ///
    /// Never waits; a death is the kernel's answer, as for the sends (for System V rings, the
    /// recorded pid; see `docs/LAYOUT.md`).
    ///
    /// ```
    /// let (mut writer, reader) = shmpipe::channel(1024)?;
    /// assert!(!writer.is_abandoned());
    /// drop(reader);
    /// assert!(writer.is_abandoned());
    /// assert!(matches!(writer.send(b"x"), Err(shmpipe::SendError::Closed)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_abandoned(&self) -> bool {
        closed(self.memory.header(), Role::Reader) || self.peer_gone().is_some()
    }
}
