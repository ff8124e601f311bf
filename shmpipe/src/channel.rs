//! [`channel`]: a ring on the heap for two threads, with both handles attached.

use crate::error::{AttachError, CreateError};
use crate::options::RingOptions;
use crate::reader::Reader;
use crate::writer::Writer;

/// A ring on the heap for two threads: its writer and its reader.
///
/// ```
/// let (mut tx, mut rx) = shmpipe::channel(1024)?;
/// std::thread::spawn(move || {
///     for i in 0u32..100 {
///         tx.send(&i.to_le_bytes()).unwrap();
///     }
/// }); // dropping `tx` closes the ring
/// let mut sum = 0;
/// let mut buf = [0u8; 4];
/// while let Some(n) = rx.recv(&mut buf)? {
///     sum += u32::from_le_bytes(buf[..n].try_into().unwrap());
/// }
/// assert_eq!(sum, 4950);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn channel(capacity: u64) -> Result<(Writer, Reader), CreateError> {
    let ring = RingOptions::new().capacity(capacity).heap()?;
    let writer = ring.writer().map_err(attach_on_fresh)?;
    let reader = ring.reader().map_err(attach_on_fresh)?;
    Ok((writer, reader))
}

/// Attaching to a ring nobody else has seen cannot fail; if it somehow does, say so as a
/// creation error rather than panicking.
fn attach_on_fresh(e: AttachError) -> CreateError {
    CreateError::Os {
        op: "attach",
        segment: "a fresh heap ring".into(),
        source: std::io::Error::other(e.to_string()),
    }
}
