//! Typed values: any [`bytemuck::Pod`] type sent as one record of exactly `size_of::<T>()`
//! bytes and received back as a `T` (the non-blocking and timeout variants of `send_value` and
//! `recv_value`, and the iterator [`Values`]).
//!
//! A record of another length is never reinterpreted: receiving it as a `T` is
//! `RecvError::LengthMismatch`, and the record stays in the ring for a byte receive. The
//! crate re-exports `bytemuck`, so `shmpipe::bytemuck::Pod` is the trait these methods ask
//! for.

use std::fmt;
use std::iter::FusedIterator;
use std::marker::PhantomData;
use std::time::Duration;

use crate::error::{RecvError, SendError};
use crate::iter::yield_once;
use crate::reader::Reader;
use crate::wait::Wait;
use crate::writer::Writer;

/// Sending typed values without waiting, or waiting a bounded time.
impl Writer {
    /// Sends a plain-old-data value as one record of `size_of::<T>()` bytes if there is room
    /// now; `Full` otherwise (nothing sent), as [`try_send`](Self::try_send).
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(16)?;
    /// writer.try_send_value(&7u64)?; // 8 + 8 bytes: the ring is full
    /// assert!(matches!(writer.try_send_value(&8u64), Err(shmpipe::SendError::Full)));
    /// assert_eq!(reader.recv_value::<u64>()?, Some(7));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a `Full` value was not sent: it is lost unless you retry"]
    pub fn try_send_value<T: bytemuck::Pod>(&mut self, value: &T) -> Result<(), SendError> {
        self.try_send(bytemuck::bytes_of(value))
    }

    /// Sends a plain-old-data value, waiting at most `timeout` for room; `Timeout` (nothing
    /// sent) after that, as [`send_timeout`](Self::send_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut writer, _reader) = shmpipe::channel(16)?;
    /// writer.send_value_timeout(&[1u16, 2, 3, 4], Duration::from_millis(5))?;
    /// let again = writer.send_value_timeout(&[5u16; 4], Duration::from_millis(5));
    /// assert!(matches!(again, Err(shmpipe::SendError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a value that timed out was not sent: it is lost unless you retry"]
    pub fn send_value_timeout<T: bytemuck::Pod>(
        &mut self,
        value: &T,
        timeout: Duration,
    ) -> Result<(), SendError> {
        self.send_timeout(bytemuck::bytes_of(value), timeout)
    }
}

/// Receiving typed values without waiting, or waiting a bounded time, or as an iterator.
impl Reader {
    /// Receives a plain-old-data value sent with `send_value` if one is there now: `Empty`
    /// otherwise, `None` at end-of-stream. A record of another length is `LengthMismatch`
    /// and stays in the ring.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// assert!(matches!(reader.try_recv_value::<u32>(), Err(shmpipe::RecvError::Empty)));
    /// writer.send_value(&42u32)?;
    /// assert_eq!(reader.try_recv_value::<u32>()?, Some(42));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received value is lost if the result is not looked at"]
    pub fn try_recv_value<T: bytemuck::Pod>(&mut self) -> Result<Option<T>, RecvError> {
        self.value_waiting(Wait::Never)
    }

    /// Receives a plain-old-data value sent with `send_value`, waiting at most `timeout`:
    /// `Timeout` after that, `None` at end-of-stream. A record of another length is
    /// `LengthMismatch` and stays in the ring.
    ///
    /// ```
    /// use std::time::Duration;
    /// let (mut writer, mut reader) = shmpipe::channel(256)?;
    /// writer.send(b"abc")?; // 3 bytes: not a u32
    /// let wrong = reader.recv_value_timeout::<u32>(Duration::from_millis(5));
    /// assert!(matches!(
    ///     wrong,
    ///     Err(shmpipe::RecvError::LengthMismatch { expected: 4, found: 3 })
    /// ));
    /// let mut buf = [0u8; 3];
    /// assert_eq!(reader.recv(&mut buf)?, Some(3)); // still there as bytes
    /// let late = reader.recv_value_timeout::<u32>(Duration::from_millis(5));
    /// assert!(matches!(late, Err(shmpipe::RecvError::Timeout)));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use = "a received value is lost if the result is not looked at"]
    pub fn recv_value_timeout<T: bytemuck::Pod>(
        &mut self,
        timeout: Duration,
    ) -> Result<Option<T>, RecvError> {
        self.value_waiting(Wait::timeout(timeout))
    }

    /// An iterator over the values sent with `send_value` (or
    /// [`Batch::send_values`](crate::Batch::send_values)), each received as
    /// [`recv_value`](Self::recv_value) does: waiting for each, ending at end-of-stream. An
    /// error is yielded once, and then it ends: a record that is not `size_of::<T>()` bytes
    /// is `LengthMismatch` (left in the ring for a byte receive), a dead writer `PeerDied`.
    ///
    /// ```
    /// let (mut writer, mut reader) = shmpipe::channel(1024)?;
    /// std::thread::spawn(move || {
    ///     for i in 1..=10u64 {
    ///         writer.send_value(&i).unwrap();
    ///     }
    /// }); // the writer drops: end-of-stream
    /// let sum: u64 = reader.values::<u64>().sum::<Result<u64, _>>()?;
    /// assert_eq!(sum, 55);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn values<T: bytemuck::Pod>(&mut self) -> Values<'_, T> {
        Values {
            reader: self,
            done: false,
            _type: PhantomData,
        }
    }
}

/// A blocking iterator over a reader's typed values ([`Reader::values`]): yields each
/// `Result<T, RecvError>`, ends at end-of-stream, and ends after yielding an error.
///
/// ```
/// let (mut writer, mut reader) = shmpipe::channel(1024)?;
/// writer.send_value(&[1.0f32, 2.0])?;
/// writer.send(b"not a pair of floats")?;
/// let mut points: shmpipe::Values<'_, [f32; 2]> = reader.values();
/// assert_eq!(points.next().transpose()?, Some([1.0, 2.0]));
/// assert!(matches!(points.next(), Some(Err(shmpipe::RecvError::LengthMismatch { .. }))));
/// assert!(points.next().is_none()); // ended by the error
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "iterators are lazy and do nothing unless consumed"]
pub struct Values<'a, T> {
    reader: &'a mut Reader,
    done: bool,
    /// Yields `T`s; holds none (so `Values` is `Send` like the reader, whatever `T`).
    _type: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Values<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Values")
            .field("type", &std::any::type_name::<T>())
            .field("reader", &self.reader)
            .field("done", &self.done)
            .finish()
    }
}

impl<T: bytemuck::Pod> Iterator for Values<'_, T> {
    type Item = Result<T, RecvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let next = self.reader.recv_value::<T>();
        yield_once(next, &mut self.done)
    }
}

impl<T: bytemuck::Pod> FusedIterator for Values<'_, T> {}
