//! # shmpipe
//!
//! A lock-free single-producer / single-consumer ring buffer in shared memory, so that two
//! processes (or two threads) exchange messages at memory speed instead of through the kernel,
//! with everything a pipe gives: flow control, blocking with timeouts, end-of-stream when the
//! writer closes, an error (not a `SIGPIPE`) when the reader closes, and a clear error when the
//! peer dies.
//!
//! ```
//! let (mut writer, mut reader) = shmpipe::channel(4096)?;
//! writer.send(b"hello")?;
//! drop(writer); // closes: the reader drains, then sees end-of-stream
//! let mut buf = [0u8; 64];
//! assert_eq!(reader.recv(&mut buf)?, Some(5));
//! assert_eq!(&buf[..5], b"hello");
//! assert_eq!(reader.recv(&mut buf)?, None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Across processes, create a ring in a named segment and open it from the other side:
//!
//! ```no_run
//! use shmpipe::{Ring, Segment};
//! // process 1
//! let ring = Ring::create(&Segment::posix("demo"), 1 << 20)?;
//! let mut writer = ring.writer()?;
//! writer.send(b"across processes")?;
//! // process 2
//! let ring = Ring::open(&Segment::posix("demo"))?;
//! let mut reader = ring.reader()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The segment can be POSIX shared memory (the default), System V, a file mapped
//! `MAP_SHARED`, an anonymous mapping inherited across `fork`, or a sealed `memfd` passed over
//! a Unix socket. The layout is specified in `docs/LAYOUT.md` of the repository.
//!
//! ## Async and many rings
//!
//! With the `tokio` feature, `shmpipe::tokio::{AsyncReader, AsyncWriter}` wrap the handles for
//! tokio programs; [`WaitSet`] waits on many rings from sync code. Both sleep in one
//! `futex_waitv(2)` on the rings' wake words (Linux 5.16+; older kernels poll every
//! millisecond instead), so the peer needs nothing new.
//!
//! ## Platform
//!
//! Linux only (x86_64 and aarch64 are tested; any 64-bit little- or big-endian Linux target
//! builds), kernel 3.17 or newer: blocking uses process-shared `futex(2)` wait/wake on words in
//! the shared segment, the memfd backend uses `memfd_create(2)` and file seals (3.17),
//! ownership uses open-file-description locks (`F_OFD_SETLK`, 3.15), and `/dev/shm` must be a
//! tmpfs for the POSIX backend. Other targets fail to compile with a message saying so.
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_debug_implementations)]
// The loom build compiles out the OS segments, leaving some helpers unused.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "shmpipe supports Linux only: it blocks with futex(2) on words in shared memory, creates \
     sealed segments with memfd_create(2) and tells live peers from dead ones with Linux file \
     locks and /proc; none of these exist in the same form on this target"
);

// Built in both builds: the ring protocol and everything written against the shims.
mod attempt;
mod channel;
mod error;
mod iter;
mod layout;
mod lock_table;
mod notify;
mod occupancy;
mod options;
mod ownership;
mod problem;
mod protocol;
mod reader;
mod region;
mod ring;
mod status;
mod sync;
mod typed;
mod wait;
mod waitset;
mod writer;

// The real kernel and memory; under loom, `loom_model` stands in for both with the same names.
#[cfg(not(loom))]
mod inspect;
#[cfg(not(loom))]
mod memory;
#[cfg(not(loom))]
mod open;
#[cfg(not(loom))]
mod os;
#[cfg(not(loom))]
mod process;
#[cfg(not(loom))]
mod segment;
#[cfg(all(not(loom), feature = "test-hooks"))]
mod tamper;
#[cfg(all(not(loom), feature = "tokio"))]
pub mod tokio;

#[cfg(loom)]
#[doc(hidden)]
pub mod loom_model;
#[cfg(loom)]
use loom_model::{memory, os};

/// The `bytemuck` this crate's typed values are written against: derive or implement
/// [`bytemuck::Pod`] through this path to be sure the traits match.
pub use bytemuck;
pub use channel::channel;
pub use error::{AttachError, CreateError, OpenError, RecvError, SendError};
#[cfg(not(loom))]
pub use inspect::{inspect, Inspection};
pub use iter::{Iter, TryIter};
pub use layout::{
    Backend, Role, HEADER_SIZE, LAYOUT_VERSION, MAGIC, MAGIC_V1, MAX_CAPACITY, MIN_CAPACITY,
};
#[cfg(not(loom))]
pub use open::remove;
pub use options::RingOptions;
pub use problem::HeaderProblem;
pub use reader::{Reader, RecvBatch, RecvRef};
pub use ring::Ring;
#[cfg(not(loom))]
pub use segment::{NameError, Segment, SysvKey};
pub use status::{RoleState, SideStatus, Status};
pub use typed::Values;
pub use waitset::{WaitKey, WaitReady, WaitSet};
pub use writer::{Batch, Grant, Writer};
