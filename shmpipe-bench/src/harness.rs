//! The two-process measuring harness behind `shmpipe bench` and the criterion benches in
//! `benches/` (both use this module, so both measure exactly the same way).
//!
//! A measurement runs between this process (the *parent*, which sends) and a *peer* process:
//! a fresh copy of the running program, started with a peer command the caller provides (the
//! CLI's hidden `bench-peer` subcommand, or an environment variable for the benches). The peer
//! is told what to do by its arguments (a [`Spec`]); it gets its end of a pipe or socket as
//! file descriptor 3 (and 4), or the name of a ring to open.
//!
//! Control travels apart from the data, over the peer's stdin and stdout:
//! - at start the peer attaches, then writes `r` (ready);
//! - **throughput**: the parent writes a message count `n` (8 bytes) to the peer's stdin,
//!   starts the clock, sends `n` messages, and stops the clock when the peer writes `k`
//!   after receiving the last one. The peer's wake-up on the count overlaps the sending, and
//!   rounds are long (milliseconds), so the control hop costs well under 1 % of a round;
//! - **latency**: the peer echoes every message back on the second channel until the first
//!   one ends; the parent times each round trip.
//!
//! Every message carries a sequence number in its first 8 bytes (the low bytes of it in a
//! shorter message), counted on across a session's rounds; the receiver checks each one, so a
//! lost, repeated or reordered message fails the measurement instead of being counted. Two
//! throughput regimes: *streaming* (the receiver takes messages as fast as it can and keeps
//! pace) and *full* (the receiver does [`full_work`], about 1 µs, after each message, and
//! the ring is [`full_capacity`], 64 KiB, so the sender waits for room).
//!
//! Every wait is bounded: the ready and acknowledgement reads poll with a timeout, and a
//! watchdog thread kills the peer and exits if one operation takes longer than
//! [`STALL_LIMIT`], so a broken transport can never hang a CI run.
//!
//! Where two or more CPUs are allowed, the parent runs on the first and the peer on the
//! second (`sched_setaffinity`), so the numbers are for two cores.
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, Once, OnceLock};
use std::time::{Duration, Instant};

use shmpipe::{Reader, RingOptions, Segment, Writer};

/// The longest one operation (a round, a batch of round trips, the start) may take before the
/// watchdog gives up on the peer.
pub const STALL_LIMIT: Duration = Duration::from_secs(120);

/// The first file descriptor a peer receives its data channels on.
pub const PEER_FD: RawFd = 3;

// ---------------------------------------------------------------------------------------------
// The machine

/// The CPUs this process may run on (its affinity mask), in order.
pub fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `cpu_set_t` is a plain bit array; all-zero is a valid (empty) set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is valid writable memory of the size passed.
    let ret = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if ret != 0 {
        return vec![0];
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE, inside the set.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Pins the calling thread (and the threads it starts later) to `cpu`.
pub fn pin_current_thread(cpu: usize) -> io::Result<()> {
    // SAFETY: all-zero is a valid empty set, and `cpu` is checked against its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::other(format!("CPU {cpu} is out of range")));
    }
    // SAFETY: in range, checked above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: a valid set of the size passed; pid 0 is the calling thread.
    if unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Where the parent and the peer run: two distinct CPUs when the affinity mask allows it.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    /// The parent's CPU, if pinned.
    pub parent: Option<usize>,
    /// The peer's CPU, if pinned.
    pub peer: Option<usize>,
}

/// Pins this thread to the first allowed CPU and picks the second for peers; no pinning on a
/// single CPU. Call it once, early, before starting threads.
pub fn place() -> Placement {
    let cpus = allowed_cpus();
    if cpus.len() >= 2 && pin_current_thread(cpus[0]).is_ok() {
        Placement {
            parent: Some(cpus[0]),
            peer: Some(cpus[1]),
        }
    } else {
        Placement {
            parent: None,
            peer: None,
        }
    }
}

/// One line naming the machine: CPU model, online CPUs, and the placement.
pub fn describe_machine(placement: &Placement) -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    // SAFETY: sysconf only reads a system value.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1);
    let pinning = match (placement.parent, placement.peer) {
        (Some(a), Some(b)) => format!("sender on CPU {a}, receiver on CPU {b}"),
        _ => "not pinned (one CPU)".to_owned(),
    };
    format!("{model}, {online} CPUs; {pinning}")
}

// ---------------------------------------------------------------------------------------------
// What a peer is asked to do

/// Throughput (one way, acknowledged per round) in one of two regimes, or latency
/// (ping-pong).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The streaming regime: the parent streams messages; the peer takes them as fast as it
    /// can, so it keeps pace with the sender (on a ring: reads on the writer's heels).
    Throughput,
    /// The full regime: the peer does [`full_work`] after each message, so it is the slower
    /// side and the sender waits for room in a full buffer (on a ring: the writer is blocked
    /// on the reader's heels); rings are [`full_capacity`] unless told otherwise.
    Full,
    /// The peer echoes each message back.
    Latency,
}

impl Mode {
    /// The name in specs.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Throughput => "throughput",
            Mode::Full => "throughput-full",
            Mode::Latency => "latency",
        }
    }

    /// Whether messages go one way (both throughput regimes).
    pub fn is_throughput(self) -> bool {
        matches!(self, Mode::Throughput | Mode::Full)
    }

    /// The regime of a throughput mode: `streaming` or `full`.
    pub fn regime(self) -> Option<&'static str> {
        match self {
            Mode::Throughput => Some("streaming"),
            Mode::Full => Some("full"),
            Mode::Latency => None,
        }
    }

    /// What the peer does after each message it receives.
    pub fn work(self) -> Work {
        match self {
            Mode::Full => full_work(),
            Mode::Throughput | Mode::Latency => Work::NONE,
        }
    }
}

/// A peer's task: transport, mode, message size, ring capacity, and transport arguments (ring
/// names). Written as words separated by spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The transport's name.
    pub transport: String,
    /// What to measure.
    pub mode: Mode,
    /// Bytes per message.
    pub size: usize,
    /// Ring (or buffer) capacity in bytes, for the transports that have one.
    pub capacity: u64,
    /// Transport-specific words: segment names.
    pub args: Vec<String>,
}

impl Spec {
    /// A task with no transport-specific words yet.
    pub fn new(transport: &str, mode: Mode, size: usize, capacity: u64) -> Self {
        Spec {
            transport: transport.to_owned(),
            mode,
            size,
            capacity,
            args: Vec::new(),
        }
    }

    /// The spec as one string of words.
    pub fn encode(&self) -> String {
        let mut words = vec![
            self.transport.clone(),
            self.mode.name().to_owned(),
            self.size.to_string(),
            self.capacity.to_string(),
        ];
        words.extend(self.args.iter().cloned());
        words.join(" ")
    }

    /// Parses what [`encode`](Self::encode) wrote.
    pub fn decode(text: &str) -> io::Result<Spec> {
        let bad = || io::Error::new(io::ErrorKind::InvalidInput, format!("bad spec {text:?}"));
        let mut words = text.split_whitespace();
        let transport = words.next().ok_or_else(bad)?.to_owned();
        let mode = match words.next() {
            Some("throughput") => Mode::Throughput,
            Some("throughput-full") => Mode::Full,
            Some("latency") => Mode::Latency,
            _ => return Err(bad()),
        };
        let size = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        let capacity = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
        Ok(Spec {
            transport,
            mode,
            size,
            capacity,
            args: words.map(str::to_owned).collect(),
        })
    }
}

/// The ring capacity used for a message size unless told otherwise: room for at least four
/// records, and 4 MiB at least. A ring larger than a core's L2 cache (1 MiB here) lets a
/// writer running ahead leave the lines it filled in the shared L3 for the reader, instead of
/// dirty in its own L2 where every line costs the reader a cross-core snoop; measured with
/// 256 KiB, 1, 4 and 16 MiB rings in docs/BENCHMARKS.md ("Ring capacity"). Every transport
/// with a buffer size (the peer crates, rtrb) gets the same capacity.
pub fn default_capacity(size: usize) -> u64 {
    let record = 8 + ((size as u64 + 7) & !7);
    (4 * record).next_power_of_two().max(4 << 20)
}

/// The ring capacity of the full regime ([`Mode::Full`]) unless told otherwise: 64 KiB, a
/// default pipe's buffer, or four records if more. Small enough that a batch of messages is
/// many rings' worth, so the sender spends the batch waiting for room (with a 4 MiB ring, a
/// batch of 20 ms could fit in the ring, and the sender would never wait).
pub fn full_capacity(size: usize) -> u64 {
    let record = 8 + ((size as u64 + 7) & !7);
    (4 * record).next_power_of_two().max(64 << 10)
}

/// The default ring capacity for a mode: [`full_capacity`] in the full regime,
/// [`default_capacity`] otherwise.
pub fn capacity_for(mode: Mode, size: usize) -> u64 {
    match mode {
        Mode::Full => full_capacity(size),
        Mode::Throughput | Mode::Latency => default_capacity(size),
    }
}

/// A recognisable message of `size` bytes.
pub fn message(size: usize) -> Vec<u8> {
    (0..size)
        .map(|i| (i as u8).wrapping_mul(31) ^ 0x5a)
        .collect()
}

/// Reads every byte of `bytes` (xor-folded eight at a time, so it vectorises): what a consumer
/// of an in-place (zero-copy) message does at the least.
#[inline]
pub fn consume(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut acc = 0u64;
    for c in &mut chunks {
        acc ^= u64::from_ne_bytes(c.try_into().unwrap_or([0; 8]));
    }
    for &b in chunks.remainder() {
        acc ^= u64::from(b);
    }
    std::hint::black_box(acc)
}

// ---------------------------------------------------------------------------------------------
// Sequence numbers

/// Bytes of a message that carry its sequence number: the first eight (little-endian), or the
/// whole message if it is shorter (the low bytes of the number).
pub fn stamp_len(size: usize) -> usize {
    size.min(8)
}

// The numbering is on every message's path, so it must cost the transport nothing it would not
// pay anyway: an 8-byte number is one load or store of a fixed size. A copy or comparison of
// `msg[..k]` with `k` known only at run time is a call to libc's `memcpy`/`memcmp` per message,
// which until 2026-12-03 held the ring at 8 bytes to about 80 M msgs/s where it does 110-150 M
// (docs/BENCHMARKS.md, "The bench's numbering").

/// Writes sequence number `seq` into the first bytes of `msg` (see [`stamp_len`]).
#[inline]
pub fn stamp(msg: &mut [u8], seq: u64) {
    if let Some(head) = msg.first_chunk_mut::<8>() {
        *head = seq.to_le_bytes();
        return;
    }
    let k = stamp_len(msg.len());
    msg[..k].copy_from_slice(&seq.to_le_bytes()[..k]);
}

/// Copies the sequence number's bytes ([`stamp_len`] of the shorter of the two) from `src` to
/// `dst`: what an in-place transport moves of a message besides reading it.
#[inline]
pub fn copy_stamp(dst: &mut [u8], src: &[u8]) {
    if let (Some(to), Some(from)) = (dst.first_chunk_mut::<8>(), src.first_chunk::<8>()) {
        *to = *from;
        return;
    }
    let k = stamp_len(src.len().min(dst.len()));
    dst[..k].copy_from_slice(&src[..k]);
}

/// The sequence number the first bytes of `msg` carry (truncated for messages under 8 bytes).
#[inline]
pub fn stamp_of(msg: &[u8]) -> u64 {
    let k = stamp_len(msg.len());
    let mut word = [0u8; 8];
    word[..k].copy_from_slice(&msg[..k]);
    u64::from_le_bytes(word)
}

/// Checks that `msg` carries sequence number `want`: a lost, repeated or reordered message
/// fails the measurement with an error naming both numbers.
#[inline]
pub fn check_seq(msg: &[u8], want: u64) -> io::Result<()> {
    if let Some(head) = msg.first_chunk::<8>() {
        return if u64::from_le_bytes(*head) == want {
            Ok(())
        } else {
            Err(out_of_sequence(want, stamp_of(msg), 8))
        };
    }
    let k = stamp_len(msg.len());
    if msg[..k] == want.to_le_bytes()[..k] {
        Ok(())
    } else {
        Err(out_of_sequence(want, stamp_of(msg), k))
    }
}

/// The error of a message that does not carry the expected sequence number.
#[cold]
pub fn out_of_sequence(want: u64, got: u64, bytes: usize) -> io::Error {
    let truncated = if bytes < 8 {
        format!(" (the low {bytes} byte(s) of the number)")
    } else {
        String::new()
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "message out of sequence: expected number {want}, received {got}{truncated}: a \
             message was lost, repeated or reordered"
        ),
    )
}

/// Work the receiver does after each message, the same for every transport: none (the
/// streaming regime), or a fixed computation (the full regime: the receiver is the slower
/// side, so a faster sender waits for room). The computation is a chain of dependent
/// shifts and xors, calibrated once per process to last a given time on an idle CPU; it is
/// work, not a clock, so a preempted receiver loses time as a real one would.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Work {
    /// Links of the chain per message.
    iterations: u64,
}

impl Work {
    /// No work: the receiver takes messages as fast as it can.
    pub const NONE: Work = Work { iterations: 0 };

    /// Work that lasts about `time` per message on this machine.
    pub fn lasting(time: Duration) -> Work {
        static PER_NS: OnceLock<f64> = OnceLock::new();
        let per_ns = *PER_NS.get_or_init(|| {
            // The fastest of a few runs: the one no other thread interrupted.
            const LINKS: u64 = 1 << 20;
            let best = (0..7)
                .map(|_| {
                    let start = Instant::now();
                    chain(LINKS);
                    start.elapsed()
                })
                .min()
                .unwrap_or(Duration::from_millis(1));
            LINKS as f64 / best.as_nanos().max(1) as f64
        });
        Work {
            iterations: (time.as_nanos() as f64 * per_ns).round() as u64,
        }
    }

    /// Does the work once.
    #[inline]
    pub fn after_message(self) {
        if self.iterations > 0 {
            chain(self.iterations);
        }
    }

    /// What one [`after_message`](Self::after_message) costs here now: the mean of many.
    pub fn cost(self) -> Duration {
        let start = Instant::now();
        for _ in 0..10_000 {
            self.after_message();
        }
        start.elapsed() / 10_000
    }
}

/// `n` links of a dependent chain (xorshift64), kept from being optimised away.
#[inline(never)]
fn chain(n: u64) {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for _ in 0..std::hint::black_box(n) {
        // xorshift64: not affine, so the compiler cannot fold links together.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    std::hint::black_box(x);
}

/// The receiver's time per message in the full regime ([`Mode::Full`]): 1 µs, so a receiver
/// could take at most 1 M messages/s even through a free transport. Less does not make the
/// receiver the slower side reliably on a 2-vCPU VM: with 100 ns (or 300 ns) of work and
/// 64-byte messages, a ring's writer found the ring full in under 5 % of its sends.
pub const FULL_WORK_TIME: Duration = Duration::from_micros(1);

/// The receiver's work per message in the full regime: [`FULL_WORK_TIME`], calibrated.
pub fn full_work() -> Work {
    Work::lasting(FULL_WORK_TIME)
}

// ---------------------------------------------------------------------------------------------
// The two ends of a data channel

/// Sends messages. `send_many` may batch; the default sends one at a time.
pub trait Tx {
    /// Sends one message (all of `msg`), waiting for room. A transport that builds the message
    /// in place writes `msg`'s first [`stamp_len`] bytes (its sequence number) and may fill
    /// the rest with one byte.
    fn send(&mut self, msg: &[u8]) -> io::Result<()>;
    /// Sends `n` messages numbered `first`, `first + 1`, ... ([`stamp`]ed into `msg`).
    fn send_many(&mut self, msg: &mut [u8], first: u64, n: u64) -> io::Result<()> {
        for seq in first..first + n {
            stamp(msg, seq);
            self.send(msg)?;
        }
        Ok(())
    }
}

/// Receives messages of a known size.
pub trait Rx {
    /// Receives one message into `buf` (exactly `buf.len()` bytes), or reads it in place and
    /// copies only its first [`stamp_len`] bytes (the sequence number) into `buf`.
    /// `Ok(false)` at end of stream.
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<bool>;
    /// Receives `n` messages, checking that they carry the numbers `first`, `first + 1`, ...,
    /// doing `work` after each.
    fn recv_many(&mut self, buf: &mut [u8], first: u64, n: u64, work: Work) -> io::Result<()> {
        for seq in first..first + n {
            if !self.recv(buf)? {
                return Err(closed_early());
            }
            check_seq(buf, seq)?;
            work.after_message();
        }
        Ok(())
    }
}

#[cold]
fn closed_early() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "the sender closed early")
}

/// The parent's side of a channel: the data out, and the echo in (latency mode).
pub struct Ends {
    /// Where messages go.
    pub tx: Box<dyn Tx>,
    /// Where echoes come back from (latency mode only).
    pub rx: Option<Box<dyn Rx>>,
}

impl std::fmt::Debug for Ends {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ends").finish_non_exhaustive()
    }
}

/// The peer's side: the data in, and the echo out (latency mode).
pub struct PeerEnds {
    /// Where messages come from.
    pub rx: Box<dyn Rx>,
    /// Where echoes go (latency mode only).
    pub tx: Option<Box<dyn Tx>>,
}

impl std::fmt::Debug for PeerEnds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerEnds").finish_non_exhaustive()
    }
}

/// What the parent prepared for one measurement, before the peer starts.
pub struct Setup {
    /// The parent's ends.
    pub ends: Ends,
    /// Descriptors the peer gets as fds 3, 4, ... (the parent's copies are closed after the
    /// spawn).
    pub pass_fds: Vec<OwnedFd>,
    /// Extra spec words (segment names).
    pub args: Vec<String>,
    /// Named segments to remove when the session ends (in case the peer never attached).
    pub cleanup: Vec<Segment>,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup").finish_non_exhaustive()
    }
}

// ---------------------------------------------------------------------------------------------
// Built-in transports: shmpipe (three ways), pipes, Unix sockets

/// The transports every build knows (the benches add the peer crates).
pub const BUILTIN: &[&str] = &[
    "ring",
    "ring-zerocopy",
    "ring-batch",
    "pipe",
    "pipe-1m",
    "unix",
    "seqpacket",
];

/// How a shmpipe end sends or receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RingStyle {
    /// `send` / `recv`: one copy in, one copy out.
    Copy,
    /// `reserve` + fill in place + `commit`; `recv_ref` + read in place.
    ZeroCopy,
    /// `batch()` on both sides: many records per publish, many per release.
    Batch,
}

fn ring_style(transport: &str) -> Option<RingStyle> {
    match transport {
        "ring" => Some(RingStyle::Copy),
        "ring-zerocopy" => Some(RingStyle::ZeroCopy),
        "ring-batch" => Some(RingStyle::Batch),
        _ => None,
    }
}

struct RingTx {
    writer: Writer,
    style: RingStyle,
    /// Records per batch (batch style).
    batch: u64,
}

impl Tx for RingTx {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        match self.style {
            RingStyle::ZeroCopy => {
                let mut grant = self.writer.reserve(msg.len()).map_err(io::Error::other)?;
                // The producer builds the message in place: every byte written once, the
                // sequence number first.
                copy_stamp(&mut grant, msg);
                let k = stamp_len(msg.len());
                if msg.len() > k {
                    grant[k..].fill(msg[k]);
                }
                grant.commit_all();
                Ok(())
            }
            _ => self.writer.send(msg).map_err(io::Error::other),
        }
    }

    fn send_many(&mut self, msg: &mut [u8], first: u64, n: u64) -> io::Result<()> {
        if self.style != RingStyle::Batch {
            for seq in first..first + n {
                stamp(msg, seq);
                self.send(msg)?;
            }
            return Ok(());
        }
        let end = first + n;
        let mut seq = first;
        if msg.len() == 8 {
            // 8-byte messages as u64 values (their sequence numbers), many per call
            // (`Batch::send_values`): runs of values under one record header each (layout
            // version 4), every value still a message of its own to the receiver.
            let mut values = vec![0u64; self.batch as usize];
            while seq < end {
                let k = (end - seq).min(self.batch) as usize;
                for (i, v) in values[..k].iter_mut().enumerate() {
                    *v = seq + i as u64;
                }
                self.writer
                    .batch()
                    .send_values(&values[..k])
                    .map_err(io::Error::other)?;
                seq += k as u64;
            }
            return Ok(());
        }
        while seq < end {
            let k = (end - seq).min(self.batch);
            let mut batch = self.writer.batch();
            for s in seq..seq + k {
                stamp(msg, s);
                batch.send(msg).map_err(io::Error::other)?;
            }
            seq += k;
        }
        Ok(())
    }
}

struct RingRx {
    reader: Reader,
    style: RingStyle,
}

impl Rx for RingRx {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        if self.style == RingStyle::ZeroCopy {
            return match self.reader.recv_ref().map_err(io::Error::other)? {
                Some(record) => {
                    check_len(record.len(), buf.len())?;
                    copy_stamp(buf, &record);
                    consume(&record);
                    Ok(true)
                }
                None => Ok(false),
            };
        }
        match self.reader.recv(buf).map_err(io::Error::other)? {
            Some(n) => check_len(n, buf.len()).map(|()| true),
            None => Ok(false),
        }
    }

    fn recv_many(&mut self, buf: &mut [u8], first: u64, n: u64, work: Work) -> io::Result<()> {
        let end = first + n;
        if self.style != RingStyle::Batch {
            for seq in first..end {
                if !self.recv(buf)? {
                    return Err(closed_early());
                }
                check_seq(buf, seq)?;
                work.after_message();
            }
            return Ok(());
        }
        // Batched on this side too: releases published an eighth of the ring at a time.
        let mut batch = self.reader.batch();
        if buf.len() == 8 {
            // 8-byte messages as u64 values, as the sender sends them (`recv_values`); a
            // record of another length is an error (`LengthMismatch`).
            let mut values = [0u64; 256];
            let mut seq = first;
            while seq < end {
                let room = (end - seq).min(values.len() as u64) as usize;
                let got = batch
                    .recv_values(&mut values[..room])
                    .map_err(io::Error::other)?;
                if got == 0 {
                    return Err(closed_early());
                }
                for &v in &values[..got] {
                    if v != seq {
                        return Err(out_of_sequence(seq, v, 8));
                    }
                    seq += 1;
                    work.after_message();
                }
            }
            return Ok(());
        }
        for seq in first..end {
            match batch.recv(buf).map_err(io::Error::other)? {
                Some(len) => check_len(len, buf.len())?,
                None => return Err(closed_early()),
            }
            check_seq(buf, seq)?;
            work.after_message();
        }
        Ok(())
    }
}

fn check_len(got: usize, want: usize) -> io::Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("received a {got}-byte message, expected {want} bytes"),
        ))
    }
}

/// Records a batch holds: enough to amortise the publish, at most an eighth of the ring.
fn batch_len(size: usize, capacity: u64) -> u64 {
    let record = 8 + ((size as u64 + 7) & !7);
    (capacity / 8 / record).clamp(1, 256)
}

/// A name for a benchmark ring, unique to this process.
fn ring_name(tag: &str) -> String {
    static COUNTER: Mutex<u32> = Mutex::new(0);
    let mut n = COUNTER.lock().unwrap_or_else(|e| e.into_inner());
    *n += 1;
    format!("shmpipe-bench-{}-{}-{tag}", std::process::id(), *n)
}

/// Creates a POSIX ring for a benchmark: the ring, its segment (for cleanup) and its name.
pub fn create_ring(capacity: u64, tag: &str) -> io::Result<(shmpipe::Ring, Segment, String)> {
    let name = ring_name(tag);
    let segment = Segment::posix(name.clone());
    let ring = RingOptions::new()
        .capacity(capacity)
        .create(&segment)
        .map_err(io::Error::other)?;
    Ok((ring, segment, name))
}

fn open_ring(name: &str) -> io::Result<shmpipe::Ring> {
    RingOptions::new()
        .timeout(Some(Duration::from_secs(10)))
        .open(&Segment::posix(name))
        .map_err(io::Error::other)
}

/// A pipe: (read end, write end), both close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded: both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A connected pair of Unix sockets of `kind` (`SOCK_STREAM`, `SOCK_SEQPACKET`).
pub fn socketpair(kind: libc::c_int) -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for socketpair to fill.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    } != 0
    {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: socketpair succeeded: both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// The largest pipe an unprivileged process may ask for (`/proc/sys/fs/pipe-max-size`).
fn pipe_max_size() -> libc::c_int {
    std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(1 << 20)
}

fn enlarge_pipe(fd: &OwnedFd) -> io::Result<()> {
    // SAFETY: fcntl on an open pipe fd with an int argument.
    if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETPIPE_SZ, pipe_max_size()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A byte stream (pipe, stream socket): a message is `len` bytes written in full.
struct StreamTx(File);

impl Tx for StreamTx {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        self.0.write_all(msg)
    }
}

struct StreamRx(File);

impl Rx for StreamRx {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        match self.0.read_exact(buf) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// A datagram socket (seqpacket): one `write` is one message.
struct PacketTx(File);

impl Tx for PacketTx {
    fn send(&mut self, msg: &[u8]) -> io::Result<()> {
        let n = self.0.write(msg)?;
        check_len(n, msg.len())
    }
}

struct PacketRx(File);

impl Rx for PacketRx {
    fn recv(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        match self.0.read(buf)? {
            0 if !buf.is_empty() => Ok(false),
            n => check_len(n, buf.len()).map(|()| true),
        }
    }
}

fn file(fd: OwnedFd) -> File {
    File::from(fd)
}

/// Takes fd `PEER_FD + i` (given to a peer at exec).
fn inherited(i: usize) -> io::Result<File> {
    let fd = PEER_FD + i as RawFd;
    // SAFETY: F_GETFD only queries the descriptor.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(io::Error::other(format!(
            "file descriptor {fd} was not passed to the peer"
        )));
    }
    // SAFETY: the fd is open (checked) and was passed to this process to own.
    Ok(unsafe { File::from_raw_fd(fd) })
}

/// Prepares the parent's side of a built-in transport; `None` if `transport` is not one.
pub fn builtin_setup(
    transport: &str,
    mode: Mode,
    size: usize,
    capacity: u64,
) -> io::Result<Option<Setup>> {
    let latency = mode == Mode::Latency;
    if let Some(style) = ring_style(transport) {
        let (ring, segment, name) = create_ring(capacity, "a")?;
        let writer = ring.writer().map_err(io::Error::other)?;
        let mut args = vec![name];
        let mut cleanup = vec![segment];
        let rx: Option<Box<dyn Rx>> = if latency {
            let (ring, segment, name) = create_ring(capacity, "b")?;
            let reader = ring.reader().map_err(io::Error::other)?;
            args.push(name);
            cleanup.push(segment);
            Some(Box::new(RingRx { reader, style }))
        } else {
            None
        };
        let tx = Box::new(RingTx {
            writer,
            style,
            batch: batch_len(size, capacity),
        });
        return Ok(Some(Setup {
            ends: Ends { tx, rx },
            pass_fds: Vec::new(),
            args,
            cleanup,
        }));
    }
    let setup = match transport {
        "pipe" | "pipe-1m" => {
            let (peer_in, out) = pipe()?;
            if transport == "pipe-1m" {
                enlarge_pipe(&out)?;
            }
            let mut pass_fds = vec![peer_in];
            let rx: Option<Box<dyn Rx>> = if latency {
                let (back, peer_out) = pipe()?;
                if transport == "pipe-1m" {
                    enlarge_pipe(&back)?;
                }
                pass_fds.push(peer_out);
                Some(Box::new(StreamRx(file(back))))
            } else {
                None
            };
            Setup {
                ends: Ends {
                    tx: Box::new(StreamTx(file(out))),
                    rx,
                },
                pass_fds,
                args: Vec::new(),
                cleanup: Vec::new(),
            }
        }
        "unix" | "seqpacket" => {
            let kind = if transport == "unix" {
                libc::SOCK_STREAM
            } else {
                libc::SOCK_SEQPACKET
            };
            let (mine, theirs) = socketpair(kind)?;
            let mine = file(mine);
            let back = mine.try_clone()?;
            let (tx, rx): (Box<dyn Tx>, Option<Box<dyn Rx>>) = if kind == libc::SOCK_STREAM {
                (
                    Box::new(StreamTx(mine)),
                    latency.then(|| Box::new(StreamRx(back)) as Box<dyn Rx>),
                )
            } else {
                (
                    Box::new(PacketTx(mine)),
                    latency.then(|| Box::new(PacketRx(back)) as Box<dyn Rx>),
                )
            };
            Setup {
                ends: Ends { tx, rx },
                pass_fds: vec![theirs],
                args: Vec::new(),
                cleanup: Vec::new(),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(setup))
}

/// Opens the peer's side of a built-in transport; `None` if `spec.transport` is not one.
pub fn builtin_peer(spec: &Spec) -> io::Result<Option<PeerEnds>> {
    let latency = spec.mode == Mode::Latency;
    if let Some(style) = ring_style(&spec.transport) {
        let name = spec
            .args
            .first()
            .ok_or_else(|| io::Error::other("no ring name"))?;
        let reader = open_ring(name)?.reader().map_err(io::Error::other)?;
        let tx: Option<Box<dyn Tx>> = if latency {
            let name = spec
                .args
                .get(1)
                .ok_or_else(|| io::Error::other("no echo ring"))?;
            let writer = open_ring(name)?.writer().map_err(io::Error::other)?;
            Some(Box::new(RingTx {
                writer,
                style,
                batch: 1,
            }))
        } else {
            None
        };
        return Ok(Some(PeerEnds {
            rx: Box::new(RingRx { reader, style }),
            tx,
        }));
    }
    let ends = match spec.transport.as_str() {
        "pipe" | "pipe-1m" => PeerEnds {
            rx: Box::new(StreamRx(inherited(0)?)),
            tx: if latency {
                Some(Box::new(StreamTx(inherited(1)?)))
            } else {
                None
            },
        },
        "unix" => {
            let socket = inherited(0)?;
            let back = socket.try_clone()?;
            PeerEnds {
                rx: Box::new(StreamRx(socket)),
                tx: latency.then(|| Box::new(StreamTx(back)) as Box<dyn Tx>),
            }
        }
        "seqpacket" => {
            let socket = inherited(0)?;
            let back = socket.try_clone()?;
            PeerEnds {
                rx: Box::new(PacketRx(socket)),
                tx: latency.then(|| Box::new(PacketTx(back)) as Box<dyn Tx>),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(ends))
}

// ---------------------------------------------------------------------------------------------
// The watchdog

/// What the watchdog watches: a deadline, the peer to kill, what to say.
static WATCH: Mutex<Option<(Instant, i32, String)>> = Mutex::new(None);

/// Arms the watchdog for one operation on the peer `pid`.
fn arm(pid: u32, what: &str) {
    static START: Once = Once::new();
    START.call_once(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(Duration::from_millis(200));
            let watch = WATCH.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((deadline, pid, what)) = watch.as_ref() {
                if Instant::now() >= *deadline {
                    // SAFETY: kill(2) on our own child's pid.
                    unsafe { libc::kill(*pid, libc::SIGKILL) };
                    eprintln!(
                        "bench: {what} made no progress for {} s; the peer was killed",
                        STALL_LIMIT.as_secs()
                    );
                    std::process::exit(1);
                }
            }
        });
    });
    *WATCH.lock().unwrap_or_else(|e| e.into_inner()) =
        Some((Instant::now() + STALL_LIMIT, pid as i32, what.to_owned()));
}

fn disarm() {
    *WATCH.lock().unwrap_or_else(|e| e.into_inner()) = None;
}

// ---------------------------------------------------------------------------------------------
// A session: one peer, one transport, one mode, one size

/// A running peer and the parent's ends of the channel to it.
pub struct Session {
    child: Child,
    control: Option<ChildStdin>,
    acks: ChildStdout,
    ends: Option<Ends>,
    cleanup: Vec<Segment>,
    msg: Vec<u8>,
    buf: Vec<u8>,
    /// The sequence number of the next message sent.
    seq: u64,
    what: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

impl Session {
    /// Starts a peer with `command` (to which the spec is added by `add_spec`), after the
    /// parent's side was set up, and waits until it is attached.
    pub fn start(
        mut command: Command,
        add_spec: impl FnOnce(&mut Command, &str),
        spec: Spec,
        setup: Setup,
        placement: &Placement,
    ) -> io::Result<Session> {
        let Setup {
            ends,
            pass_fds,
            args,
            cleanup,
        } = setup;
        let spec = Spec { args, ..spec };
        let what = format!("{} {} of {} B", spec.transport, spec.mode.name(), spec.size);
        add_spec(&mut command, &spec.encode());
        // Move the descriptors above any the target numbers could collide with.
        let high: Vec<OwnedFd> = pass_fds
            .iter()
            .map(|fd| {
                // SAFETY: F_DUPFD_CLOEXEC duplicates an open fd to the lowest free one >= 64.
                let new = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 64) };
                if new < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    // SAFETY: a fresh descriptor owned by nobody else.
                    Ok(unsafe { OwnedFd::from_raw_fd(new) })
                }
            })
            .collect::<io::Result<_>>()?;
        drop(pass_fds);
        let raw: Vec<RawFd> = high.iter().map(AsRawFd::as_raw_fd).collect();
        let cpu = placement.peer;
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        // SAFETY: the closure runs in the child between fork and exec and calls only
        // async-signal-safe functions (dup2, prctl, sched_setaffinity) on memory it owns.
        unsafe {
            command.pre_exec(move || {
                for (i, &fd) in raw.iter().enumerate() {
                    if libc::dup2(fd, PEER_FD + i as RawFd) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                }
                // The peer dies with us, so an aborted benchmark leaves no process behind.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                if let Some(cpu) = cpu {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    libc::CPU_SET(cpu, &mut set);
                    libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
                }
                Ok(())
            });
        }
        let mut child = command.spawn()?;
        drop(high);
        let control = child.stdin.take();
        let acks = child
            .stdout
            .take()
            .ok_or_else(|| io::Error::other("no stdout"))?;
        let mut session = Session {
            child,
            control,
            acks,
            ends: Some(ends),
            cleanup,
            msg: message(spec.size),
            buf: vec![0; spec.size],
            seq: 0,
            what,
        };
        session.expect(b'r', "start")?;
        Ok(session)
    }

    /// Waits (bounded) for the peer's one-byte signal `want`.
    fn expect(&mut self, want: u8, step: &str) -> io::Result<()> {
        let mut pfd = libc::pollfd {
            fd: self.acks.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let limit = STALL_LIMIT.as_millis() as libc::c_int;
        // SAFETY: one valid pollfd.
        let ready = unsafe { libc::poll(&mut pfd, 1, limit) };
        if ready <= 0 {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("{}: no answer from the peer at {step}", self.what),
            ));
        }
        let mut got = [0u8; 1];
        match self.acks.read(&mut got)? {
            1 if got[0] == want => Ok(()),
            _ => Err(io::Error::other(format!(
                "{}: the peer failed at {step} (see its message above)",
                self.what
            ))),
        }
    }

    fn ends(&mut self) -> &mut Ends {
        self.ends.as_mut().expect("ends live until finish")
    }

    /// One throughput round: `n` messages (numbered on from the last round's), from the first
    /// send to the peer's acknowledgement of the last, which it sends after checking every
    /// message's number.
    pub fn round(&mut self, n: u64) -> io::Result<Duration> {
        arm(self.child.id(), &self.what);
        let control = self
            .control
            .as_mut()
            .ok_or_else(|| io::Error::other("session finished"))?;
        control.write_all(&n.to_le_bytes())?;
        control.flush()?;
        let start = Instant::now();
        let mut msg = std::mem::take(&mut self.msg);
        let first = self.seq;
        let sent = self.ends().tx.send_many(&mut msg, first, n);
        self.msg = msg;
        self.seq += n;
        sent?;
        self.expect(b'k', "the end of a round")?;
        let elapsed = start.elapsed();
        disarm();
        Ok(elapsed)
    }

    /// `n` ping-pong round trips; each one's duration in nanoseconds is pushed to `samples`
    /// when given. Returns the total time. Each message carries a sequence number, which the
    /// peer checks and the echo must carry back.
    pub fn round_trips(
        &mut self,
        n: u64,
        mut samples: Option<&mut Vec<u64>>,
    ) -> io::Result<Duration> {
        arm(self.child.id(), &self.what);
        let mut msg = std::mem::take(&mut self.msg);
        let mut buf = std::mem::take(&mut self.buf);
        let mut seq = self.seq;
        let ends = self.ends.as_mut().expect("ends live until finish");
        let rx = ends
            .rx
            .as_mut()
            .ok_or_else(|| io::Error::other("not a latency session"))?;
        let start = Instant::now();
        let mut result = Ok(());
        for _ in 0..n {
            stamp(&mut msg, seq);
            let t0 = Instant::now();
            if let Err(e) = ends.tx.send(&msg) {
                result = Err(e);
                break;
            }
            match rx.recv(&mut buf) {
                Ok(true) => {}
                Ok(false) => {
                    result = Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the peer stopped echoing",
                    ));
                    break;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
            if let Some(s) = samples.as_deref_mut() {
                s.push(t0.elapsed().as_nanos() as u64);
            }
            if let Err(e) = check_seq(&buf, seq) {
                result = Err(e);
                break;
            }
            seq += 1;
        }
        let elapsed = start.elapsed();
        self.msg = msg;
        self.buf = buf;
        self.seq = seq;
        disarm();
        result.map(|()| elapsed)
    }

    /// Closes the channel and the control pipe, and waits (bounded) for the peer to exit 0.
    pub fn finish(mut self) -> io::Result<()> {
        self.ends = None;
        self.control = None;
        arm(self.child.id(), &self.what);
        let status = self.child.wait()?;
        disarm();
        if status.success() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{}: the peer exited with {status}",
                self.what
            )))
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.ends = None;
        self.control = None;
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for segment in &self.cleanup {
            let _ = shmpipe::remove(segment);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The peer

/// Runs a peer: opens its ends with `open` (which knows the built-in transports and any
/// others), says it is ready, then serves rounds or echoes until the parent is done.
pub fn run_peer(
    spec: &str,
    open: impl FnOnce(&Spec) -> io::Result<Option<PeerEnds>>,
) -> io::Result<()> {
    let spec = Spec::decode(spec)?;
    let mut ends = open(&spec)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("unknown transport {:?}", spec.transport),
        )
    })?;
    let mut control = io::stdin().lock();
    let mut acks = io::stdout().lock();
    acks.write_all(b"r")?;
    acks.flush()?;
    let mut buf = vec![0u8; spec.size];
    // The number the next message must carry: rounds continue the count.
    let mut seq = 0u64;
    match spec.mode {
        Mode::Throughput | Mode::Full => loop {
            let mut n = [0u8; 8];
            match control.read_exact(&mut n) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e),
            }
            let n = u64::from_le_bytes(n);
            ends.rx.recv_many(&mut buf, seq, n, spec.mode.work())?;
            seq += n;
            acks.write_all(b"k")?;
            acks.flush()?;
        },
        Mode::Latency => {
            // Some transports (iceoryx2's publish/subscribe) have no end-of-stream: the
            // parent closing the control pipe ends the peer instead.
            drop(control);
            std::thread::spawn(|| {
                let mut rest = Vec::new();
                let _ = io::stdin().lock().read_to_end(&mut rest);
                std::process::exit(0);
            });
            let tx = ends
                .tx
                .as_mut()
                .ok_or_else(|| io::Error::other("no echo channel"))?;
            while ends.rx.recv(&mut buf)? {
                check_seq(&buf, seq)?;
                seq += 1;
                tx.send(&buf)?;
            }
            Ok(())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring for a time budget (the CLI; criterion drives `round`/`round_trips` itself)

/// A throughput measurement.
#[derive(Debug, Clone, Copy)]
pub struct Throughput {
    /// Messages received.
    pub messages: u64,
    /// Time they took (sum of the measured rounds).
    pub seconds: f64,
}

/// Measures throughput for about `budget`: [`calibrate_throughput`], then
/// [`throughput_for`] the budget.
pub fn measure_throughput(
    session: &mut Session,
    size: usize,
    budget: Duration,
) -> io::Result<Throughput> {
    let n = calibrate_throughput(session, size, budget)?;
    throughput_for(session, n, budget)
}

/// Warms a throughput session up and returns the messages per batch for a measurement of
/// `budget`: a warm-up batch, then batches grown until one lasts a tenth of the budget (from
/// 2 to 200 ms; the control hop of a batch, a pipe wake-up, is then well under 1 % of it).
pub fn calibrate_throughput(
    session: &mut Session,
    size: usize,
    budget: Duration,
) -> io::Result<u64> {
    let target = (budget / 10).clamp(Duration::from_millis(2), Duration::from_millis(200));
    let mut n = ((256 << 10) / size.max(1) as u64).clamp(16, 4096);
    session.round(n)?; // warm-up: page faults, caches, frequency
    loop {
        let t = session.round(n)?;
        if t >= target / 2 || n >= 1 << 32 {
            let scale = target.as_secs_f64() / t.as_secs_f64().max(1e-9);
            return Ok(((n as f64 * scale) as u64).max(1));
        }
        n *= 4;
    }
}

/// Sends batches of `n` messages until `budget` is spent (at least one batch).
pub fn throughput_for(session: &mut Session, n: u64, budget: Duration) -> io::Result<Throughput> {
    batches_for(budget, n, |n| session.round(n))
}

/// Batches of `n` messages, `batch(n)` sending one and returning how long it took, until
/// `budget` has passed (at least one): how many messages, and their time. A measurement held to
/// its time this way ends at most one batch late, however slow the machine turns after the
/// batch was calibrated ([`throughput_for`], and the threads comparison's rounds).
pub fn batches_for(
    budget: Duration,
    n: u64,
    mut batch: impl FnMut(u64) -> io::Result<Duration>,
) -> io::Result<Throughput> {
    let (mut messages, mut seconds) = (0u64, 0f64);
    let start = Instant::now();
    while messages == 0 || start.elapsed() < budget {
        seconds += batch(n)?.as_secs_f64();
        messages += n;
    }
    Ok(Throughput { messages, seconds })
}

/// A latency measurement: round-trip times in nanoseconds.
#[derive(Debug, Clone)]
pub struct Latency {
    /// Round trips done.
    pub round_trips: u64,
    /// Their total time.
    pub seconds: f64,
    /// Each round trip's time, sorted.
    pub sorted_ns: Vec<u64>,
}

impl Latency {
    /// The `q` quantile (0..=1) of the round-trip time, in nanoseconds.
    pub fn quantile(&self, q: f64) -> u64 {
        if self.sorted_ns.is_empty() {
            return 0;
        }
        let rank = (q * self.sorted_ns.len() as f64).ceil() as usize;
        self.sorted_ns[rank.clamp(1, self.sorted_ns.len()) - 1]
    }
}

/// Measures ping-pong round trips for about `budget` after a short warm-up.
pub fn measure_latency(session: &mut Session, budget: Duration) -> io::Result<Latency> {
    warm_up_latency(session, budget / 10)?;
    latency_for(session, budget)
}

/// Round trips for `time`, not recorded.
pub fn warm_up_latency(session: &mut Session, time: Duration) -> io::Result<()> {
    let warm = Instant::now();
    while warm.elapsed() < time {
        session.round_trips(100, None)?;
    }
    Ok(())
}

/// Round trips for about `budget` (at least 256), each timed.
pub fn latency_for(session: &mut Session, budget: Duration) -> io::Result<Latency> {
    timed_round_trips(budget, |n, samples| session.round_trips(n, Some(samples)))
}

/// Round trips for about `budget` (at least 256), in calls of `round_trips(256, samples)`,
/// which makes that many, pushes each one's time onto `samples` and returns their total: how
/// [`latency_for`] measures a transport, and `cacheline::Bouncer` the cache line.
pub fn timed_round_trips(
    budget: Duration,
    mut round_trips: impl FnMut(u64, &mut Vec<u64>) -> io::Result<Duration>,
) -> io::Result<Latency> {
    let mut samples = Vec::with_capacity(1 << 16);
    let (mut made, mut seconds) = (0u64, 0f64);
    let start = Instant::now();
    while made == 0 || (start.elapsed() < budget && samples.len() < 20_000_000) {
        seconds += round_trips(256, &mut samples)?.as_secs_f64();
        made += 256;
    }
    samples.sort_unstable();
    Ok(Latency {
        round_trips: made,
        seconds,
        sorted_ns: samples,
    })
}

/// The median of `values` (the mean of the middle two for an even count); NaN if empty.
///
/// ```
/// assert_eq!(shmpipe_bench::harness::median(&[3.0, 1.0, 2.0]), 2.0);
/// assert_eq!(shmpipe_bench::harness::median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
/// ```
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// The lowest of `values` (the worst round of a rate); NaN if empty.
///
/// ```
/// assert_eq!(shmpipe_bench::harness::lowest(&[3.0, 1.0, 2.0]), 1.0);
/// ```
pub fn lowest(values: &[f64]) -> f64 {
    values.iter().copied().fold(f64::NAN, f64::min)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_ends(style: RingStyle) -> (RingTx, RingRx) {
        let (writer, reader) = shmpipe::channel(1 << 16).expect("a heap ring");
        (
            RingTx {
                writer,
                style,
                batch: 4,
            },
            RingRx { reader, style },
        )
    }

    #[test]
    fn the_number_takes_the_first_eight_bytes_or_the_whole_short_message() {
        for size in [1, 3, 7, 8, 9, 64] {
            let k = stamp_len(size);
            let mut msg = message(size);
            let body = msg[k..].to_vec();
            stamp(&mut msg, 0x0102_0304_0506_0708);
            assert_eq!(
                msg[..k],
                0x0102_0304_0506_0708u64.to_le_bytes()[..k],
                "{size}"
            );
            assert_eq!(msg[k..], body[..], "{size}: the body is left alone");
            assert!(check_seq(&msg, 0x0102_0304_0506_0708).is_ok(), "{size}");
            // A number differing only in the last byte the message carries is caught.
            let other = 0x0102_0304_0506_0708u64 ^ (0xff << (8 * (k - 1)));
            let e = check_seq(&msg, other).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{size}");
            let mut copy = vec![0xeeu8; size];
            copy_stamp(&mut copy, &msg);
            assert_eq!(copy[..k], msg[..k], "{size}");
            assert!(
                copy[k..].iter().all(|&b| b == 0xee),
                "{size}: only the number is copied"
            );
            assert_eq!(stamp_of(&copy), stamp_of(&msg), "{size}");
        }
        // A shorter destination takes what it can hold, without a panic.
        let mut short = [0u8; 3];
        copy_stamp(&mut short, &0x0102_0304_0506_0708u64.to_le_bytes());
        assert_eq!(short, [0x08, 0x07, 0x06]);
    }

    #[test]
    fn numbered_messages_pass_and_a_lost_one_fails_the_receiver() {
        for size in [1, 8, 64] {
            for style in [RingStyle::Copy, RingStyle::ZeroCopy, RingStyle::Batch] {
                let (mut tx, mut rx) = ring_ends(style);
                let mut msg = message(size);
                let mut buf = vec![0u8; size];
                tx.send_many(&mut msg, 0, 10).unwrap();
                rx.recv_many(&mut buf, 0, 10, Work::NONE).unwrap();
                // Message 10 is lost.
                tx.send_many(&mut msg, 11, 5).unwrap();
                let e = rx.recv_many(&mut buf, 10, 5, Work::NONE).unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{style:?} {size}");
                assert!(
                    e.to_string().contains("expected number 10, received 11"),
                    "{style:?} {size}: {e}"
                );
            }
        }
    }

    #[test]
    fn a_reordered_message_fails_the_receiver() {
        for style in [RingStyle::Copy, RingStyle::ZeroCopy, RingStyle::Batch] {
            let (mut tx, mut rx) = ring_ends(style);
            let mut msg = message(16);
            for seq in [0, 1, 3, 2] {
                stamp(&mut msg, seq);
                tx.send(&msg).unwrap();
            }
            let mut buf = vec![0u8; 16];
            let e = rx.recv_many(&mut buf, 0, 4, Work::NONE).unwrap_err();
            assert!(
                e.to_string().contains("expected number 2, received 3"),
                "{style:?}: {e}"
            );
        }
    }

    #[test]
    fn a_pipe_checks_its_numbers_too() {
        let (read, write) = pipe().unwrap();
        let mut tx = StreamTx(file(write));
        let mut rx = StreamRx(file(read));
        let mut msg = message(8);
        tx.send_many(&mut msg, 5, 3).unwrap();
        let mut buf = [0u8; 8];
        rx.recv_many(&mut buf, 5, 3, Work::NONE).unwrap();
        tx.send_many(&mut msg, 9, 1).unwrap();
        assert!(rx.recv_many(&mut buf, 8, 1, Work::NONE).is_err());
    }

    #[test]
    fn work_takes_about_its_time() {
        let work = Work::lasting(Duration::from_micros(10));
        assert!(work.iterations > 0);
        // At least most of it (calibrated on the fastest run; a loaded machine only adds).
        assert!(work.cost() >= Duration::from_micros(5), "{:?}", work.cost());
    }
}
