//! Async handles for tokio (feature `tokio`): [`AsyncReader`] and [`AsyncWriter`], made from
//! the sync [`Reader`] and [`Writer`].
//!
//! No thread per ring and no reactor work while data flows: [`AsyncReader::recv`] and
//! [`AsyncWriter::send`] return plain futures whose poll is the sync try-path (`try_recv`,
//! `try_send`) inlined into the caller, behind one test that no wait is under way (a receive's
//! look may first wait the short delay of a reader streaming on the writer's heels, as a sync
//! `recv`'s does: see `Reader::recv`); nothing
//! else runs per message (no lock, no waker clone, no registration, no system call). On an
//! empty (or full) ring a poll tries again for a short spin (10 µs by default, `set_spin`),
//! which holds the runtime's thread; then the task yields (it wakes itself and returns
//! `Pending`, so the thread's other tasks run before it looks again), poll after poll, until
//! 50 µs after its first empty look, as long as a sync wait spins. A wait that ends in a park
//! thus costs up to 50 µs of CPU, and no other task waits longer than one poll's spin. (A
//! task that parked after 10 µs made a sync writer in another process, woken from its own
//! sleep, pay two thread wake-ups on the reader's side at every pause: both sides slept on
//! every lap of the ring.) Only then does a task
//! park: it announces its sleep on the ring's wake word exactly as a sync waiter does, and one
//! waiter thread per process, sleeping in `futex_waitv(2)` on the wake words of every ring
//! with a parked task, hands its waker back when the peer's publish (or release, or close)
//! resets that word. A parked wake-up thus takes two thread wake-ups (the waiter thread, then
//! the runtime's thread), where a sync waiter takes one and a tokio socket one (the
//! reactor's); `docs/BENCHMARKS.md` measures it (woken by another process: a faster round trip
//! than a tokio `UnixStream` at the median, about the same at p99). The peer needs nothing
//! new: it may be a sync handle in another process, on any backend, and no file descriptor is
//! passed. On kernels before 5.16 (no `futex_waitv`) the waiter thread polls the parked rings'
//! words every millisecond instead (so a wake-up takes up to a millisecond). A parked task
//! looks at its peer's liveness as a sync waiter does: after 50 ms, and then, with a watch on
//! the peer's process armed, once a second, the peer's exit waking it at once; a dead peer
//! surfaces as `PeerDied` (within milliseconds, or 50 ms where the peer's process cannot be
//! watched, as from another PID namespace), and an idle parked task costs its process about
//! one wake-up a second.
//!
//! The handles work under any tokio runtime (current-thread or multi-thread) and need no
//! runtime feature: the waker is all they use.
//!
//! ```
//! # tokio_test_runtime(async {
//! use shmpipe::tokio::{AsyncReader, AsyncWriter};
//! let (writer, reader) = shmpipe::channel(4096)?;
//! let (mut writer, mut reader) = (AsyncWriter::new(writer), AsyncReader::new(reader));
//! writer.send(b"hello").await?;
//! drop(writer); // end-of-stream after the records sent
//! assert_eq!(reader.recv_vec().await?, Some(b"hello".to_vec()));
//! assert_eq!(reader.recv_vec().await?, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # fn tokio_test_runtime<F: std::future::Future>(f: F) -> F::Output {
//! #     ::tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::notify::{self, Parked, Registry};
use crate::wait::Attempt;
use crate::{Reader, RecvError, SendError, Writer};

/// The receiving end of a ring, for async code.
///
/// # Cancellation
/// Every method is cancellation safe: a record is taken from the ring only in the poll that
/// returns it, so dropping a `recv`, `recv_vec` (or `read`, `fill_buf`) future that has not
/// completed loses nothing; the next call receives that record.
pub struct AsyncReader {
    reader: Reader,
    /// Deregisters the handle when dropped.
    parked: Parked,
}

impl std::fmt::Debug for AsyncReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncReader")
            .field("reader", &self.reader)
            .finish()
    }
}

impl AsyncReader {
    /// Wraps a reader. No thread starts until a receive first finds the ring empty.
    ///
    /// ```
    /// let (_writer, reader) = shmpipe::channel(256)?;
    /// let reader = shmpipe::tokio::AsyncReader::new(reader);
    /// let _reader: shmpipe::Reader = reader.into_inner();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(reader: Reader) -> Self {
        AsyncReader {
            parked: Registry::global().parked(),
            reader,
        }
    }

    /// The sync reader back (no wait of this handle stays announced or registered).
    ///
    /// ```
    /// let (mut writer, reader) = shmpipe::channel(256)?;
    /// let reader = shmpipe::tokio::AsyncReader::new(reader);
    /// writer.send(b"kept")?;
    /// let mut reader: shmpipe::Reader = reader.into_inner();
    /// let mut got = Vec::new();
    /// reader.recv_into(&mut got)?;
    /// assert_eq!(got, b"kept");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_inner(mut self) -> Reader {
        notify::release(&mut self.parked, &mut self.reader);
        self.reader
    }

    /// The sync reader (for `capacity`, the `try_` calls).
    ///
    /// ```
    /// let (_writer, reader) = shmpipe::channel(256)?;
    /// let mut reader = shmpipe::tokio::AsyncReader::new(reader);
    /// assert!(reader.get_mut().is_empty());
    /// assert!(matches!(reader.get_mut().try_recv(&mut [0u8; 8]), Err(shmpipe::RecvError::Empty)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_mut(&mut self) -> &mut Reader {
        &mut self.reader
    }

    /// Sets how long one poll of a receive spins on an empty ring (default 10 µs; the
    /// runtime's thread is busy meanwhile, its other tasks wait). After the spin the task
    /// yields to the other tasks and looks again, until 50 µs after its first empty look, and
    /// then parks. Zero parks at once (no spin, no yields).
    ///
    /// ```
    /// let (_writer, reader) = shmpipe::channel(256)?;
    /// let mut reader = shmpipe::tokio::AsyncReader::new(reader);
    /// reader.set_spin(std::time::Duration::ZERO); // an empty ring parks the task at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_spin(&mut self, spin: std::time::Duration) {
        self.parked.spin = spin;
    }

    /// Polls for the next record into `buf` (see [`recv`](Self::recv)).
    ///
    /// While no wait is under way, the first look is the sync `try_recv`, inlined into the
    /// caller; only an empty ring (or a task woken from a wait) takes the out-of-line path
    /// that spins and parks.
    ///
    /// ```
    /// # ::tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (mut writer, reader) = shmpipe::channel(256)?;
    /// let mut reader = shmpipe::tokio::AsyncReader::new(reader);
    /// writer.send(b"abc")?;
    /// let mut buf = [0u8; 8];
    /// let n = std::future::poll_fn(|cx| reader.poll_recv(cx, &mut buf)).await?;
    /// assert_eq!(n, Some(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(always)]
    pub fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<Result<Option<usize>, RecvError>> {
        if !self.parked.waiting() {
            // A streaming look may wait the slip's delay first, as a sync `recv`'s does.
            match self.reader.try_recv_slipping(buf) {
                // The value rebuilt, not moved, so the common case is stored as a tag and a
                // length, never copied as the whole `Result`.
                Ok(Some(n)) => return Poll::Ready(Ok(Some(n))),
                Ok(None) => return Poll::Ready(Ok(None)),
                Err(RecvError::Empty) => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        match self.poll_recv_wait(cx, buf) {
            Ok(Poll::Ready(n)) => Poll::Ready(Ok(n)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(e) => Poll::Ready(Err(*e)),
        }
    }

    /// `poll_recv` on an empty ring, or in a wait: spin, then park. The error is boxed so the
    /// result comes back in two registers: returned as a `Poll<Result<..>>` (in memory), it
    /// made the compiler merge the common case into that memory too, and read the length
    /// stored there back within a wider load, a store-forwarding stall on every message
    /// (docs/BENCHMARKS.md, "Async": about 40 ns against 11 ns a send + receive).
    #[cold]
    #[inline(never)]
    fn poll_recv_wait(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Result<Poll<Option<usize>>, Box<RecvError>> {
        match notify::poll_side(&mut self.parked, &mut self.reader, cx.waker(), |r| {
            notify::recv_attempt(r, buf)
        }) {
            Poll::Ready(Ok(n)) => Ok(Poll::Ready(n)),
            Poll::Ready(Err(gave)) => Err(Box::new(notify::recv_error(gave))),
            Poll::Pending => Ok(Poll::Pending),
        }
    }

    /// Receives the next record into `buf`: its length, or `None` at end-of-stream. As
    /// [`Reader::recv`]: a record longer than `buf` is `BufferTooSmall` and stays in the ring;
    /// `PeerDied` comes only after every record the dead writer committed.
    ///
    /// Cancellation safe: dropped before it completes, it has taken nothing from the ring.
    ///
    /// ```
    /// # ::tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (mut writer, reader) = shmpipe::channel(256)?;
    /// let mut reader = shmpipe::tokio::AsyncReader::new(reader);
    /// writer.send(b"abc")?;
    /// let mut buf = [0u8; 8];
    /// assert_eq!(reader.recv(&mut buf).await?, Some(3));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn recv<'a>(
        &'a mut self,
        buf: &'a mut [u8],
    ) -> impl Future<Output = Result<Option<usize>, RecvError>> + Send + Unpin + 'a {
        RecvFuture { reader: self, buf }
    }

    /// Polls for the next record as a new vector (see [`recv_vec`](Self::recv_vec)).
    ///
    /// ```
    /// # ::tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (mut writer, reader) = shmpipe::channel(256)?;
    /// let mut reader = shmpipe::tokio::AsyncReader::new(reader);
    /// writer.send(b"abc")?;
    /// drop(writer);
    /// let first = std::future::poll_fn(|cx| reader.poll_recv_vec(cx)).await?;
    /// assert_eq!(first, Some(b"abc".to_vec()));
    /// assert_eq!(std::future::poll_fn(|cx| reader.poll_recv_vec(cx)).await?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll_recv_vec(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<Vec<u8>>, RecvError>> {
        notify::poll_side(
            &mut self.parked,
            &mut self.reader,
            cx.waker(),
            |r| match r.try_recv_ref() {
                Ok(record) => Attempt::Ready(record.map(|bytes| bytes.to_vec())),
                Err(RecvError::Empty) => Attempt::NotYet,
                Err(e) => Attempt::Failed(e),
            },
        )
        .map(|r| r.map_err(notify::recv_error))
    }

    /// Receives the next record, whatever its length, as a new vector; `None` at
    /// end-of-stream.
    ///
    /// Cancellation safe: dropped before it completes, it has taken nothing from the ring.
    ///
    /// ```
    /// # ::tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (mut writer, reader) = shmpipe::channel(256)?;
    /// let mut reader = shmpipe::tokio::AsyncReader::new(reader);
    /// writer.send(b"abc")?;
    /// drop(writer);
    /// assert_eq!(reader.recv_vec().await?.as_deref(), Some(&b"abc"[..]));
    /// assert_eq!(reader.recv_vec().await?, None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn recv_vec(
        &mut self,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, RecvError>> + Send + Unpin + '_ {
        poll_fn(move |cx| self.poll_recv_vec(cx))
    }
}

/// The records' payloads as one byte stream, as the sync `io::BufRead` gives them:
/// end-of-stream is a read of 0, a dead writer `ConnectionAborted` after its last byte.
/// Cancellation safe: a pending read has consumed nothing.
impl ::tokio::io::AsyncBufRead for AsyncReader {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        let ready = notify::poll_side(&mut this.parked, &mut this.reader, cx.waker(), |r| match r
            .poll_ready(crate::reader::Empties::Skip)
        {
            Ok(true) => Attempt::Ready(()),
            Ok(false) => Attempt::NotYet,
            Err(e) => Attempt::Failed(e),
        });
        match ready {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(gave)) => Poll::Ready(Err(notify::recv_error(gave).into())),
            // A record (not empty) is held, or the stream ended: the sync call returns at once.
            Poll::Ready(Ok(())) => Poll::Ready(io::BufRead::fill_buf(&mut this.reader)),
        }
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        io::BufRead::consume(&mut self.get_mut().reader, amt);
    }
}

impl ::tokio::io::AsyncRead for AsyncReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ::tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        use ::tokio::io::AsyncBufRead;
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let available = match self.as_mut().poll_fill_buf(cx) {
            Poll::Ready(Ok(bytes)) => bytes,
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        };
        let n = available.len().min(buf.remaining());
        buf.put_slice(&available[..n]);
        self.consume(n);
        Poll::Ready(Ok(()))
    }
}

/// The sending end of a ring, for async code.
///
/// # Cancellation
/// `send` is cancellation safe: the record goes into the ring in the poll that completes, all
/// at once, so a dropped `send` future has sent nothing. `AsyncWrite::poll_write` likewise
/// sends a whole chunk (up to a quarter of the ring) in the poll that returns its length.
pub struct AsyncWriter {
    /// `None` once shut down (`AsyncWrite::poll_shutdown`).
    writer: Option<Writer>,
    /// Deregisters the handle when dropped.
    parked: Parked,
}

impl std::fmt::Debug for AsyncWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncWriter")
            .field("writer", &self.writer)
            .finish()
    }
}

impl AsyncWriter {
    /// Wraps a writer. No thread starts until a send first finds the ring full.
    ///
    /// ```
    /// let (writer, _reader) = shmpipe::channel(256)?;
    /// let writer = shmpipe::tokio::AsyncWriter::new(writer);
    /// let _writer: Option<shmpipe::Writer> = writer.into_inner();
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn new(writer: Writer) -> Self {
        AsyncWriter {
            parked: Registry::global().parked(),
            writer: Some(writer),
        }
    }

    /// The sync writer back; `None` after `AsyncWrite::poll_shutdown` closed it.
    ///
    /// ```
    /// let (writer, mut reader) = shmpipe::channel(256)?;
    /// let writer = shmpipe::tokio::AsyncWriter::new(writer);
    /// let mut writer: shmpipe::Writer = writer.into_inner().expect("not shut down");
    /// writer.send(b"sync again")?;
    /// let mut got = Vec::new();
    /// reader.recv_into(&mut got)?;
    /// assert_eq!(got, b"sync again");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn into_inner(mut self) -> Option<Writer> {
        let mut writer = self.writer.take();
        if let Some(w) = &mut writer {
            notify::release(&mut self.parked, w);
        }
        writer
    }

    /// The sync writer; `None` after shutdown.
    ///
    /// ```
    /// let (writer, _reader) = shmpipe::channel(256)?;
    /// let mut writer = shmpipe::tokio::AsyncWriter::new(writer);
    /// writer.get_mut().expect("not shut down").try_send(b"now")?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn get_mut(&mut self) -> Option<&mut Writer> {
        self.writer.as_mut()
    }

    /// Sets how long one poll of a send spins on a full ring (default 10 µs; the runtime's
    /// thread is busy meanwhile, its other tasks wait). After the spin the task yields to the
    /// other tasks and looks again, until 50 µs after its first look found the ring full, and
    /// then parks. Zero parks at once (no spin, no yields).
    ///
    /// ```
    /// let (writer, _reader) = shmpipe::channel(256)?;
    /// let mut writer = shmpipe::tokio::AsyncWriter::new(writer);
    /// writer.set_spin(std::time::Duration::from_micros(50)); // spin longer on a full ring
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn set_spin(&mut self, spin: std::time::Duration) {
        self.parked.spin = spin;
    }

    /// Polls to send `msg` as one record (see [`send`](Self::send)).
    ///
    /// While no wait is under way, the first attempt is the sync `try_send`, inlined into the
    /// caller; only a full ring (or a task woken from a wait) takes the out-of-line path that
    /// spins and parks.
    ///
    /// ```
    /// # ::tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (writer, mut reader) = shmpipe::channel(256)?;
    /// let mut writer = shmpipe::tokio::AsyncWriter::new(writer);
    /// std::future::poll_fn(|cx| writer.poll_send(cx, b"abc")).await?;
    /// let mut got = Vec::new();
    /// reader.recv_into(&mut got)?;
    /// assert_eq!(got, b"abc");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline(always)]
    pub fn poll_send(&mut self, cx: &mut Context<'_>, msg: &[u8]) -> Poll<Result<(), SendError>> {
        if !self.parked.waiting() {
            if let Some(writer) = self.writer.as_mut() {
                match writer.try_send(msg) {
                    // Rebuilt, not moved: see `AsyncReader::poll_recv`.
                    Ok(()) => return Poll::Ready(Ok(())),
                    Err(SendError::Full) => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
        }
        match self.poll_send_wait(cx, msg) {
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Ok(Poll::Pending) => Poll::Pending,
            Err(e) => Poll::Ready(Err(*e)),
        }
    }

    /// `poll_send` on a full ring, in a wait, or after shutdown: spin, then park. The error
    /// is boxed (see `AsyncReader::poll_recv_wait`).
    #[cold]
    #[inline(never)]
    fn poll_send_wait(
        &mut self,
        cx: &mut Context<'_>,
        msg: &[u8],
    ) -> Result<Poll<()>, Box<SendError>> {
        let Some(writer) = self.writer.as_mut() else {
            return Err(Box::new(SendError::Closed));
        };
        match notify::poll_side(&mut self.parked, writer, cx.waker(), |w| {
            match w.try_send(msg) {
                Ok(()) => Attempt::Ready(()),
                Err(SendError::Full) => Attempt::NotYet,
                Err(e) => Attempt::Failed(e),
            }
        }) {
            Poll::Ready(Ok(())) => Ok(Poll::Ready(())),
            Poll::Ready(Err(gave)) => Err(Box::new(notify::send_error(gave))),
            Poll::Pending => Ok(Poll::Pending),
        }
    }

    /// Sends `msg` as one record, waiting for room. As [`Writer::send`]: `Closed` once the
    /// reader closed (or after shutdown), `PeerDied` if the reader's process dies while we
    /// wait, `TooLarge` if it can never fit.
    ///
    /// Cancellation safe: dropped before it completes, it has sent nothing.
    ///
    /// ```
    /// # ::tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let (writer, mut reader) = shmpipe::channel(256)?;
    /// let mut writer = shmpipe::tokio::AsyncWriter::new(writer);
    /// writer.send(b"ping").await?;
    /// assert_eq!(reader.recv(&mut [0u8; 8])?, Some(4));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// # })?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[inline]
    pub fn send<'a>(
        &'a mut self,
        msg: &'a [u8],
    ) -> impl Future<Output = Result<(), SendError>> + Send + Unpin + 'a {
        SendFuture { writer: self, msg }
    }
}

/// A byte stream over records, as the sync `io::Write`: each write sends up to a quarter of
/// the ring as one record. `poll_shutdown` closes the ring (end-of-stream for the reader);
/// writes after it fail with `BrokenPipe`.
impl ::tokio::io::AsyncWrite for AsyncWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let Some(writer) = this.writer.as_ref() else {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        };
        let n = buf.len().min(writer.write_chunk());
        this.poll_send(cx, &buf[..n])
            .map(|r| r.map(|()| n).map_err(io::Error::from))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Every send publishes at once.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(mut w) = this.writer.take() {
            notify::release(&mut this.parked, &mut w);
            w.close();
        }
        Poll::Ready(Ok(()))
    }
}

/// The future of [`AsyncReader::recv`].
struct RecvFuture<'a> {
    reader: &'a mut AsyncReader,
    buf: &'a mut [u8],
}

impl Future for RecvFuture<'_> {
    type Output = Result<Option<usize>, RecvError>;
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.reader.poll_recv(cx, this.buf)
    }
}

/// The future of [`AsyncWriter::send`].
struct SendFuture<'a> {
    writer: &'a mut AsyncWriter,
    msg: &'a [u8],
}

impl Future for SendFuture<'_> {
    type Output = Result<(), SendError>;
    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.writer.poll_send(cx, this.msg)
    }
}
