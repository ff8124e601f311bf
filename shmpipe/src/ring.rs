//! `Ring`: a ring's memory, created or opened through [`RingOptions`](crate::RingOptions),
//! from which the one [`Writer`] and the one [`Reader`] are attached.

use std::sync::Arc;
use std::time::Duration;

use crate::error::AttachError;
use crate::layout::Role;
use crate::layout::{Backend, FLAG_KEEP_NAME};
use crate::memory::Memory;
use crate::protocol::{self, ReaderState, WriterState};
use crate::reader::Reader;
use crate::writer::Writer;

/// A ring buffer's memory, shared between processes or threads. Attach the one [`Writer`] with
/// [`writer`](Ring::writer) and the one [`Reader`] with [`reader`](Ring::reader); the handles
/// keep the memory alive, so the `Ring` itself may be dropped after that.
///
/// ```
/// let ring = shmpipe::RingOptions::new().capacity(1024).heap()?;
/// let mut writer = ring.writer()?;
/// let mut reader = ring.reader()?;
/// writer.send(b"hello")?;
/// let mut buf = [0u8; 16];
/// assert_eq!(reader.recv(&mut buf)?, Some(5));
/// assert_eq!(&buf[..5], b"hello");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Ring {
    pub(crate) memory: Arc<Memory>,
    pub(crate) description: String,
    pub(crate) spin: Duration,
    /// What a create with `replace_stale` replaced, if anything.
    pub(crate) replaced: Option<String>,
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring")
            .field("segment", &self.description)
            .field("capacity", &self.capacity())
            .finish()
    }
}

impl Ring {
    /// The data capacity in bytes.
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().capacity(4096).heap()?;
    /// assert_eq!(ring.capacity(), 4096);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn capacity(&self) -> u64 {
        self.memory.geometry.capacity
    }

    /// The largest message one send can carry (capacity minus the 8-byte record header).
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().capacity(4096).heap()?;
    /// assert_eq!(ring.max_message(), 4088);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn max_message(&self) -> usize {
        protocol::max_message(self.capacity())
    }

    /// The backend the segment was created with.
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().heap()?;
    /// assert_eq!(ring.backend(), shmpipe::Backend::Heap);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn backend(&self) -> Backend {
        self.memory.backend()
    }

    /// The segment, as error messages name it.
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().heap()?;
    /// assert_eq!(ring.description(), "a heap ring");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn description(&self) -> &str {
        &self.description
    }

    /// Attaches the ring's one writer. Fails if a live writer holds the role (naming the pid
    /// it recorded) or the writer already closed the ring; a role whose holder died is taken
    /// over. Who is alive is the kernel's answer (see [`Writer`] on `fork`), not a pid's.
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().heap()?;
    /// let writer = ring.writer()?;
    /// assert!(ring.writer().is_err()); // one writer at a time
    /// drop(writer);
    /// assert!(ring.writer().is_err()); // and the ring is closed once it goes
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn writer(&self) -> Result<Writer, AttachError> {
        let token = self
            .memory
            .liveness()
            .claim(self.memory.header(), Role::Writer)?;
        let ring = self.memory.ring();
        match WriterState::attach(&ring) {
            Ok(state) => {
                self.after_attach(Role::Writer);
                Ok(Writer::new(self.memory.clone(), state, self.spin, token))
            }
            Err(e) => {
                crate::ownership::unclaim_word(&ring.header.writer);
                Err(e)
            }
        }
    }

    /// Attaches the ring's one reader. Fails like [`writer`](Ring::writer).
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().heap()?;
    /// let mut reader = ring.reader()?;
    /// let mut buf = [0u8; 8];
    /// assert!(matches!(reader.try_recv(&mut buf), Err(shmpipe::RecvError::Empty))); // no writer yet
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reader(&self) -> Result<Reader, AttachError> {
        let token = self
            .memory
            .liveness()
            .claim(self.memory.header(), Role::Reader)?;
        let ring = self.memory.ring();
        match ReaderState::attach(&ring) {
            Ok(state) => {
                self.after_attach(Role::Reader);
                Ok(Reader::new(self.memory.clone(), state, self.spin, token))
            }
            Err(e) => {
                crate::ownership::unclaim_word(&ring.header.reader);
                Err(e)
            }
        }
    }

    /// What a create with [`RingOptions::replace_stale`](crate::RingOptions::replace_stale) replaced (a sentence), or `None` if
    /// the name was free.
    ///
    /// ```
    /// let ring = shmpipe::RingOptions::new().heap()?;
    /// assert_eq!(ring.replaced(), None); // nothing was there
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn replaced(&self) -> Option<&str> {
        self.replaced.as_deref()
    }

    /// Once both roles are claimed nobody else needs the name: remove it unless asked to keep
    /// it, so a crash from now on leaves nothing behind. Best effort: a failure leaves the name
    /// for `shmpipe rm`.
    fn after_attach(&self, own: Role) {
        let ring = self.memory.ring();
        if protocol::both_attached(&ring, own) && self.memory.geometry.flags & FLAG_KEEP_NAME == 0 {
            self.memory.remove_name();
        }
    }
}

#[cfg(test)]
mod layout_tests {
    //! The bytes a C program would see, at the offsets `docs/LAYOUT.md` documents.
    use super::*;
    use crate::layout;
    use crate::RingOptions;

    fn u32_at(base: *const u8, offset: usize) -> u32 {
        // SAFETY: `offset + 4` is inside the heap block (header + data) and 4-aligned; this
        // test is single-threaded, so no store races with the read.
        unsafe { (base.add(offset) as *const u32).read() }
    }

    fn u64_at(base: *const u8, offset: usize) -> u64 {
        // SAFETY: as above, 8-aligned.
        unsafe { (base.add(offset) as *const u64).read() }
    }

    #[test]
    fn header_and_records_sit_at_the_documented_offsets() {
        let ring = RingOptions::new().capacity(256).heap().unwrap();
        let base = ring.memory.header() as *const layout::Header as *const u8;
        let mut magic = [0u8; 8];
        // SAFETY: the first 8 bytes of the header, read in a single-threaded test.
        unsafe { std::ptr::copy_nonoverlapping(base, magic.as_mut_ptr(), 8) };
        assert_eq!(&magic, b"SHMPIPE\0");
        assert_eq!(u32_at(base, 8), 4, "version");
        assert_eq!(u32_at(base, 12), 4096, "header size");
        assert_eq!(u64_at(base, 16), 256, "capacity");
        assert_eq!(u32_at(base, 24), 0, "flags");
        assert_eq!(u32_at(base, 28), 0x0102_0304, "endian marker");
        assert_eq!(u32_at(base, 32), 1, "init word");
        assert_eq!(u32_at(base, 36), std::process::id(), "creator pid");
        assert_eq!(
            u32_at(base, 40),
            crate::os::pid_namespace(),
            "creator PID namespace"
        );
        assert_eq!(u32_at(base, 48), usize::BITS, "pointer bits");
        assert_eq!(u32_at(base, 52), 0, "backend: heap");

        let mut writer = ring.writer().unwrap();
        assert_eq!(u32_at(base, 128 + 64), 1, "writer state: attached");
        assert_eq!(
            u64_at(base, 128 + 72) as u32,
            std::process::id(),
            "writer owner pid"
        );
        assert_eq!(u32_at(base, 256 + 64), 0, "reader state: vacant");
        writer.send(b"abc").unwrap();
        assert_eq!(u64_at(base, 128), 16, "write position: 8 + 8");
        assert_eq!(u32_at(base, 4096), 3, "record length");
        assert_eq!(u32_at(base, 4096 + 4), 0, "record flags");
        // SAFETY: the payload bytes of the record, read in a single-threaded test.
        let payload = unsafe { std::slice::from_raw_parts(base.add(4096 + 8), 3) };
        assert_eq!(payload, b"abc");
        // A run of values: one header, length 3 * 4, flags 2 | 4 << 16, the values after it.
        writer.batch().send_values(&[7u32, 8, 9]).unwrap();
        assert_eq!(
            u64_at(base, 128),
            16 + 24,
            "write position: 8 + 12 padded to 16"
        );
        assert_eq!(u32_at(base, 4096 + 16), 12, "run length");
        assert_eq!(u32_at(base, 4096 + 16 + 4), 2 | 4 << 16, "run flags");
        assert_eq!(u32_at(base, 4096 + 24), 7, "first value");
        assert_eq!(u32_at(base, 4096 + 32), 9, "last value");

        let mut reader = ring.reader().unwrap();
        let mut buf = [0u8; 8];
        reader.recv(&mut buf).unwrap();
        assert_eq!(u64_at(base, 256), 16, "read position");
        assert_eq!(reader.recv_value::<u32>().unwrap(), Some(7));
        assert_eq!(
            u64_at(base, 256),
            16,
            "read position: the run is held until its last value"
        );
        assert_eq!(reader.recv_value::<u32>().unwrap(), Some(8));
        assert_eq!(reader.recv_value::<u32>().unwrap(), Some(9));
        assert_eq!(u64_at(base, 256), 40, "read position: the run released");
        drop(writer);
        assert_eq!(u32_at(base, 128 + 64), 2, "writer state: closed");
    }

    #[test]
    fn handles_are_send() {
        // Not Clone and not Sync: the compile_fail doctests on `Writer` and `Reader`.
        fn send<T: Send>() {}
        send::<crate::Writer>();
        send::<crate::Reader>();
        send::<Ring>();
    }
}
