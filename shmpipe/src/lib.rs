//! # shmpipe
//!
//! A lock-free single-producer / single-consumer ring buffer in shared memory, so that two
//! processes (or two threads) exchange messages at memory speed instead of through the kernel,
//! with everything a pipe gives: flow control, blocking with timeouts, end-of-stream when the
//! writer closes, an error (not a `SIGPIPE`) when the reader closes, and a clear error when the
//! peer dies.
//!
//! A ring has exactly one [`Writer`] and one [`Reader`], across all processes. A message is a
//! byte slice of any length up to [`max_message`](Writer::max_message), delivered whole and in
//! order as one *record*.
//!
//! # Hello, world
//!
//! [`channel`] makes a ring on the heap, for two threads:
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
//! The handles are `Send`, so each side can move to its own thread:
//!
//! ```
//! let (mut writer, mut reader) = shmpipe::channel(1 << 16)?;
//! let producer = std::thread::spawn(move || -> Result<(), shmpipe::SendError> {
//!     for i in 0..1000u32 {
//!         writer.send(format!("message {i}").as_bytes())?;
//!     }
//!     Ok(()) // the writer drops here: end-of-stream
//! });
//! let mut count = 0;
//! for message in &mut reader {
//!     assert!(message?.starts_with(b"message "));
//!     count += 1;
//! }
//! assert_eq!(count, 1000);
//! producer.join().unwrap()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Across processes
//!
//! Create a ring in a named segment in one process and open it from the other; either may
//! start first. The name is removed once both sides have attached, so a crash leaves nothing
//! behind.
//!
//! ```no_run
//! use shmpipe::{Ring, RingOptions, Segment};
//!
//! // Process 1: create the ring (1 MiB of data) and write.
//! let ring = Ring::create(&Segment::posix("demo"), 1 << 20)?;
//! let mut writer = ring.writer()?;
//! writer.send(b"across processes")?;
//! writer.close_and_wait(None)?; // close, and wait until the reader has it all
//!
//! // Process 2: wait for the ring to appear (for as long as it takes), then read to the end.
//! let ring = RingOptions::new()
//!     .wait_for_creation(true)
//!     .timeout(None)
//!     .open(&Segment::posix("demo"))?;
//! let mut reader = ring.reader()?;
//! let mut buf = Vec::new();
//! while let Some(n) = reader.recv_into(&mut buf)? {
//!     println!("{n} bytes: {}", String::from_utf8_lossy(&buf));
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The segment can be POSIX shared memory ([`Segment::posix`], the default), System V
//! ([`Segment::sysv_key`]), a file mapped `MAP_SHARED` ([`Segment::file`]), an anonymous mapping
//! inherited across `fork` ([`RingOptions::create_anonymous`]; see [`Writer`] for the pipe(2)
//! idiom), or a sealed `memfd` passed over a Unix socket. The layout is specified in
//! `docs/LAYOUT.md` of the repository; [`Ring::status`] and the `shmpipe` command
//! (`shmpipe stat NAME`) show a live ring's positions and peers.
//!
//! # Blocking, non-blocking, timeouts
//!
//! Every send and receive comes in three forms: `send` waits as long as it takes (spinning
//! briefly, then sleeping on a futex in the segment), `try_send` never waits (`Full` or
//! `Empty` instead), and `send_timeout` waits at most a given time (then `Timeout`).
//!
//! | waits | send | receive | in place | typed value |
//! |---|---|---|---|---|
//! | as long as needed | [`send`](Writer::send) | [`recv`](Reader::recv), [`recv_into`](Reader::recv_into) | [`reserve`](Writer::reserve), [`recv_ref`](Reader::recv_ref) | [`send_value`](Writer::send_value), [`recv_value`](Reader::recv_value) |
//! | not at all | [`try_send`](Writer::try_send) | [`try_recv`](Reader::try_recv), [`try_recv_into`](Reader::try_recv_into) | [`try_reserve`](Writer::try_reserve), [`try_recv_ref`](Reader::try_recv_ref) | [`try_send_value`](Writer::try_send_value), [`try_recv_value`](Reader::try_recv_value) |
//! | up to a timeout | [`send_timeout`](Writer::send_timeout) | [`recv_timeout`](Reader::recv_timeout), [`recv_into_timeout`](Reader::recv_into_timeout) | [`reserve_timeout`](Writer::reserve_timeout), [`recv_ref_timeout`](Reader::recv_ref_timeout) | [`send_value_timeout`](Writer::send_value_timeout), [`recv_value_timeout`](Reader::recv_value_timeout) |
//!
//! ```
//! use std::time::Duration;
//! use shmpipe::{RecvError, SendError};
//!
//! let (mut writer, mut reader) = shmpipe::channel(64)?;
//! let mut buf = [0u8; 64];
//! assert!(matches!(reader.try_recv(&mut buf), Err(RecvError::Empty)));
//! assert!(matches!(
//!     reader.recv_timeout(&mut buf, Duration::from_millis(10)),
//!     Err(RecvError::Timeout)
//! ));
//!
//! writer.send(&[0u8; 56])?; // an 8-byte header + 56 bytes: the ring is full
//! assert!(writer.is_full());
//! assert!(matches!(writer.try_send(b"more"), Err(SendError::Full)));
//! assert!(matches!(
//!     writer.send_timeout(b"more", Duration::from_millis(10)),
//!     Err(SendError::Timeout)
//! ));
//! assert_eq!(reader.recv(&mut buf)?, Some(56)); // makes room
//! writer.try_send(b"more")?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A blocked call spins for 50 µs before it sleeps ([`RingOptions::spin`],
//! [`Writer::set_spin`]); a writer waiting for room first dozes for up to a millisecond more
//! (naps of about 60 µs, looking after each, which cost the reader nothing); a sleeping side
//! costs no CPU, and is woken by the peer's next publish or release. The peer learns that it must wake it without a locked instruction: a
//! publish loads the sleeper's wake word after a compiler barrier, and the side going to
//! sleep pays for both fences with `membarrier(2)` (`MEMBARRIER_CMD_GLOBAL_EXPEDITED`; each
//! process registers at its first publish). Without `membarrier` (a seccomp filter, a kernel
//! before 4.16, or `SHMPIPE_NO_MEMBARRIER=1`) publishes use full fences and sleeps are cut to
//! a millisecond, so nothing is lost; `docs/LAYOUT.md`, "Sleeping", has the protocol.
//!
//! # End-of-stream and peer death
//!
//! - Dropping (or [`close`](Writer::close)-ing) the writer ends the stream: the reader gets
//!   every message sent, then `Ok(None)`. [`Writer::close_and_wait`] also waits until the
//!   reader has received everything, as a program waits for its pipe's reader.
//! - Dropping the reader makes the writer's next send fail with [`SendError::Closed`], a
//!   pipe's `EPIPE` without the `SIGPIPE`.
//! - If the peer's process dies, the survivor gets `PeerDied` (naming the pid), after every
//!   message committed before the death. A blocked `send` or `recv` hears the peer's process
//!   exit at once where the kernel can watch it (a pidfd, Linux 5.3+, peer in the same PID
//!   namespace; one thread per process, `shmpipe-deathwatch`, waits on them all) and
//!   otherwise looks every 50 ms; either way a `kill -9` is noticed within 100 ms, also by a
//!   loop of short `recv_timeout`s (a handle keeps its last look across its waits). A wait
//!   holds the watch (a pidfd) only once it has slept 50 ms, and lets it go when it ends. `try_recv` and `try_send` never look: ask [`Reader::is_abandoned`]. The kernel
//!   vouches for the verdict (a file lock the handle holds, released when the last process
//!   holding the handle is gone): the watch only says when to look, so a live peer is never
//!   declared dead.
//! - [`Reader::is_abandoned`] and [`Writer::is_abandoned`] ask, without waiting, whether the
//!   peer has closed or died.
//!
//! ```
//! use shmpipe::{RingOptions, SendError};
//!
//! let (mut writer, mut reader) = shmpipe::channel(1024)?;
//! writer.send(b"last words")?;
//! drop(writer);
//! assert!(reader.is_abandoned());
//! let mut buf = Vec::new();
//! assert_eq!(reader.recv_into(&mut buf)?, Some(10)); // still delivered
//! assert_eq!(reader.recv_into(&mut buf)?, None); // then end-of-stream
//!
//! let (mut writer, reader) = shmpipe::channel(1024)?;
//! drop(reader);
//! assert!(matches!(writer.send(b"anyone?"), Err(SendError::Closed)));
//!
//! // A writer that dies (here: `abort` lets the role go exactly as a crash would) is
//! // reported after its last message.
//! let ring = RingOptions::new().capacity(1024).create_anonymous()?;
//! let mut writer = ring.writer()?;
//! let mut reader = ring.reader()?;
//! writer.send(b"before the crash")?;
//! writer.abort();
//! assert!(reader.is_abandoned());
//! assert_eq!(reader.recv_into(&mut buf)?, Some(16));
//! assert!(matches!(reader.recv_into(&mut buf), Err(shmpipe::RecvError::PeerDied { .. })));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Zero-copy
//!
//! [`Writer::reserve`] lends room in the ring to write a message in place, published by
//! [`Grant::commit`]; [`Reader::recv_ref`] lends the next message in place, released to the
//! writer when the guard drops. Nothing is copied but what you write and read.
//!
//! ```
//! let (mut writer, mut reader) = shmpipe::channel(4096)?;
//! let mut grant = writer.reserve(64)?; // room for up to 64 bytes
//! let n = {
//!     use std::io::Write;
//!     let mut room = &mut grant[..];
//!     write!(room, "{} + {} = {}", 20, 22, 42)?;
//!     64 - room.len()
//! };
//! grant.commit(n)?; // publish the bytes written
//!
//! let record = reader.recv_ref()?.expect("a record");
//! assert_eq!(&*record, b"20 + 22 = 42");
//! drop(record); // releases its room to the writer
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Batches
//!
//! Each `send` publishes its record with one store and a load that checks for a sleeping
//! reader; a
//! [`Batch`] ([`Writer::batch`]) publishes many records together when it drops, and a
//! [`RecvBatch`] ([`Reader::batch`]) releases many with one store. For small fixed-size
//! messages, [`Batch::send_values`] and [`RecvBatch::recv_values`] move whole runs of values
//! per call, up to 4 KiB of them under one record header, copied at once on each side: the
//! fastest way to stream them (each value is still a message of its own to every receive).
//! [`Batch::reserve_values`] and [`RecvBatch::recv_values_ref`] write and read such a run in
//! place, as `&mut [T]` and `&[T]`, copying nothing ([`ValuesGrant`], [`ValuesRef`]).
//!
//! ```
//! let (mut writer, mut reader) = shmpipe::channel(4096)?;
//! {
//!     let mut batch = writer.batch();
//!     for word in ["a", "batch", "of", "words"] {
//!         batch.send(word.as_bytes())?;
//!     }
//!     batch.send_values(&[1u64, 2, 3])?;
//! } // published here, all at once
//! let mut batch = reader.batch();
//! let mut buf = [0u8; 16];
//! for _ in 0..4 {
//!     batch.recv(&mut buf)?;
//! }
//! let mut numbers = [0u64; 8];
//! assert_eq!(batch.recv_values(&mut numbers)?, 3);
//! assert_eq!(numbers[..3], [1, 2, 3]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Typed values
//!
//! Any [`bytemuck::Pod`] type (plain old data: integers, floats, arrays of them, `#[repr(C)]`
//! structs without padding) goes as one record of exactly `size_of::<T>()` bytes, with
//! [`send_value`](Writer::send_value) and [`recv_value`](Reader::recv_value) (and their
//! `try_`/`_timeout` forms), or as an iterator with [`values`](Reader::values). The crate
//! re-exports [`bytemuck`], so `shmpipe::bytemuck::Pod` is the trait it asks for (with
//! bytemuck's `derive` feature in your own `Cargo.toml`, `#[derive(Pod, Zeroable)]` does the
//! `unsafe impl`s below for you, and checks them). A message of another length is
//! [`RecvError::LengthMismatch`], never a panic, and stays in the ring.
//!
//! ```
//! use shmpipe::bytemuck::{Pod, Zeroable};
//!
//! #[repr(C)]
//! #[derive(Clone, Copy, Debug, PartialEq)]
//! struct Tick {
//!     price: f64,
//!     volume: u64,
//! }
//! // SAFETY: `repr(C)`, two 8-byte fields: no padding, and every bit pattern is a valid Tick.
//! unsafe impl Zeroable for Tick {}
//! // SAFETY: as above.
//! unsafe impl Pod for Tick {}
//!
//! let (mut writer, mut reader) = shmpipe::channel(4096)?;
//! writer.send_value(&Tick { price: 101.5, volume: 300 })?;
//! writer.send_value(&Tick { price: 101.25, volume: 10 })?;
//! writer.send(b"not a tick")?;
//! let first = reader.recv_value::<Tick>()?;
//! assert_eq!(first, Some(Tick { price: 101.5, volume: 300 }));
//! let mut ticks = reader.values::<Tick>();
//! assert_eq!(ticks.next().transpose()?.map(|t| t.volume), Some(10));
//! assert!(matches!(
//!     ticks.next(),
//!     Some(Err(shmpipe::RecvError::LengthMismatch { expected: 16, found: 10 }))
//! ));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Iteration and owned messages
//!
//! [`Reader::iter`] (also `for message in &mut reader`) yields each message as a new
//! `Vec<u8>` until end-of-stream; [`Reader::try_iter`] yields only what is there now, without
//! waiting. To reuse one buffer, [`Reader::recv_into`] resizes a `Vec<u8>` to each message: no
//! buffer to size to [`max_message`](Reader::max_message), and no `BufferTooSmall`.
//!
//! ```
//! let (mut writer, mut reader) = shmpipe::channel(4096)?;
//! writer.send(b"short")?;
//! writer.send(&[b'-'; 1000])?;
//! let ready: Vec<Vec<u8>> = reader.try_iter().collect::<Result<_, _>>()?;
//! assert_eq!(ready.len(), 2);
//!
//! writer.send(&[b'x'; 2000])?;
//! drop(writer);
//! let mut buf = Vec::new(); // grows as needed, reused after that
//! while let Some(n) = reader.recv_into(&mut buf)? {
//!     assert_eq!(n, 2000);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The reader is also an [`io::Read`](std::io::Read) and [`io::BufRead`](std::io::BufRead),
//! and the writer an [`io::Write`](std::io::Write), for a byte stream (`io::copy` and
//! friends) rather than messages.
//!
//! # Async and many rings
//!
//! With the `tokio` feature, `shmpipe::tokio::{AsyncReader, AsyncWriter}` wrap the handles for
//! tokio programs; [`WaitSet`] waits on many rings from sync code. Both sleep in one
//! `futex_waitv(2)` on the rings' wake words (Linux 5.16+; older kernels poll every
//! millisecond instead), so the peer needs nothing new.
//!
//! ```
//! let (_to_a, reader_a) = shmpipe::channel(1024)?;
//! let (mut to_b, reader_b) = shmpipe::channel(1024)?;
//! let mut set = shmpipe::WaitSet::new();
//! let a = set.add_reader(reader_a);
//! let b = set.add_reader(reader_b);
//! to_b.send(b"for b")?;
//! let ready = set.wait(); // wakes when any ring has a message (or its writer went)
//! assert!(ready.iter().any(|r| r.key == b) && !ready.iter().any(|r| r.key == a));
//! let reader = set.reader(b).expect("a reader");
//! assert_eq!(reader.try_iter().count(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Picking a capacity
//!
//! The capacity is the ring's data size in bytes: a power of two from [`MIN_CAPACITY`]
//! (16 bytes) to [`MAX_CAPACITY`] (1 TiB), plus a [`HEADER_SIZE`] (4 KiB) header.
//!
//! - **What a message costs.** A record is an 8-byte header and the payload padded to a
//!   multiple of 8: `8 + round_up(len, 8)` bytes, so a 1-byte message takes 16 bytes, a 64-byte
//!   one 72, an empty one 8. A record never wraps around the end of the region: one that does
//!   not fit there leaves the rest as a padding record and starts again at offset 0.
//!   [`Writer::len`] counts all of these bytes.
//! - **The largest message** is `capacity - 8` bytes ([`max_message`](Writer::max_message); at
//!   most `2^32 - 8`); a longer one is [`SendError::TooLarge`]. A message that large fits only
//!   into an empty ring, so the writer waits for the reader to drain everything first: make
//!   the ring several times the largest message you send, so the writer can fill while the
//!   reader drains.
//! - **Throughput.** Between two processes on two cores of the development machine (1 MiB of
//!   L2 per core, 32 MiB of shared L3), a 4 MiB ring was the fastest or within noise of the
//!   fastest for every message size measured, and 2-6× a 256 KiB ring for 8 B to 4 KiB
//!   messages; rings up to 1 MiB were markedly slower (a ring that fits in the writer's L2
//!   makes the reader fetch each line from the writer's cache), and 16 MiB could be slower
//!   again. See "Ring capacity" in `docs/BENCHMARKS.md`, and measure your own machine with
//!   `shmpipe bench --capacity SIZE`.
//! - **The command line.** `shmpipe write` creates 1 MiB rings unless given `--capacity`: for
//!   a byte stream moved in and out with `read(2)`/`write(2)`, 1 MiB and 4 MiB measured the
//!   same.
//! - **Latency and memory.** A small ring costs little and wakes the peer just as fast; the
//!   capacity only bounds how far the writer can run ahead of the reader.
//!
//! ```
//! let (mut writer, _reader) = shmpipe::channel(1024)?;
//! assert_eq!(writer.max_message(), 1016);
//! // 100-byte messages take 8 + 104 = 112 bytes each: 9 fit in 1 KiB.
//! for _ in 0..9 {
//!     writer.try_send(&[0u8; 100])?;
//! }
//! assert_eq!(writer.len(), 9 * 112);
//! assert!(matches!(writer.try_send(&[0u8; 100]), Err(shmpipe::SendError::Full)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Platform
//!
//! Linux only (x86_64 and aarch64 are tested; any 64-bit little- or big-endian Linux target
//! builds), kernel 3.17 or newer (4.16 for `membarrier`'s expedited global fence, without which
//! wake-ups can take up to a millisecond): blocking uses process-shared `futex(2)` wait/wake
//! on words in the shared segment, the memfd backend uses `memfd_create(2)` and file seals (3.17),
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
mod fence;
mod hand_back;
mod iter;
mod layout;
mod lock_table;
mod notify;
mod occupancy;
mod options;
mod ownership;
mod peer;
mod problem;
mod protocol;
mod reader;
mod region;
mod ring;
mod slip;
mod status;
mod sync;
mod typed;
mod wait;
mod waitset;
mod writer;

// The real kernel and memory; under loom, `loom_model` stands in for both with the same names.
#[cfg(not(loom))]
mod death_watch;
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
#[cfg(all(not(loom), feature = "test-hooks"))]
#[doc(hidden)]
pub use tamper::death_watch as death_watch_hooks;
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
pub use reader::{Reader, RecvBatch, RecvRef, ValuesRef};
pub use ring::Ring;
#[cfg(not(loom))]
pub use segment::{NameError, Segment, SysvKey};
pub use status::{RoleState, SideStatus, Status};
pub use typed::Values;
pub use waitset::{WaitKey, WaitReady, WaitSet};
pub use writer::{Batch, Grant, ValuesGrant, Writer};
