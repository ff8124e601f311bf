//! # shmring
//!
//! A lock-free single-producer / single-consumer ring buffer in shared memory, so that two
//! processes (or two threads) exchange messages at memory speed instead of through the kernel,
//! with everything a pipe gives: flow control, blocking with timeouts, end-of-stream when the
//! writer closes, an error (not a `SIGPIPE`) when the reader closes, and a clear error when the
//! peer dies.
//!
//! ```
//! let (mut writer, mut reader) = shmring::channel(4096)?;
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
//! use shmring::{Ring, Segment};
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
//! a Unix socket. The layout is specified in `docs/LAYOUT.md`.
#![deny(unsafe_op_in_unsafe_fn)]
// The loom build compiles out the OS segments, leaving some helpers unused.
#![cfg_attr(loom, allow(dead_code, unused_imports))]

mod error;
#[cfg(not(loom))]
mod inspect;
mod layout;
mod memory;
mod process;
mod protocol;
mod reader;
mod ring;
#[cfg(not(loom))]
mod segment;
mod sync;
#[cfg(not(loom))]
mod tamper;
mod wait;
mod writer;

pub use error::{AttachError, CreateError, OpenError, RecvError, Role, SendError};
#[cfg(not(loom))]
pub use inspect::{inspect, Inspection, RawHeader};
pub use layout::{Backend, HEADER_SIZE, LAYOUT_VERSION, MAX_CAPACITY, MIN_CAPACITY};
pub use reader::{Reader, RecvBatch, RecvRef};
#[cfg(not(loom))]
pub use ring::remove;
#[cfg(loom)]
#[doc(hidden)]
pub use ring::LoomSegment;
pub use ring::{channel, Ring, RingOptions, RoleState, SideStatus, Status};
#[cfg(not(loom))]
pub use segment::{Segment, SysvKey};
pub use writer::{Batch, Grant, Writer};
