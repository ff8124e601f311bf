//! The adversary shared by the fuzz target (`fuzz/fuzz_targets/ring_ops.rs`) and the property
//! test (`tests/hostile_memory.rs`): it decodes a byte string into a ring capacity and a
//! sequence of operations, and runs them on a heap ring (which has exactly the shared layout:
//! header at 0, data at 4096) in one thread. Operations of a live writer and reader alternate
//! with writes of arbitrary bytes into the header and the data region, including before the
//! handles attach.
//!
//! It checks that every operation returns `Ok` or one of the errors its contract allows, and
//! never panics, reads or writes out of bounds (AddressSanitizer in the fuzzer, the heap
//! allocation's bounds), loops forever (libFuzzer's `-timeout`) or makes an allocation sized
//! by a value read from shared memory (`-malloc_limit_mb`). As long as nothing that matters
//! has been tampered with (wake words, the identity line after opening and the reserved bytes
//! do not), it also checks the ring against a model: every record committed arrives once, in
//! order, intact, and end-of-stream comes after the last.
//!
//! Nothing here blocks: receives and sends are `try_` calls or `_timeout` calls of at most
//! 255 µs.

#![allow(dead_code)]

use std::collections::VecDeque;
use std::time::Duration;

use shmpipe::{AttachError, Reader, RecvError, Ring, RingOptions, SendError, Writer, HEADER_SIZE};

/// At most this many operations run per input, so every input runs in milliseconds.
pub const MAX_OPS: usize = 256;

/// A decoded input.
#[derive(Debug, Clone)]
pub struct Input {
    /// The ring's capacity: 16 to 4096 bytes.
    pub capacity: u64,
    /// Spin before sleeping (the default) or sleep at once.
    pub spin: bool,
    /// Attach the writer and the reader before the first operation.
    pub attach_first: bool,
    /// What to do.
    pub ops: Vec<Op>,
}

/// One step of the adversary or of the handles it attacks.
#[derive(Debug, Clone)]
pub enum Op {
    /// `ring.writer()`.
    AttachWriter,
    /// `ring.reader()`.
    AttachReader,
    /// Drop the writer (closes the ring for the reader).
    CloseWriter,
    /// Drop the reader (closes the ring for the writer).
    CloseReader,
    /// `try_send` (no wait) or `send_timeout` of a `len`-byte record.
    Send { len: usize, wait_us: Option<u8> },
    /// `try_reserve(len)`, fill it, then commit `commit` bytes or abandon it.
    Reserve { len: usize, commit: Option<usize> },
    /// A batch of `count` records of `len` bytes sent with `try_send`, published on drop.
    Batch { count: u8, len: usize },
    /// `batch().try_send_values` of `count` u64 values (runs of values where they fit), or
    /// (`in_place`) `try_reserve_values` of up to `count`, written in place and committed.
    SendValues { count: u8, in_place: bool },
    /// `io::Write::flush`: publishes what is pending.
    Flush,
    /// `try_recv` (no wait) or `recv_timeout` into a `buf`-byte buffer.
    Recv { buf: usize, wait_us: Option<u8> },
    /// `try_recv_ref` or `recv_ref_timeout`.
    RecvRef { wait_us: Option<u8> },
    /// `reader.batch().try_recv_values` of up to `count` u64 values, or (`in_place`)
    /// `try_recv_values_ref`.
    RecvValues { count: u8, in_place: bool },
    /// `ring.status()`.
    Status,
    /// Arbitrary bytes at an offset of the header or the data region.
    Poke { offset: usize, bytes: Vec<u8> },
    /// One header word set to a chosen value.
    SetWord { field: Field, value: Value },
    /// A forged record header in the data region.
    ForgeRecord { at: RecordAt, len: u32, flags: u32 },
}

/// The header words the adversary targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    WritePosition,
    ReadPosition,
    WriterState,
    ReaderState,
    WriterWake,
    ReaderWake,
    WriterOwner,
    ReaderOwner,
    Magic,
    Version,
    HeaderSize,
    Capacity,
    Flags,
    Endian,
    Init,
}

const FIELDS: [Field; 15] = [
    Field::WritePosition,
    Field::ReadPosition,
    Field::WriterState,
    Field::ReaderState,
    Field::WriterWake,
    Field::ReaderWake,
    Field::WriterOwner,
    Field::ReaderOwner,
    Field::Magic,
    Field::Version,
    Field::HeaderSize,
    Field::Capacity,
    Field::Flags,
    Field::Endian,
    Field::Init,
];

impl Field {
    /// Offset and size in bytes (docs/LAYOUT.md).
    fn place(self) -> (usize, usize) {
        match self {
            Field::WritePosition => (128, 8),
            Field::ReadPosition => (256, 8),
            Field::WriterState => (128 + 64, 4),
            Field::ReaderState => (256 + 64, 4),
            Field::WriterWake => (128 + 68, 4),
            Field::ReaderWake => (256 + 68, 4),
            Field::WriterOwner => (128 + 72, 8),
            Field::ReaderOwner => (256 + 72, 8),
            Field::Magic => (0, 8),
            Field::Version => (8, 4),
            Field::HeaderSize => (12, 4),
            Field::Capacity => (16, 8),
            Field::Flags => (24, 4),
            Field::Endian => (28, 4),
            Field::Init => (32, 4),
        }
    }
}

/// The value a [`Op::SetWord`] stores.
#[derive(Debug, Clone, Copy)]
pub enum Value {
    /// This value.
    Raw(u64),
    /// The field's current value (positions only; 0 for others) plus `8 * delta`.
    Delta(i16),
    /// One of [`special`]'s boundary values.
    Special(u8),
}

/// Where a forged record header goes.
#[derive(Debug, Clone, Copy)]
pub enum RecordAt {
    /// Where the reader looks next.
    NextRead,
    /// Where the writer writes next.
    NextWrite,
    /// At this 8-aligned data offset.
    Offset(usize),
}

/// Reads an input byte by byte; past the end everything is zero.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn done(&self) -> bool {
        self.pos >= self.data.len()
    }
    fn u8(&mut self) -> u8 {
        let b = self.data.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn u64(&mut self) -> u64 {
        u64::from(self.u32()) | u64::from(self.u32()) << 32
    }
    /// A wait: none (the `try_` call) or up to 255 µs.
    fn wait(&mut self) -> Option<u8> {
        let b = self.u8();
        (b & 1 == 1).then_some(b >> 1)
    }
}

/// Decodes an input. Every byte string is a valid input.
pub fn decode(data: &[u8]) -> Input {
    let mut b = Bytes { data, pos: 0 };
    let setup = b.u8();
    let capacity = 1u64 << (4 + (setup % 9)); // 16 ..= 4096
    let spin = setup & 0x10 != 0;
    let attach_first = setup & 0x20 == 0;
    let max = capacity as usize - 8;
    // Lengths up to a little over the largest message, so TooLarge comes up too.
    let len = |raw: u16| raw as usize % (max + 10);
    let mut ops = Vec::new();
    while !b.done() && ops.len() < MAX_OPS {
        let op = match b.u8() % 16 {
            0 => Op::AttachWriter,
            1 => Op::AttachReader,
            2 => Op::CloseWriter,
            3 => Op::CloseReader,
            14 => {
                let c = b.u8();
                Op::SendValues {
                    count: c % 40,
                    in_place: c & 0x80 != 0,
                }
            }
            4 => Op::Send {
                len: len(b.u16()),
                wait_us: b.wait(),
            },
            5 => {
                let l = len(b.u16());
                let c = b.u16();
                Op::Reserve {
                    len: l,
                    // Sometimes more than reserved: GrantExceeded.
                    commit: (c & 1 == 0).then(|| (c >> 1) as usize % (l + 2)),
                }
            }
            6 => Op::Batch {
                count: b.u8() % 8,
                len: len(b.u16()),
            },
            7 => Op::Flush,
            15 => {
                let c = b.u8();
                Op::RecvValues {
                    count: 1 + c % 8,
                    in_place: c & 0x80 != 0,
                }
            }
            8 => Op::Recv {
                buf: (b.u16() as usize) % (max + 16),
                wait_us: b.wait(),
            },
            9 => Op::RecvRef { wait_us: b.wait() },
            10 => Op::Status,
            11 => {
                // Offsets cover the three header lines and the data region densely.
                let raw = b.u16() as usize % (384 + capacity as usize);
                let offset = if raw < 384 {
                    raw
                } else {
                    HEADER_SIZE + raw - 384
                };
                let n = b.u8() % 17;
                let bytes = (0..n).map(|_| b.u8()).collect();
                Op::Poke { offset, bytes }
            }
            12 => {
                let field = FIELDS[b.u8() as usize % FIELDS.len()];
                let value = match b.u8() % 4 {
                    0 => Value::Raw(b.u64()),
                    1 => Value::Delta(b.u16() as i16),
                    2 => Value::Delta(i16::from(b.u8() as i8)),
                    _ => Value::Special(b.u8()),
                };
                Op::SetWord { field, value }
            }
            _ => {
                let at = match b.u8() % 3 {
                    0 => RecordAt::NextRead,
                    1 => RecordAt::NextWrite,
                    _ => RecordAt::Offset((b.u16() as usize * 8) % capacity as usize),
                };
                let len = match b.u8() % 3 {
                    0 => b.u32(),
                    _ => u32::from(b.u16()) % (capacity as u32 + 16),
                };
                let flags = match b.u8() % 5 {
                    0 | 1 => 0,
                    2 => 1,
                    // A run of values, of a size that may not divide the length.
                    3 => 2 | u32::from(b.u8() % 17) << 16,
                    _ => b.u32(),
                };
                Op::ForgeRecord { at, len, flags }
            }
        };
        ops.push(op);
    }
    Input {
        capacity,
        spin,
        attach_first,
        ops,
    }
}

/// Decodes and runs one input; panics if the ring breaks its contract.
pub fn run(data: &[u8]) {
    execute(&decode(data));
}

/// This process's owner word (pid and low 32 bits of the start time), as the ring records it.
fn own_owner_word() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let start: u64 = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_ascii_whitespace().nth(19))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    u64::from(std::process::id()) | (start & 0xffff_ffff) << 32
}

/// Boundary values for header words.
fn special(i: u8, capacity: u64, own: u64) -> u64 {
    const FIXED: [u64; 14] = [
        0,
        1,
        2,
        7,
        8,
        16,
        u32::MAX as u64,
        u64::MAX,
        u64::MAX - 7,
        u64::MAX - 15,
        1 << 63,
        (1 << 63) - 8,
        1 << 62,
        0x5348_4d52_494e_4700,
    ];
    let relative = [
        capacity - 8,
        capacity,
        capacity + 8,
        2 * capacity,
        own,
        own + (1 << 32),       // our pid, another start time: a recycled pid
        1 | (own >> 32) << 32, // pid 1 with our start time
        (i32::MAX as u64) + 1, // a pid above pid_max
    ];
    let i = i as usize % (FIXED.len() + relative.len());
    if i < FIXED.len() {
        FIXED[i]
    } else {
        relative[i - FIXED.len()]
    }
}

/// Is every byte in `offset..offset + len` one that the ring either never reads after opening
/// (the identity line, reserved bytes) or that carries no data (wake words)? Writing those
/// must not change what the reader receives.
fn harmless(offset: usize, len: usize) -> bool {
    (offset..offset + len).all(|at| match at {
        0..=127 => true,
        128..=383 => {
            let o = (at - 128) % 128;
            (8..64).contains(&o) || (68..72).contains(&o) || o >= 80
        }
        384..=4095 => true,
        _ => false,
    })
}

/// The payload of record `seq`: its sequence number then a pattern, cut to `len` bytes.
fn payload(seq: u64, len: usize) -> Vec<u8> {
    let mut p: Vec<u8> = (0..len)
        .map(|i| {
            (seq as u8)
                .wrapping_mul(31)
                .wrapping_add((i as u8).wrapping_mul(7))
        })
        .collect();
    let head = seq.to_le_bytes();
    let n = len.min(8);
    p[..n].copy_from_slice(&head[..n]);
    p
}

fn wait(us: u8) -> Duration {
    Duration::from_micros(u64::from(us))
}

/// The ring under attack and what a correct ring would deliver.
struct World {
    ring: Ring,
    capacity: u64,
    max: usize,
    own: u64,
    writer: Option<Writer>,
    reader: Option<Reader>,
    writer_closed: bool,
    reader_closed: bool,
    /// Nothing that matters was tampered with: the model below must hold exactly.
    clean: bool,
    /// Records committed and not yet received (while clean).
    committed: VecDeque<Vec<u8>>,
    /// End-of-stream was reported.
    eof: bool,
    next_seq: u64,
}

/// Runs a decoded input.
pub fn execute(input: &Input) {
    let mut options = RingOptions::new().capacity(input.capacity);
    if !input.spin {
        options = options.spin(Duration::ZERO);
    }
    let ring = options.heap().expect("a small heap ring");
    let mut w = World {
        capacity: input.capacity,
        max: ring.max_message(),
        own: own_owner_word(),
        ring,
        writer: None,
        reader: None,
        writer_closed: false,
        reader_closed: false,
        clean: true,
        committed: VecDeque::new(),
        eof: false,
        next_seq: 0,
    };
    assert_eq!(w.max as u64, input.capacity - 8);
    if input.attach_first {
        w.step(&Op::AttachWriter);
        w.step(&Op::AttachReader);
    }
    for op in &input.ops {
        w.step(op);
    }
    w.finish();
}

impl World {
    fn step(&mut self, op: &Op) {
        match op {
            Op::AttachWriter => self.attach_writer(),
            Op::AttachReader => self.attach_reader(),
            Op::CloseWriter => {
                if self.writer.take().is_some() {
                    self.writer_closed = true;
                }
            }
            Op::CloseReader => {
                if self.reader.take().is_some() {
                    self.reader_closed = true;
                }
            }
            Op::Send { len, wait_us } => self.send(*len, *wait_us),
            Op::Reserve { len, commit } => self.reserve(*len, *commit),
            Op::Batch { count, len } => self.batch(*count, *len),
            Op::SendValues { count, in_place } => self.send_values(*count, *in_place),
            Op::Flush => {
                if let Some(writer) = &mut self.writer {
                    std::io::Write::flush(writer).expect("flush cannot fail");
                }
            }
            Op::Recv { buf, wait_us } => self.recv(*buf, *wait_us),
            Op::RecvRef { wait_us } => self.recv_ref(*wait_us),
            Op::RecvValues { count, in_place } => self.recv_values(*count, *in_place),
            Op::Status => {
                let status = self.ring.status();
                assert_eq!(status.capacity, self.capacity);
                if self.clean {
                    assert!(status.writer.position >= status.reader.position);
                    assert!(status.used() <= self.capacity, "{status:?}");
                }
            }
            Op::Poke { offset, bytes } => self.poke(*offset, bytes),
            Op::SetWord { field, value } => self.set_word(*field, *value),
            Op::ForgeRecord { at, len, flags } => self.forge_record(*at, *len, *flags),
        }
    }

    fn poke(&mut self, offset: usize, bytes: &[u8]) {
        if !harmless(offset, bytes.len()) {
            self.clean = false;
        }
        // SAFETY: single-threaded, and no lent record or grant lives between operations.
        unsafe { self.ring.tamper(offset, bytes) };
    }

    fn set_word(&mut self, field: Field, value: Value) {
        let (offset, size) = field.place();
        let status = self.ring.status();
        let current = match field {
            Field::WritePosition => status.writer.position,
            Field::ReadPosition => status.reader.position,
            _ => 0,
        };
        let v = match value {
            Value::Raw(v) => v,
            Value::Delta(d) => current.wrapping_add_signed(i64::from(d) * 8),
            Value::Special(i) => special(i, self.capacity, self.own),
        };
        let bytes = v.to_ne_bytes();
        let bytes = if size == 8 {
            &bytes[..]
        } else {
            &(v as u32).to_ne_bytes()[..]
        };
        let bytes = bytes.to_vec();
        self.poke(offset, &bytes);
    }

    fn forge_record(&mut self, at: RecordAt, len: u32, flags: u32) {
        let mask = self.capacity - 1;
        let status = self.ring.status();
        let index = match at {
            RecordAt::NextRead => (status.reader.position & mask & !7) as usize,
            RecordAt::NextWrite => (status.writer.position & mask & !7) as usize,
            RecordAt::Offset(o) => o & !7,
        };
        let mut word = [0u8; 8];
        word[..4].copy_from_slice(&len.to_ne_bytes());
        word[4..].copy_from_slice(&flags.to_ne_bytes());
        self.poke(HEADER_SIZE + index, &word);
    }

    fn attach_writer(&mut self) {
        let attached = self.ring.writer();
        let (busy, closed) = (self.writer.is_some(), self.writer_closed);
        if let Some(writer) = self.check_attach("writer", attached, busy, closed) {
            // Dropping a replaced writer closes it: only possible after tampering.
            self.writer = Some(writer);
        }
    }

    fn attach_reader(&mut self) {
        let attached = self.ring.reader();
        let (busy, closed) = (self.reader.is_some(), self.reader_closed);
        if let Some(reader) = self.check_attach("reader", attached, busy, closed) {
            self.reader = Some(reader);
        }
    }

    /// Checks an attach of `role` against the contract (on an untampered ring it succeeds
    /// exactly when the role is neither `busy` nor `closed`, and says which otherwise); the
    /// new handle if there is one.
    fn check_attach<T>(
        &self,
        role: &str,
        attached: Result<T, AttachError>,
        busy: bool,
        closed: bool,
    ) -> Option<T> {
        match attached {
            Ok(handle) => {
                if self.clean {
                    assert!(!busy, "a second {role} attached");
                    assert!(!closed, "a closed {role} role was attached again");
                }
                Some(handle)
            }
            Err(e) => {
                let _ = e.to_string();
                if self.clean {
                    match e {
                        AttachError::AlreadyAttached { pid, .. } => {
                            assert!(busy, "{e}");
                            assert_eq!(pid, std::process::id());
                        }
                        AttachError::Closed { .. } => assert!(closed, "{e}"),
                        other => panic!("untampered ring: {other}"),
                    }
                }
                None
            }
        }
    }

    /// Checks a send error against the contract; `len` is the message length.
    fn check_send_error(&self, e: &SendError, len: usize, waited: bool) {
        let _ = e.to_string();
        match e {
            SendError::TooLarge { len: l, max } => {
                assert_eq!((*l, *max), (len, self.max));
                assert!(len > self.max, "{e}");
            }
            SendError::Full => assert!(!waited, "Full from a timed send"),
            SendError::Timeout => assert!(waited, "Timeout from a try_ send"),
            SendError::Closed => {
                if self.clean {
                    assert!(self.reader_closed, "Closed with the reader open");
                }
            }
            SendError::PeerDied { .. } | SendError::Corrupted { .. } => {
                assert!(!self.clean, "untampered ring: {e}")
            }
            other => panic!("unexpected send error {other:?}"),
        }
        if len > self.max {
            assert!(
                matches!(e, SendError::TooLarge { .. }),
                "a {len}-byte message in a ring of max {}: {e:?}",
                self.max
            );
        }
    }

    fn send(&mut self, len: usize, wait_us: Option<u8>) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        let msg = payload(self.next_seq, len);
        let result = match wait_us {
            None => writer.try_send(&msg),
            Some(us) => writer.send_timeout(&msg, wait(us)),
        };
        match result {
            Ok(()) => {
                assert!(len <= self.max, "a {len}-byte message was accepted");
                self.committed.push_back(msg);
                self.next_seq += 1;
            }
            Err(e) => self.check_send_error(&e, len, wait_us.is_some()),
        }
    }

    fn reserve(&mut self, len: usize, commit: Option<usize>) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        let msg = payload(self.next_seq, len);
        match writer.try_reserve(len) {
            Ok(mut grant) => {
                assert!(len <= self.max, "a {len}-byte grant");
                assert_eq!(grant.len(), len);
                grant.copy_from_slice(&msg);
                match commit {
                    // Abandoned: a grant that is not committed publishes nothing.
                    None => {}
                    Some(c) if c > len => match grant.commit(c) {
                        Err(SendError::GrantExceeded { len: l, reserved }) => {
                            assert_eq!((l, reserved), (c, len))
                        }
                        other => panic!("commit of {c} of {len} bytes: {other:?}"),
                    },
                    Some(c) => {
                        grant.commit(c).expect("commit within the grant");
                        self.committed.push_back(msg[..c].to_vec());
                        self.next_seq += 1;
                    }
                }
            }
            Err(e) => self.check_send_error(&e, len, false),
        }
    }

    fn batch(&mut self, count: u8, len: usize) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        let mut batch = writer.batch();
        let mut errors = Vec::new();
        for _ in 0..count {
            let msg = payload(self.next_seq, len);
            match batch.try_send(&msg) {
                Ok(()) => {
                    self.committed.push_back(msg);
                    self.next_seq += 1;
                }
                Err(e) => {
                    errors.push(e);
                    break;
                }
            }
        }
        drop(batch);
        for e in errors {
            self.check_send_error(&e, len, false);
        }
    }

    /// `count` u64 values with `try_send_values`: each value is a message of 8 bytes, whether
    /// it went into a run or a record of its own.
    fn send_values(&mut self, count: u8, in_place: bool) {
        let Some(writer) = &mut self.writer else {
            return;
        };
        let values: Vec<u64> = (0..u64::from(count))
            .map(|i| {
                let bytes = payload(self.next_seq + i, 8);
                u64::from_ne_bytes(bytes[..8].try_into().unwrap())
            })
            .collect();
        let mut batch = writer.batch();
        let result = if in_place {
            batch
                .try_reserve_values::<u64>(values.len())
                .map(|mut grant| {
                    let n = grant.len();
                    assert!(n <= values.len() && (n > 0 || values.is_empty()), "{n}");
                    grant.copy_from_slice(&values[..n]);
                    grant.commit_all();
                    n
                })
        } else {
            batch.try_send_values(&values)
        };
        drop(batch);
        match result {
            Ok(n) => {
                assert!(n <= values.len() && (n > 0 || values.is_empty()), "{n}");
                for v in &values[..n] {
                    self.committed.push_back(v.to_ne_bytes().to_vec());
                    self.next_seq += 1;
                }
            }
            Err(e) => self.check_send_error(&e, 8, false),
        }
    }

    /// Checks a receive result; `Some(bytes)` for a record.
    fn check_received(&mut self, got: Result<Option<&[u8]>, RecvError>, buf: usize, waited: bool) {
        match got {
            Ok(Some(bytes)) => {
                assert!(bytes.len() <= self.max, "a {}-byte record", bytes.len());
                assert!(bytes.len() <= buf);
                assert!(!self.eof || !self.clean, "a record after end-of-stream");
                if self.clean {
                    let want = self
                        .committed
                        .pop_front()
                        .expect("a record nobody committed");
                    assert_eq!(bytes, &want[..], "a record changed in the ring");
                }
            }
            Ok(None) => {
                if self.clean {
                    assert!(self.writer_closed, "end-of-stream with the writer open");
                    assert!(
                        self.committed.is_empty(),
                        "end-of-stream with {} records undelivered",
                        self.committed.len()
                    );
                }
                self.eof = true;
            }
            Err(e) => {
                let _ = e.to_string();
                match &e {
                    RecvError::Empty => assert!(!waited),
                    RecvError::Timeout => assert!(waited),
                    RecvError::BufferTooSmall { needed, available } => {
                        assert_eq!(*available, buf);
                        assert!(needed > available && *needed <= self.max, "{e}");
                        if self.clean {
                            assert_eq!(Some(*needed), self.committed.front().map(|m| m.len()));
                        }
                    }
                    RecvError::PeerDied { .. } | RecvError::Corrupted { .. } => {
                        assert!(!self.clean, "untampered ring: {e}")
                    }
                    other => panic!("unexpected receive error {other:?}"),
                }
                if self.clean && matches!(e, RecvError::Empty | RecvError::Timeout) {
                    // Every committed record was published when its operation ended.
                    assert!(
                        self.committed.is_empty(),
                        "{e} with {} records published",
                        self.committed.len()
                    );
                }
            }
        }
    }

    fn recv(&mut self, buf: usize, wait_us: Option<u8>) {
        let Some(reader) = &mut self.reader else {
            return;
        };
        let mut storage = vec![0u8; buf];
        let result = match wait_us {
            None => reader.try_recv(&mut storage),
            Some(us) => reader.recv_timeout(&mut storage, wait(us)),
        };
        let got = result.map(|n| n.map(|n| &storage[..n]));
        self.check_received(got, buf, wait_us.is_some());
    }

    /// Each value received is checked as an 8-byte record; a record of another length first
    /// is `LengthMismatch` (and stays in the ring); 0 values is end-of-stream.
    fn recv_values(&mut self, count: u8, in_place: bool) {
        let Some(reader) = &mut self.reader else {
            return;
        };
        let mut values = vec![0u64; count as usize];
        let result = if in_place {
            // Every value lent is taken: the guard is dropped at once.
            match reader.batch().try_recv_values_ref::<u64>() {
                Ok(Some(lent)) => {
                    values = lent.to_vec();
                    Ok(values.len())
                }
                Ok(None) => Ok(0),
                Err(e) => Err(e),
            }
        } else {
            reader.batch().try_recv_values(&mut values)
        };
        match result {
            Ok(0) => self.check_received(Ok(None), 8, false),
            Ok(n) => {
                assert!(
                    n <= values.len(),
                    "{n} values into room for {}",
                    values.len()
                );
                for v in &values[..n] {
                    self.check_received(Ok(Some(&v.to_ne_bytes())), 8, false);
                }
            }
            Err(RecvError::LengthMismatch { expected, found }) => {
                assert_eq!(expected, 8);
                assert!(found != 8 && found <= self.max, "a {found}-byte record");
                if self.clean {
                    assert_eq!(Some(found), self.committed.front().map(|m| m.len()));
                }
            }
            Err(e) => self.check_received(Err(e), 8, false),
        }
    }

    fn recv_ref(&mut self, wait_us: Option<u8>) {
        let Some(reader) = &mut self.reader else {
            return;
        };
        let result = match wait_us {
            None => reader.try_recv_ref(),
            Some(us) => reader.recv_ref_timeout(wait(us)),
        };
        // Copy the record out, so the lent bytes go back before the next operation.
        let got = result.map(|r| r.map(|r| r.to_vec()));
        let got_ref = match &got {
            Ok(r) => Ok(r.as_deref()),
            Err(e) => Err(clone_recv_error(e)),
        };
        self.check_received(got_ref, usize::MAX, wait_us.is_some());
    }

    /// Closes the writer, then drains the reader: a correct ring delivers every committed
    /// record, then end-of-stream. Whatever was tampered with, the reader stops delivering
    /// within the bytes that can have been published.
    fn finish(&mut self) {
        if self.writer.take().is_some() {
            self.writer_closed = true;
        }
        let Some(mut reader) = self.reader.take() else {
            return;
        };
        let mut buf = vec![0u8; self.max];
        // Nothing writes the ring any more, so the write position is fixed. The reader holds
        // at most a capacity of bytes it has not read (checked when it last loaded the write
        // position), and may load the write position once more after those, which then may
        // be at most a capacity ahead: at most 2 * capacity bytes. Each message delivered
        // took at least as many of them as it holds, and at least 8 if it is empty (a plain
        // record's header: a run's values are at least a byte each), so the messages' sizes
        // counted that way add up to at most 2 * capacity, and there are at most that many
        // messages (a run record of one-byte values delivers one per byte); the call after the
        // last must not deliver one. (More than a capacity's worth can come: an adversary that
        // moves the write position while the reader still holds unread bytes, or forges a
        // run, makes records a reader cannot tell from real ones.)
        let bound = 2 * self.capacity + 2;
        let mut took = 0u64;
        let mut last = None;
        for _ in 0..bound {
            let got = reader.try_recv(&mut buf);
            let delivered = matches!(got, Ok(Some(_)));
            if let Ok(Some(n)) = got {
                took += if n == 0 { 8 } else { n as u64 };
            }
            let view = match &got {
                Ok(n) => Ok(n.map(|n| &buf[..n])),
                Err(e) => Err(clone_recv_error(e)),
            };
            self.check_received(view, buf.len(), false);
            last = Some(got.map(|n| n.is_some()));
            if !delivered {
                break;
            }
        }
        assert!(
            !matches!(last, Some(Ok(true))) && took <= 2 * self.capacity,
            "the reader delivered more messages than two {}-byte rings can hold ({took} bytes' worth)",
            self.capacity
        );
        if self.clean && self.writer_closed {
            assert!(
                matches!(last, Some(Ok(false))),
                "no end-of-stream: {last:?}"
            );
        }
    }
}

/// `RecvError` is not `Clone`; rebuild the variants this adversary can see.
fn clone_recv_error(e: &RecvError) -> RecvError {
    match e {
        RecvError::Empty => RecvError::Empty,
        RecvError::Timeout => RecvError::Timeout,
        RecvError::BufferTooSmall { needed, available } => RecvError::BufferTooSmall {
            needed: *needed,
            available: *available,
        },
        RecvError::LengthMismatch { expected, found } => RecvError::LengthMismatch {
            expected: *expected,
            found: *found,
        },
        RecvError::PeerDied { pid } => RecvError::PeerDied { pid: *pid },
        RecvError::Corrupted { reason } => RecvError::Corrupted {
            reason: reason.clone(),
        },
        other => panic!("unexpected receive error {other:?}"),
    }
}
