//! Owned messages: receiving into a growable `Vec<u8>` (`recv_into` and its variants), and the
//! iterators over the messages ([`Iter`], [`TryIter`]), so no caller has to size a buffer to
//! `max_message()` or retry after `BufferTooSmall`.
//!
//! Everything here is built on the in-place receive (`recv_ref`): the record is copied once,
//! straight from the ring into the vector, and released as the guard drops.

use std::iter::FusedIterator;
use std::time::Duration;

use crate::error::RecvError;
use crate::reader::{Reader, RecvRef};

/// Copies a received record into `buf` (exactly its length, reusing the capacity); leaves
/// `buf` alone at end-of-stream and on an error.
fn fill(
    received: Result<Option<RecvRef<'_>>, RecvError>,
    buf: &mut Vec<u8>,
) -> Result<Option<usize>, RecvError> {
    let Some(record) = received? else {
        return Ok(None);
    };
    buf.clear();
    buf.extend_from_slice(&record);
    Ok(Some(record.len()))
}

/// Receiving into a vector, and iterating over the messages.
impl Reader {
    /// Receives the next message into `buf`, whatever its length: `buf` is resized to exactly
    /// the message (its capacity is reused, and grows only for a message longer than it
    /// holds). Returns the length, or `None` at end-of-stream. Waits as [`recv`](Self::recv)
    /// does.
    ///
    /// At end-of-stream and on an error `buf` is left as it was. Never `BufferTooSmall`: keep
    /// one vector for a whole stream and there is nothing to size.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(1024)?;
    /// writer.send(b"short")?;
    /// writer.send(&[b'x'; 100])?;
    /// drop(writer);
    /// let mut buf = Vec::new();
    /// assert_eq!(reader.recv_into(&mut buf)?, Some(5));
    /// assert_eq!(buf, b"short");
    /// assert_eq!(reader.recv_into(&mut buf)?, Some(100)); // grown to fit
    /// assert_eq!(buf.len(), 100);
    /// assert_eq!(reader.recv_into(&mut buf)?, None); // end-of-stream
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received message is lost if the result is not looked at"]
    pub fn recv_into(&mut self, buf: &mut Vec<u8>) -> Result<Option<usize>, RecvError> {
        fill(self.recv_ref(), buf)
    }

    /// Like [`recv_into`](Self::recv_into), but `Empty` if no message is there now (`buf`
    /// untouched).
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(1024)?;
    /// let mut buf = Vec::new();
    /// assert!(matches!(reader.try_recv_into(&mut buf), Err(shmpipe::RecvError::Empty)));
    /// writer.send(b"now")?;
    /// assert_eq!(reader.try_recv_into(&mut buf)?, Some(3));
    /// assert_eq!(buf, b"now");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received message is lost if the result is not looked at"]
    pub fn try_recv_into(&mut self, buf: &mut Vec<u8>) -> Result<Option<usize>, RecvError> {
        fill(self.try_recv_ref(), buf)
    }

    /// Like [`recv_into`](Self::recv_into), but `Timeout` (`buf` untouched) if no message
    /// comes within `timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (_writer, mut reader) = shmpipe::channel(1024)?;
    /// let mut buf = Vec::new();
    /// let waited = reader.recv_into_timeout(&mut buf, Duration::from_millis(5));
    /// assert!(matches!(waited, Err(shmpipe::RecvError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received message is lost if the result is not looked at"]
    pub fn recv_into_timeout(
        &mut self,
        buf: &mut Vec<u8>,
        timeout: Duration,
    ) -> Result<Option<usize>, RecvError> {
        fill(self.recv_ref_timeout(timeout), buf)
    }

    /// An iterator over the messages, each a new `Vec<u8>`, waiting for each as
    /// [`recv`](Self::recv) does. It ends at end-of-stream; an error (the writer died, the ring
    /// is corrupted) is yielded once, and then it ends too. `for msg in &mut reader` is the
    /// same.
    ///
    /// To reuse one buffer instead of allocating per message, loop on
    /// [`recv_into`](Self::recv_into).
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(1024)?;
    /// std::thread::spawn(move || {
    ///     for word in ["one", "two", "three"] {
    ///         writer.send(word.as_bytes()).unwrap();
    ///     }
    /// }); // the writer drops: end-of-stream
    /// let words: Vec<Vec<u8>> = reader.iter().collect::<Result<_, _>>()?;
    /// assert_eq!(words, [&b"one"[..], b"two", b"three"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter(&mut self) -> Iter<'_> {
        Iter {
            reader: self,
            done: false,
        }
    }

    /// An iterator over the messages there now, each a new `Vec<u8>`, without waiting: it ends
    /// when the ring is empty or at end-of-stream; an error is yielded once, and then it ends
    /// too. Once ended it stays ended: call `try_iter` again for what arrived since.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(1024)?;
    /// writer.send(b"a")?;
    /// writer.send(b"b")?;
    /// assert_eq!(reader.try_iter().count(), 2);
    /// assert_eq!(reader.try_iter().count(), 0); // empty: ends at once
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_iter(&mut self) -> TryIter<'_> {
        TryIter {
            reader: self,
            done: false,
        }
    }
}

/// A blocking iterator over a reader's messages ([`Reader::iter`]): yields each as a new
/// `Vec<u8>`, ends at end-of-stream, and ends after yielding an error.
///
/// ```
/// let (mut writer, mut reader) = shmpipe::channel(1024)?;
/// writer.send(b"x")?;
/// drop(writer);
/// let mut messages: shmpipe::Iter<'_> = reader.iter();
/// assert_eq!(messages.next().transpose()?, Some(b"x".to_vec()));
/// assert!(messages.next().is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Iter<'a> {
    reader: &'a mut Reader,
    done: bool,
}

impl Iterator for Iter<'_> {
    type Item = Result<Vec<u8>, RecvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self
            .reader
            .recv_ref()
            .map(|r| r.map(|bytes| bytes.to_vec()));
        yield_once(next, &mut self.done)
    }
}

impl FusedIterator for Iter<'_> {}

/// A non-blocking iterator over the messages a reader has now ([`Reader::try_iter`]): ends when
/// the ring is empty, at end-of-stream, and after yielding an error.
///
/// ```
/// let (mut writer, mut reader) = shmpipe::channel(1024)?;
/// writer.send(b"x")?;
/// let mut messages: shmpipe::TryIter<'_> = reader.try_iter();
/// assert_eq!(messages.next().transpose()?, Some(b"x".to_vec()));
/// assert!(messages.next().is_none()); // empty, though the writer is still there
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct TryIter<'a> {
    reader: &'a mut Reader,
    done: bool,
}

impl Iterator for TryIter<'_> {
    type Item = Result<Vec<u8>, RecvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = match self.reader.try_recv_ref() {
            Err(RecvError::Empty) => Ok(None),
            other => other.map(|r| r.map(|bytes| bytes.to_vec())),
        };
        yield_once(next, &mut self.done)
    }
}

impl FusedIterator for TryIter<'_> {}

/// `for message in &mut reader`: the blocking [`Reader::iter`].
///
/// ```
/// let (mut writer, mut reader) = shmpipe::channel(1024)?;
/// writer.send(b"one")?;
/// writer.send(b"two")?;
/// drop(writer);
/// let mut total = 0;
/// for message in &mut reader {
///     total += message?.len();
/// }
/// assert_eq!(total, 6);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
impl<'a> IntoIterator for &'a mut Reader {
    type Item = Result<Vec<u8>, RecvError>;
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

/// An iterator's next item from a receive: the message, or the end (end-of-stream, or for
/// `TryIter` an empty ring), or the error, after which the iterator is `done`.
pub(crate) fn yield_once<T>(
    received: Result<Option<T>, RecvError>,
    done: &mut bool,
) -> Option<Result<T, RecvError>> {
    match received {
        Ok(Some(item)) => Some(Ok(item)),
        Ok(None) => {
            *done = true;
            None
        }
        Err(e) => {
            *done = true;
            Some(Err(e))
        }
    }
}
