//! Handles that keep a reservation or a lent record across calls.
//!
//! The Rust API lends a reservation ([`Grant`]) or a record ([`RecvRef`]) as a guard that
//! borrows the handle, which a C caller (or a Python object) cannot express: it calls
//! `shmpipe_reserve`, returns, and calls `shmpipe_commit` later. [`HeldWriter`] and
//! [`HeldReader`] own their handle on the heap and keep the guard next to it, and hand out the
//! handle only while no guard is alive, so the guard's exclusive borrow is never aliased.

use std::ptr::NonNull;
use std::time::Duration;

use shmpipe::{Grant, Reader, RecvRef, Writer};

use crate::code::{self, Error};

/// How long a call may block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// As long as needed.
    Forever,
    /// Not at all: `FULL` or `EMPTY` instead.
    Never,
    /// Up to this long: `TIMED_OUT` after it.
    For(Duration),
}

fn busy(what: &str) -> Error {
    Error::new(
        code::BUSY,
        format!("this handle holds {what}; finish with it before the next call"),
    )
}

/// A [`Writer`] that can hold one reservation between calls.
pub struct HeldWriter {
    /// The writer, from `Box::into_raw`; freed in `Drop`. While `grant` is `Some`, the grant
    /// holds the only reference to it.
    writer: NonNull<Writer>,
    /// The reservation, borrowing `*writer` for as long as this struct keeps it: the `'static`
    /// is a lie this type hides, by dropping the grant before the writer and never handing
    /// out the writer while the grant lives.
    grant: Option<Grant<'static>>,
}

impl std::fmt::Debug for HeldWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldWriter").finish_non_exhaustive()
    }
}

// SAFETY: a `HeldWriter` owns its `Writer` (which is `Send`) and the grant borrowing it; moving
// both to another thread together moves nothing that another thread still uses.
unsafe impl Send for HeldWriter {}

impl HeldWriter {
    /// Takes ownership of `writer`.
    pub fn new(writer: Writer) -> Self {
        HeldWriter {
            writer: NonNull::from(Box::leak(Box::new(writer))),
            grant: None,
        }
    }

    /// The writer, unless a reservation is held.
    pub fn writer(&mut self) -> Result<&mut Writer, Error> {
        if self.grant.is_some() {
            return Err(busy("a reservation"));
        }
        // SAFETY: `writer` came from a live `Box` freed only in `drop`, and no grant borrows it
        // (checked above), so this is the only reference; it borrows `self` mutably, so no
        // grant can be made while it lives.
        Ok(unsafe { self.writer.as_mut() })
    }

    /// Reserves `len` bytes (waiting as `wait` says) and keeps the reservation; returns it.
    pub fn reserve(&mut self, len: usize, wait: Wait) -> Result<&mut [u8], Error> {
        if self.grant.is_some() {
            return Err(busy("a reservation"));
        }
        // SAFETY: as in `writer`; the `'static` borrow is stored in `self.grant`, which is
        // dropped before the box is freed (see `Drop`), and `writer()` refuses to alias it.
        let writer: &'static mut Writer = unsafe { &mut *self.writer.as_ptr() };
        let grant = match wait {
            Wait::Forever => writer.reserve(len),
            Wait::Never => writer.try_reserve(len),
            Wait::For(t) => writer.reserve_timeout(len, t),
        }?;
        Ok(&mut self.grant.insert(grant)[..])
    }

    /// The bytes of the held reservation, if any.
    pub fn reserved(&mut self) -> Option<&mut [u8]> {
        self.grant.as_deref_mut()
    }

    /// Commits the first `len` bytes of the held reservation. A `len` larger than it is
    /// `INVALID_ARGUMENT` and keeps the reservation; no reservation is `NOTHING_HELD`.
    pub fn commit(&mut self, len: usize) -> Result<(), Error> {
        let reserved = match &self.grant {
            Some(grant) => grant.len(),
            None => return Err(Error::new(code::NOTHING_HELD, "no reservation to commit")),
        };
        if len > reserved {
            return Err(Error::new(
                code::INVALID_ARGUMENT,
                format!(
                    "cannot commit {len} bytes of a {reserved}-byte reservation; it is still held"
                ),
            ));
        }
        let grant = self.grant.take().expect("checked above");
        grant.commit(len).map_err(Error::from)
    }

    /// Drops the held reservation without sending anything; `false` if none was held.
    pub fn abandon(&mut self) -> bool {
        self.grant.take().is_some()
    }

    /// Abandons any reservation and gives the writer back.
    pub fn into_writer(mut self) -> Writer {
        self.grant = None;
        let writer = self.writer;
        std::mem::forget(self);
        // SAFETY: the pointer came from `Box::leak` and the grant borrowing it is gone; `self`
        // is forgotten, so its `Drop` cannot free the box a second time.
        *unsafe { Box::from_raw(writer.as_ptr()) }
    }
}

impl Drop for HeldWriter {
    fn drop(&mut self) {
        // The grant first: it borrows the writer.
        self.grant = None;
        // SAFETY: the pointer came from `Box::leak`, is freed only here, and nothing borrows
        // it any more.
        drop(unsafe { Box::from_raw(self.writer.as_ptr()) });
    }
}

/// A [`Reader`] that can hold one lent record between calls.
pub struct HeldReader {
    /// The reader, from `Box::leak`; freed in `Drop`. While `record` is `Some`, the guard holds
    /// the only reference to it.
    reader: NonNull<Reader>,
    /// The lent record, borrowing `*reader` as `HeldWriter::grant` borrows its writer.
    record: Option<RecvRef<'static>>,
}

impl std::fmt::Debug for HeldReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeldReader").finish_non_exhaustive()
    }
}

// SAFETY: as for `HeldWriter`: the reader (which is `Send`) and its guard move together.
unsafe impl Send for HeldReader {}

impl HeldReader {
    /// Takes ownership of `reader`.
    pub fn new(reader: Reader) -> Self {
        HeldReader {
            reader: NonNull::from(Box::leak(Box::new(reader))),
            record: None,
        }
    }

    /// The reader, unless a record is held.
    pub fn reader(&mut self) -> Result<&mut Reader, Error> {
        if self.record.is_some() {
            return Err(busy("a lent record"));
        }
        // SAFETY: as in `HeldWriter::writer`.
        Ok(unsafe { self.reader.as_mut() })
    }

    /// Receives the next record in place (waiting as `wait` says) and holds it until
    /// [`release`](Self::release); `None` at end-of-stream.
    pub fn recv_ref(&mut self, wait: Wait) -> Result<Option<&[u8]>, Error> {
        if self.record.is_some() {
            return Err(busy("a lent record"));
        }
        // SAFETY: as in `HeldWriter::reserve`: the guard is stored in `self.record`, dropped
        // before the box is freed, and `reader()` refuses to alias it.
        let reader: &'static mut Reader = unsafe { &mut *self.reader.as_ptr() };
        let record = match wait {
            Wait::Forever => reader.recv_ref(),
            Wait::Never => reader.try_recv_ref(),
            Wait::For(t) => reader.recv_ref_timeout(t),
        }?;
        Ok(record.map(|r| &**self.record.insert(r)))
    }

    /// The held record's bytes, if one is held.
    pub fn record(&self) -> Option<&[u8]> {
        self.record.as_deref()
    }

    /// Releases the held record to the writer; `false` if none was held.
    pub fn release(&mut self) -> bool {
        self.record.take().is_some()
    }

    /// Releases any held record and gives the reader back.
    pub fn into_reader(mut self) -> Reader {
        self.record = None;
        let reader = self.reader;
        std::mem::forget(self);
        // SAFETY: as in `HeldWriter::into_writer`.
        *unsafe { Box::from_raw(reader.as_ptr()) }
    }
}

impl Drop for HeldReader {
    fn drop(&mut self) {
        // The record first: it borrows the reader.
        self.record = None;
        // SAFETY: the pointer came from `Box::leak`, is freed only here, and nothing borrows
        // it any more.
        drop(unsafe { Box::from_raw(self.reader.as_ptr()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_blocks_the_writer_until_committed() {
        let (writer, reader) = shmpipe::channel(256).unwrap();
        let (mut w, mut r) = (HeldWriter::new(writer), HeldReader::new(reader));
        w.reserve(8, Wait::Never)
            .unwrap()
            .copy_from_slice(b"12345678");
        assert_eq!(w.writer().unwrap_err().code, code::BUSY);
        assert_eq!(w.reserve(1, Wait::Never).unwrap_err().code, code::BUSY);
        assert_eq!(w.commit(9).unwrap_err().code, code::INVALID_ARGUMENT);
        w.commit(5).unwrap();
        assert_eq!(w.commit(1).unwrap_err().code, code::NOTHING_HELD);
        assert_eq!(r.recv_ref(Wait::Never).unwrap(), Some(&b"12345"[..]));
        assert_eq!(r.reader().unwrap_err().code, code::BUSY);
        assert_eq!(r.record(), Some(&b"12345"[..]));
        assert!(r.release());
        assert!(!r.release());
        assert_eq!(r.recv_ref(Wait::Never).unwrap_err().code, code::EMPTY);
        w.reserve(3, Wait::Never).unwrap();
        assert!(w.abandon());
        drop(w.into_writer());
        assert_eq!(r.recv_ref(Wait::Forever).unwrap(), None);
    }

    #[test]
    fn dropping_with_a_guard_held_closes_cleanly() {
        let (writer, reader) = shmpipe::channel(256).unwrap();
        let (mut w, mut r) = (HeldWriter::new(writer), HeldReader::new(reader));
        w.writer().unwrap().send(b"kept").unwrap();
        w.reserve(4, Wait::Never).unwrap();
        drop(w); // abandons the reservation, closes
        assert_eq!(r.recv_ref(Wait::Never).unwrap(), Some(&b"kept"[..]));
        let reader = r.into_reader(); // releases it
        let mut r = HeldReader::new(reader);
        assert_eq!(r.recv_ref(Wait::For(Duration::from_secs(5))).unwrap(), None);
    }
}
