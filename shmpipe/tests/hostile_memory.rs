//! Untrusted shared memory: a property test of the same adversary as the fuzz target (arbitrary
//! bytes written into the header and the data region before attach and between operations of a
//! live writer and reader), a property test of open-time validation over random headers written
//! into a POSIX segment's file, replays of the fuzz corpus and of every crash the fuzzer found,
//! and liveness against recycled pids.
#![cfg(not(loom))]
// The atomics ban (clippy.toml) is for ring code; the one atomic here stops a thread.
#![allow(clippy::disallowed_types)]

mod support;
use support::segments::{self, backing_file, kept_ring, unique};

use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use proptest::prelude::*;
use shmpipe::{
    AttachError, OpenError, RecvError, Ring, RingOptions, Role, Segment, SendError, HEADER_SIZE,
};
use support::adversary;

proptest! {
    // Each case is a few hundred non-blocking operations on a small heap ring: a few ms.
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any byte string, decoded as the fuzz target decodes it, runs without breaking the
    /// ring's contract (see `tests/support/adversary.rs` for what is checked).
    #[test]
    fn an_adversary_writing_anywhere_cannot_break_the_ring(
        data in prop::collection::vec(any::<u8>(), 0..600)
    ) {
        adversary::run(&data);
    }

    /// Without tampering, the same operations deliver exactly what was committed (the model
    /// inside the adversary is checked on every operation).
    #[test]
    fn untampered_rings_deliver_every_record_in_order(
        capacity_log in 4u32..=12,
        ops in prop::collection::vec((0u8..11, any::<u16>(), any::<u8>()), 0..200),
    ) {
        let capacity = 1u64 << capacity_log;
        let max = capacity as usize - 8;
        let ops = ops
            .into_iter()
            .map(|(kind, n, w)| {
                let len = n as usize % (max + 10);
                let wait_us = (w & 1 == 1).then_some(w >> 1);
                match kind {
                    0..=2 => adversary::Op::Send { len, wait_us },
                    3 => adversary::Op::Reserve { len, commit: (w & 2 == 0).then_some(n as usize % (len + 1)) },
                    4 => adversary::Op::Batch { count: w % 8, len },
                    5..=7 => adversary::Op::Recv { buf: n as usize % (max + 16), wait_us },
                    8 => adversary::Op::RecvRef { wait_us },
                    9 => adversary::Op::SetWord {
                        field: if w & 1 == 0 { adversary::Field::WriterWake } else { adversary::Field::ReaderWake },
                        value: adversary::Value::Raw(u64::from(w >> 1 & 1)),
                    },
                    _ => adversary::Op::Status,
                }
            })
            .collect();
        adversary::execute(&adversary::Input { capacity, spin: false, attach_first: true, ops });
    }
}

/// Runs every file under `dir` through the adversary, returning how many there were.
fn replay_dir(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for entry in entries {
        let path = entry.unwrap().path();
        if path.is_file() {
            let data = std::fs::read(&path).unwrap();
            let result = std::panic::catch_unwind(|| adversary::run(&data));
            assert!(result.is_ok(), "{} broke the ring", path.display());
            n += 1;
        }
    }
    n
}

/// The fuzz crate beside the library in the repository (`fuzz/`); `None` in an unpacked
/// `.crate`, which does not ship the corpus.
fn fuzz_root() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("fuzz");
    root.join("Cargo.toml").is_file().then_some(root)
}

/// Every crash the fuzzer ever found (`fuzz/regressions/`), and the corpus it built, still run
/// clean. In the repository the corpus must be there; a packaged crate has none to replay.
#[test]
fn fuzz_regressions_and_corpus_replay_clean() {
    let Some(root) = fuzz_root() else {
        eprintln!("skipped: no fuzz/ beside this crate (an unpacked .crate ships no corpus)");
        return;
    };
    let fuzz_dir = |sub: &str| root.join(sub);
    let crashes = replay_dir(&fuzz_dir("regressions"));
    let corpus = replay_dir(&fuzz_dir("corpus/ring_ops"));
    eprintln!("replayed {crashes} fuzz regressions and {corpus} corpus inputs");
    assert!(corpus > 0, "the committed fuzz corpus is missing");
}

/// A heap ring, its handles, and a way to write into its memory.
fn attacked(capacity: u64) -> (Ring, shmpipe::Writer, shmpipe::Reader) {
    let ring = RingOptions::new().capacity(capacity).heap().unwrap();
    let writer = ring.writer().unwrap();
    let reader = ring.reader().unwrap();
    (ring, writer, reader)
}

fn poke(ring: &Ring, offset: usize, bytes: &[u8]) {
    // SAFETY: single-threaded test; no record is lent and no grant is live.
    let n = unsafe { ring.tamper(offset, bytes) };
    assert_eq!(n, bytes.len());
}

const WRITE_POSITION: usize = 128;
const READ_POSITION: usize = 256;
const WRITER_OWNER: usize = 128 + 72;
const READER_OWNER: usize = 256 + 72;

/// Regression (found by reading the code for the fuzzer, then by the fuzzer): positions near
/// 2^64 passed the attach checks, and the writer's free-space arithmetic then overflowed (a
/// panic with overflow checks, a wrong answer without).
#[test]
fn positions_near_the_top_of_the_u64_range_are_corrupted_not_an_overflow() {
    let ring = RingOptions::new().capacity(64).heap().unwrap();
    let top = u64::MAX - 7;
    poke(&ring, WRITE_POSITION, &top.to_ne_bytes());
    poke(&ring, READ_POSITION, &top.to_ne_bytes());
    let err = ring.writer().unwrap_err();
    assert!(matches!(err, AttachError::Corrupted { .. }), "{err:?}");
    let err = ring.reader().unwrap_err();
    assert!(matches!(err, AttachError::Corrupted { .. }), "{err:?}");

    // The same values written under live handles.
    let (ring, mut writer, mut reader) = attacked(64);
    poke(&ring, WRITE_POSITION, &top.to_ne_bytes());
    let mut buf = [0u8; 64];
    let err = reader.try_recv(&mut buf).unwrap_err();
    assert!(matches!(err, RecvError::Corrupted { .. }), "{err:?}");
    poke(&ring, READ_POSITION, &top.to_ne_bytes());
    for _ in 0..10 {
        match writer.try_send(&[1; 40]) {
            Ok(()) | Err(SendError::Full) => {}
            Err(SendError::Corrupted { .. }) => break,
            Err(e) => panic!("{e:?}"),
        }
    }
}

/// A record header rewritten after it was published but before it is read is validated when
/// read: a length past the published bytes, past the end of the ring, a padding record that
/// does not reach the end, or a run of values (version 4) whose values have no size, whose
/// length is not a whole number of them, or that holds none.
#[test]
fn records_rewritten_under_a_live_reader_are_corrupted() {
    for (len, flags) in [
        (4000u32, 0u32),
        (u32::MAX, 0),
        (8, 1),
        (u32::MAX, 1),
        (0, 7),
        (16, 2),
        (12, 2 | 8 << 16),
        (0, 2 | 8 << 16),
        (4000, 2 | 8 << 16),
        (16, 3 | 8 << 16),
    ] {
        let (ring, mut writer, mut reader) = attacked(256);
        writer.send(&[7; 24]).unwrap();
        let mut word = [0u8; 8];
        word[..4].copy_from_slice(&len.to_ne_bytes());
        word[4..].copy_from_slice(&flags.to_ne_bytes());
        poke(&ring, HEADER_SIZE, &word);
        let err = reader
            .try_recv_ref()
            .map(|r| r.map(|r| r.len()))
            .unwrap_err();
        assert!(
            matches!(err, RecvError::Corrupted { .. }),
            "len {len} flags {flags}: {err:?}"
        );
    }
}

/// A chain of padding records is bounded by the published bytes: the reader's skip loop ends.
#[test]
fn the_padding_skip_loop_is_bounded_by_the_published_bytes() {
    let (ring, _writer, mut reader) = attacked(64);
    // Claim 2^16 bytes were published, fill the region with padding records claiming to reach
    // the end: only the one at the very start can be right, and the write position is
    // validated against the capacity first.
    poke(&ring, WRITE_POSITION, &(1u64 << 16).to_ne_bytes());
    let mut buf = [0u8; 64];
    assert!(matches!(
        reader.try_recv(&mut buf),
        Err(RecvError::Corrupted { .. })
    ));
    // Now a consistent write position (the whole ring) full of padding: the first padding
    // record covers the region, is skipped, and the ring is then empty.
    let (ring, _writer, mut reader) = attacked(64);
    poke(&ring, WRITE_POSITION, &64u64.to_ne_bytes());
    let mut word = [0u8; 8];
    word[..4].copy_from_slice(&56u32.to_ne_bytes());
    word[4..].copy_from_slice(&1u32.to_ne_bytes());
    poke(&ring, HEADER_SIZE, &word);
    let start = Instant::now();
    assert!(matches!(reader.try_recv(&mut buf), Err(RecvError::Empty)));
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// Tampering with the identity line after the handles attached changes nothing: the capacity
/// was validated once and is kept in private memory.
#[test]
fn the_identity_line_is_not_re_read_after_opening() {
    let (ring, mut writer, mut reader) = attacked(64);
    poke(&ring, 16, &(1u64 << 40).to_ne_bytes()); // capacity
    poke(&ring, 0, b"GARBAGE!"); // magic
    writer.send(&[3; 50]).unwrap();
    let mut buf = [0u8; 64];
    assert_eq!(reader.try_recv(&mut buf).unwrap(), Some(50));
    assert_eq!(ring.capacity(), 64);
    assert!(matches!(
        writer.try_send(&[0; 57]),
        Err(SendError::TooLarge { max: 56, .. })
    ));
}

/// A kept POSIX ring (fd-backed: roles held by file locks) and its file, for forging words.
fn locked_ring(tag: &str) -> (Segment, std::fs::File, Ring) {
    let segment = segments::posix(tag);
    let (ring, file) = kept_ring(&segment, 64);
    (segment, file, ring)
}

/// Holder words are informative only: forging one never makes a role look alive (no lock is
/// held: the role is taken over) and never makes a live one look dead or free (its handle's
/// lock is held: `AlreadyAttached`, and a waiting peer does not see a death).
#[test]
fn a_forged_holder_word_neither_revives_nor_kills_a_role() {
    let me = u64::from(std::process::id());
    let forged = [me, 1, u64::from(i32::MAX as u32) + 1, u64::MAX];
    for (role, offset) in [(Role::Writer, WRITER_OWNER), (Role::Reader, READER_OWNER)] {
        for word in forged {
            // Nobody holds the role: the forged word names a holder, state "attached".
            let (segment, file, ring) = locked_ring("shmpipe-forge-free");
            file.write_all_at(&word.to_ne_bytes(), offset as u64)
                .unwrap();
            file.write_all_at(&1u32.to_ne_bytes(), offset as u64 - 8)
                .unwrap();
            let status = ring.status();
            let side = if role == Role::Writer {
                status.writer
            } else {
                status.reader
            };
            assert!(!side.alive, "{role} with forged word {word:#x} looks alive");
            let taken = match role {
                Role::Writer => ring.writer().map(drop),
                Role::Reader => ring.reader().map(drop),
            };
            let _ = shmpipe::remove(&segment);
            taken.unwrap_or_else(|e| panic!("{role} with forged word {word:#x}: {e}"));
        }
    }
    // A live writer whose word is forged to a dead pid: still alive, still refuses a second
    // writer, and a reader waiting on it times out instead of seeing a death.
    let (segment, file, ring) = locked_ring("shmpipe-forge-live");
    let _writer = ring.writer().unwrap();
    let mut reader = ring.reader().unwrap();
    let dead = u64::from(i32::MAX as u32) + 1;
    file.write_all_at(&dead.to_ne_bytes(), WRITER_OWNER as u64)
        .unwrap();
    assert!(ring.status().writer.alive);
    assert!(matches!(
        ring.writer(),
        Err(AttachError::AlreadyAttached {
            role: Role::Writer,
            ..
        })
    ));
    let mut buf = [0u8; 8];
    let waited = reader.recv_timeout(&mut buf, Duration::from_millis(300));
    let _ = shmpipe::remove(&segment);
    assert!(matches!(waited, Err(RecvError::Timeout)), "{waited:?}");
}

/// PID reuse for real: a process claims the writer and dies; a new process is made to get
/// the same pid (through `/proc/sys/kernel/ns_last_pid`, as root) while the dead writer's
/// holder word still names it. The role is dead all the same (no lock is held) and is taken
/// over. Skipped where the pid cannot be steered.
#[test]
fn a_process_that_got_a_dead_writers_pid_does_not_hold_its_role() {
    if std::fs::read_to_string("/proc/sys/kernel/ns_last_pid").is_err() {
        eprintln!("no /proc/sys/kernel/ns_last_pid: skipping");
        return;
    }
    let (segment, file, ring) = locked_ring("shmpipe-recycled");
    for attempt in 0..20 {
        // The first process's pid goes into the writer's holder word, as its claim would
        // put it, with the state "attached"; then it exits.
        let mut first = Command::new("true").stdout(Stdio::null()).spawn().unwrap();
        let pid = first.id();
        first.wait().unwrap();
        file.write_all_at(&u64::from(pid).to_ne_bytes(), WRITER_OWNER as u64)
            .unwrap();
        file.write_all_at(&1u32.to_ne_bytes(), WRITER_OWNER as u64 - 8)
            .unwrap();
        if std::fs::write("/proc/sys/kernel/ns_last_pid", format!("{}", pid - 1)).is_err() {
            eprintln!("cannot write ns_last_pid (not root?): skipping");
            let _ = shmpipe::remove(&segment);
            return;
        }
        let mut second = Command::new("sleep").arg("5").spawn().unwrap();
        if second.id() != pid {
            let _ = second.kill();
            let _ = second.wait();
            continue;
        }
        let status = ring.status();
        let result = ring.writer().map(drop);
        let _ = second.kill();
        let _ = second.wait();
        let _ = shmpipe::remove(&segment);
        assert_eq!(status.writer.pid, Some(pid));
        assert!(
            !status.writer.alive,
            "pid {pid} was recycled but looks like the dead writer"
        );
        result.expect("the dead writer's role is taken over despite its recycled pid");
        eprintln!("pid {pid} recycled on attempt {attempt}; the role was taken over");
        return;
    }
    let _ = shmpipe::remove(&segment);
    panic!("could not get a recycled pid in 20 attempts");
}

/// One header edit for the open-time property test.
#[derive(Debug, Clone)]
enum Edit {
    /// Bytes at an offset of the header page.
    Bytes(u16, Vec<u8>),
    /// A 4- or 8-byte field set to a value.
    Word(u8, u64),
    /// The segment's length set to this.
    Length(u32),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (0u16..400, prop::collection::vec(any::<u8>(), 1..16)).prop_map(|(o, b)| Edit::Bytes(o, b)),
        (
            0u8..16,
            prop_oneof![any::<u64>(), 0u64..70_000, Just(1u64 << 40), Just(u64::MAX)]
        )
            .prop_map(|(f, v)| Edit::Word(f, v)),
        prop_oneof![0u32..8192, Just(4096 + 64), Just(4096 + 4096)].prop_map(Edit::Length),
    ]
}

/// (offset, size) of the identity fields and the positions.
const WORDS: [(u64, usize); 16] = [
    (0, 8),
    (8, 4),
    (12, 4),
    (16, 8),
    (24, 4),
    (28, 4),
    (32, 4),
    (36, 4),
    (40, 8),
    (48, 4),
    (52, 4),
    (128, 8),
    (256, 8),
    (192, 4),
    (320, 4),
    (200, 8),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Open-time validation (`Header::validate` through `Ring::open`) of a POSIX segment whose
    /// header and length were edited at random: `open` returns a ring or a typed error, and a
    /// ring it returns attaches or refuses with a typed error, then works.
    #[test]
    fn open_validates_any_header(edits in prop::collection::vec(edit(), 1..6)) {
        let name = unique("shmpipe-prop-open");
        let segment = Segment::posix(name.as_str());
        drop(RingOptions::new().capacity(64).keep_name(true).create(&segment).unwrap());
        let file = OpenOptions::new().read(true).write(true).open(backing_file(&segment)).unwrap();
        for e in &edits {
            match e {
                Edit::Bytes(offset, bytes) => file.write_all_at(bytes, u64::from(*offset)).unwrap(),
                Edit::Word(field, value) => {
                    let (offset, size) = WORDS[*field as usize % WORDS.len()];
                    file.write_all_at(&value.to_ne_bytes()[..size], offset).unwrap();
                }
                Edit::Length(len) => file.set_len(u64::from(*len)).unwrap(),
            }
        }
        let result = RingOptions::new().timeout(Some(Duration::from_millis(1))).open(&segment);
        let _ = shmpipe::remove(&segment);
        match result {
            Ok(ring) => {
                prop_assert_eq!(ring.capacity(), 64);
                let mut buf = [0u8; 64];
                if let (Ok(mut w), Ok(mut r)) = (ring.writer(), ring.reader()) {
                    match w.try_send(b"x") {
                        Ok(()) | Err(SendError::Full | SendError::Closed) => {}
                        Err(e) => prop_assert!(false, "send after a valid open: {e:?}"),
                    }
                    let _ = r.try_recv(&mut buf);
                }
            }
            Err(e) => {
                let _ = e.to_string();
                prop_assert!(matches!(
                    e,
                    OpenError::BadMagic { .. }
                        | OpenError::VersionMismatch { .. }
                        | OpenError::Incompatible { .. }
                        | OpenError::Corrupted { .. }
                        | OpenError::Truncated { .. }
                        | OpenError::NotInitialised { .. }
                        | OpenError::Abandoned { .. }
                ), "{e:?}");
            }
        }
    }
}

/// A header edited into one of each refusal, opened through the public API, names what is
/// wrong.
#[test]
fn open_names_each_header_fault() {
    let cases: [(u64, &[u8], &str); 5] = [
        (0, b"SHMRINGX", "not a shmpipe segment"),
        (16, &(1u64 << 41).to_ne_bytes(), "capacity"),
        (12, &8192u32.to_ne_bytes(), "header size"),
        (24, &0x10u32.to_ne_bytes(), "unknown flags"),
        (52, &77u32.to_ne_bytes(), "unknown backend"),
    ];
    for (offset, bytes, words) in cases {
        let name = unique("shmpipe-open-fault");
        let segment = Segment::posix(name.as_str());
        drop(
            RingOptions::new()
                .capacity(64)
                .keep_name(true)
                .create(&segment)
                .unwrap(),
        );
        let file = OpenOptions::new()
            .write(true)
            .open(backing_file(&segment))
            .unwrap();
        file.write_all_at(bytes, offset).unwrap();
        let err = Ring::open(&segment).unwrap_err();
        let _ = shmpipe::remove(&segment);
        assert!(err.to_string().contains(words), "{offset}: {err}");
    }
}

/// A peer that forges a dead holder word and the "attached" state for a role nobody holds
/// ends our wait with `PeerDied` once the liveness check runs: it can drop the stream, no
/// more. (A live peer's word forged the same way changes nothing: see
/// `a_forged_holder_word_neither_revives_nor_kills_a_role`.)
#[test]
fn a_forged_dead_owner_ends_a_wait_with_peer_died() {
    let (segment, file, ring) = locked_ring("shmpipe-forged-death");
    let mut reader = ring.reader().unwrap();
    let dead = u64::from(i32::MAX as u32) + 1;
    file.write_all_at(&dead.to_ne_bytes(), WRITER_OWNER as u64)
        .unwrap();
    file.write_all_at(&1u32.to_ne_bytes(), WRITER_OWNER as u64 - 8)
        .unwrap();
    let mut buf = [0u8; 64];
    let start = Instant::now();
    let got = reader.recv_timeout(&mut buf, Duration::from_secs(5));
    let _ = shmpipe::remove(&segment);
    match got {
        Err(RecvError::PeerDied { pid }) => assert_eq!(pid, i32::MAX as u32 + 1),
        other => panic!("{other:?}"),
    }
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
}

/// An adversary thread rewriting the header's writer and reader lines (positions, states,
/// wake words, owners) with random values as fast as it can, while this thread sends and
/// receives with timeouts: every call returns `Ok` or a typed error, and none outlives its
/// timeout by more than scheduling noise. (Only the header is written concurrently: a
/// concurrent write of payload bytes being copied would be a data race in this process's own
/// memory model, though not a memory-safety hole for the copy's bounds.)
#[test]
fn a_concurrent_header_scribbler_cannot_hang_or_crash_the_handles() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = AtomicBool::new(false);
    let ring = RingOptions::new().capacity(256).heap().unwrap();
    let mut writer = ring.writer().unwrap();
    let mut reader = ring.reader().unwrap();
    let timeout = Duration::from_millis(20);
    // Generous: a loaded 2-core CI machine can delay a wake-up by tens of milliseconds.
    let slack = Duration::from_secs(1);
    let mut worst = Duration::ZERO;
    std::thread::scope(|scope| {
        scope.spawn(|| {
            let mut x = 0x9e37_79b9_7f4a_7c15u64;
            while !stop.load(Ordering::Relaxed) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let offset = (128 + (x % 256) as usize) & !3;
                let value = match x >> 60 {
                    0..=5 => ((x >> 8) % 512) & !7,
                    6..=9 => (x >> 8) % 3,
                    _ => x,
                };
                let bytes = value.to_ne_bytes();
                let n = if offset % 8 == 0 { 8 } else { 4 };
                // SAFETY: only the header lines are written, which the handles access through
                // atomics only; no record is lent while the handles run (they copy).
                unsafe { ring.tamper(offset, &bytes[..n]) };
                std::hint::spin_loop();
            }
        });
        let mut buf = [0u8; 256];
        let start = Instant::now();
        let mut calls = 0u32;
        while start.elapsed() < Duration::from_millis(1500) {
            let t = Instant::now();
            match writer.send_timeout(&[5; 40], timeout) {
                Ok(())
                | Err(SendError::Timeout)
                | Err(SendError::Closed)
                | Err(SendError::Corrupted { .. })
                | Err(SendError::PeerDied { .. }) => {}
                Err(e) => panic!("send: {e:?}"),
            }
            worst = worst.max(t.elapsed());
            let t = Instant::now();
            match reader.recv_timeout(&mut buf, timeout) {
                Ok(_)
                | Err(RecvError::Timeout)
                | Err(RecvError::Corrupted { .. })
                | Err(RecvError::PeerDied { .. }) => {}
                Err(e) => panic!("recv: {e:?}"),
            }
            worst = worst.max(t.elapsed());
            calls += 2;
        }
        stop.store(true, Ordering::Relaxed);
        eprintln!("{calls} calls under a scribbling adversary, slowest {worst:?}");
    });
    assert!(
        worst < timeout + slack,
        "a call with a {timeout:?} timeout took {worst:?}"
    );
}
