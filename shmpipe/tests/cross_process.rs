//! Rings between real processes, for every backend: a spawned copy of this test binary (or a
//! `fork`ed child for the anonymous mapping) is the peer. Streams of sequence-numbered records
//! of varying length go through a small ring that wraps thousands of times, and the receiver
//! checks every one. Also: kill -9 of either side, second-writer refusal, stale takeover, every
//! open error, corrupted positions and records, and name cleanup.
#![cfg(not(loom))]

mod support;
use support::peers::{self, reap};
use support::segments::{self, describe, kept_ring, parse, Cleanup};

use std::os::unix::fs::FileExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::{Duration, Instant};

use shmpipe::{
    AttachError, OpenError, RecvError, Ring, RingOptions, Role, Segment, SendError, HEADER_SIZE,
};

/// Records streamed per backend (override with `SHMPIPE_TEST_RECORDS` for a quick run).
fn stream_len() -> u64 {
    std::env::var("SHMPIPE_TEST_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

/// Every wait in these tests ends by this deadline.
const DEADLINE: Duration = Duration::from_secs(60);
/// The ring the streams go through: small, so it wraps thousands of times.
const SMALL_RING: u64 = 4096;

/// Record `i`: 8 to 300 bytes, the sequence number then a pattern derived from it.
fn record(i: u64, buf: &mut Vec<u8>) -> &[u8] {
    let len = 8 + (i.wrapping_mul(7919) % 293) as usize;
    buf.clear();
    buf.extend_from_slice(&i.to_le_bytes());
    buf.extend((8..len).map(|j| (i as u8).wrapping_mul(31).wrapping_add(j as u8)));
    buf
}

/// Checks that `got` is record `i` exactly.
fn check(i: u64, got: &[u8], scratch: &mut Vec<u8>) {
    let want = record(i, scratch);
    if got != want {
        let seq = got
            .get(..8)
            .map(|b| u64::from_le_bytes(b.try_into().unwrap()));
        panic!(
            "record {i}: got {} bytes (sequence {seq:?}), want {} bytes",
            got.len(),
            want.len()
        );
    }
}

/// A segment of each named backend, unique to this test.
fn posix() -> Segment {
    segments::posix("shmpipe-xp")
}
fn sysv() -> Segment {
    segments::sysv("shmpipe-xp-key")
}
fn file() -> Segment {
    segments::file("shmpipe-xp-file")
}

/// The peer's side of each test (see `support/peers.rs`); a test that does nothing otherwise.
#[test]
fn peer_main() {
    peers::dispatch(&[
        ("write", write),
        ("read", read),
        ("read-then-stall", read_then_stall),
        ("write-then-hang", write_then_hang),
        ("second-writer", second_writer),
        ("write-values", write_values),
        ("hold-second", hold_second),
    ]);
}

/// Opens the ring a peer was given: `memfd:SOCKET` (received over the socket) or a segment.
fn open(spec: &str) -> Ring {
    if let Some(path) = spec.strip_prefix("memfd:") {
        let socket = UnixStream::connect(path).unwrap();
        RingOptions::new().receive_memfd(&socket).unwrap()
    } else {
        RingOptions::new()
            .timeout(Some(DEADLINE))
            .open(&parse(spec))
            .unwrap()
    }
}

/// Peer: sends `count` records (or for ever if "forever"), then closes.
fn write(args: &[&str]) {
    let [spec, count] = args.try_into().unwrap();
    let ring = open(spec);
    let mut w = ring.writer().unwrap();
    let mut buf = Vec::new();
    let count = count.parse().unwrap_or(u64::MAX);
    for i in 0..count {
        w.send(record(i, &mut buf)).unwrap();
    }
}

/// Peer: receives and checks `count` records, then expects end-of-stream.
fn read(args: &[&str]) {
    let [spec, count] = args.try_into().unwrap();
    let ring = open(spec);
    let mut r = ring.reader().unwrap();
    let count: u64 = count.parse().unwrap();
    let mut buf = vec![0u8; 512];
    let mut scratch = Vec::new();
    for i in 0..count {
        let n = r.recv_timeout(&mut buf, DEADLINE).unwrap().unwrap();
        check(i, &buf[..n], &mut scratch);
    }
    assert_eq!(r.recv_timeout(&mut buf, DEADLINE).unwrap(), None);
}

/// Peer: receives `count` records, says so, then stalls without reading (to be killed).
fn read_then_stall(args: &[&str]) {
    let [spec, count] = args.try_into().unwrap();
    let ring = open(spec);
    let mut r = ring.reader().unwrap();
    let mut buf = vec![0u8; 512];
    for _ in 0..count.parse::<u64>().unwrap() {
        r.recv_timeout(&mut buf, DEADLINE).unwrap().unwrap();
    }
    peers::ready();
    std::thread::sleep(DEADLINE);
    panic!("not killed within {DEADLINE:?}");
}

/// Peer: receives one record and holds the next (`recv_ref`: its position mid-line), says
/// so, then stalls holding it (to be killed).
fn hold_second(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let ring = open(spec);
    let mut r = ring.reader().unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(r.recv_timeout(&mut buf, DEADLINE).unwrap(), Some(8));
    let held = r.recv_ref().unwrap().unwrap();
    assert_eq!(&*held, &1u64.to_le_bytes());
    peers::ready();
    std::thread::sleep(DEADLINE);
    panic!("not killed within {DEADLINE:?}");
}

/// Peer: attaches the writer, sends `count` records, says so, then hangs (to be killed).
fn write_then_hang(args: &[&str]) {
    let [spec, count] = args.try_into().unwrap();
    let ring = open(spec);
    let mut w = ring.writer().unwrap();
    let mut buf = Vec::new();
    for i in 0..count.parse::<u64>().unwrap() {
        w.send(record(i, &mut buf)).unwrap();
    }
    peers::ready();
    std::thread::sleep(DEADLINE);
    std::mem::forget(w);
    panic!("not killed within {DEADLINE:?}");
}

/// Peer: sends the u64 values 0..`count` in batches of up to 100, alternately copied in
/// (`send_values`) and written in place (`reserve_values`), then closes.
fn write_values(args: &[&str]) {
    let [spec, count] = args.try_into().unwrap();
    let ring = open(spec);
    let mut w = ring.writer().unwrap();
    let count: u64 = count.parse().unwrap();
    let (mut next, mut turn) = (0u64, 0u64);
    while next < count {
        let k = (count - next).min(1 + turn % 100);
        let mut batch = w.batch();
        if turn % 2 == 0 {
            let values: Vec<u64> = (next..next + k).collect();
            batch.send_values(&values).unwrap();
            next += k;
        } else {
            let mut grant = batch.reserve_values::<u64>(k as usize).unwrap();
            for (i, v) in grant.iter_mut().enumerate() {
                *v = next + i as u64;
            }
            next += grant.len() as u64;
            grant.commit_all();
        }
        turn += 1;
    }
}

/// Peer: tries to attach a second writer, which must be refused naming `holder`.
fn second_writer(args: &[&str]) {
    let [spec, holder] = args.try_into().unwrap();
    let ring = open(spec);
    match ring.writer() {
        Err(AttachError::AlreadyAttached {
            role: Role::Writer,
            pid,
        }) if pid.to_string() == holder => {}
        other => panic!("unexpected: {other:?}"),
    }
}

/// Creates a small ring on `segment`, starts the peer `role` writing `count` into it, and
/// attaches as its reader.
fn reader_of_peer(
    segment: &Segment,
    role: &str,
    count: u64,
) -> (shmpipe::Reader, std::process::Child) {
    let ring = Ring::create(segment, SMALL_RING).unwrap();
    let child = peers::spawn(role, &[&describe(segment), &count.to_string()]);
    let reader = ring.reader().unwrap();
    (reader, child)
}

/// Streams `stream_len()` records from a spawned writer to us over `segment`.
fn stream_from_peer(segment: Segment) {
    let _cleanup = Cleanup(segment.clone());
    let count = stream_len();
    let (mut reader, mut child) = reader_of_peer(&segment, "write", count);
    receive_stream(&mut reader, count);
    assert!(reap(&mut child, DEADLINE).success());
}

fn receive_stream(reader: &mut shmpipe::Reader, count: u64) {
    let mut buf = vec![0u8; 512];
    let mut scratch = Vec::new();
    for i in 0..count {
        match reader.recv_timeout(&mut buf, DEADLINE) {
            Ok(Some(n)) => check(i, &buf[..n], &mut scratch),
            other => panic!("record {i}: {other:?}"),
        }
    }
    assert_eq!(reader.recv_timeout(&mut buf, DEADLINE).unwrap(), None);
}

/// Values between two processes, sent in runs (copied in, or written in place) and received in
/// place, by copy many at a time, and one by one, in turn: every value once, in order, then
/// end-of-stream.
#[test]
fn values_stream_between_processes_in_runs_and_in_place() {
    let segment = posix();
    let _cleanup = Cleanup(segment.clone());
    let count = stream_len();
    let (mut reader, mut child) = reader_of_peer(&segment, "write-values", count);
    let mut expect = 0u64;
    let mut out = [0u64; 37];
    for turn in 0u64.. {
        let mut batch = reader.batch();
        let got: Vec<u64> = match turn % 3 {
            0 => match batch.recv_values_ref::<u64>().unwrap() {
                Some(values) => values.to_vec(),
                None => break,
            },
            1 => {
                let n = batch.recv_values(&mut out).unwrap();
                if n == 0 {
                    break;
                }
                out[..n].to_vec()
            }
            _ => {
                drop(batch);
                match reader.recv_value_timeout::<u64>(DEADLINE).unwrap() {
                    Some(v) => vec![v],
                    None => break,
                }
            }
        };
        for v in got {
            assert_eq!(v, expect, "turn {turn}");
            expect += 1;
        }
    }
    assert_eq!(expect, count);
    assert!(reap(&mut child, DEADLINE).success());
}

#[test]
fn posix_stream_between_processes_loses_nothing() {
    stream_from_peer(posix());
}

#[test]
fn sysv_stream_between_processes_loses_nothing() {
    stream_from_peer(sysv());
}

#[test]
fn file_stream_between_processes_loses_nothing() {
    stream_from_peer(file());
}

#[test]
fn posix_stream_to_a_peer_reader_loses_nothing() {
    let segment = posix();
    let _cleanup = Cleanup(segment.clone());
    let ring = Ring::create(&segment, SMALL_RING).unwrap();
    let count = stream_len() / 10;
    let mut child = peers::spawn("read", &[&describe(&segment), &count.to_string()]);
    let mut writer = ring.writer().unwrap();
    let mut buf = Vec::new();
    for i in 0..count {
        writer
            .send_timeout(record(i, &mut buf), DEADLINE)
            .unwrap_or_else(|e| panic!("record {i}: {e}"));
    }
    drop(writer);
    assert!(reap(&mut child, DEADLINE).success());
}

#[test]
fn memfd_stream_to_an_unrelated_process_loses_nothing() {
    let path = std::env::temp_dir().join(segments::unique("shmpipe-xp-sock"));
    let listener = UnixListener::bind(&path).unwrap();
    let ring = RingOptions::new()
        .capacity(SMALL_RING)
        .create_memfd()
        .unwrap();
    let count = stream_len();
    let spec = format!("memfd:{}", path.display());
    let mut child = peers::spawn("write", &[&spec, &count.to_string()]);
    listener.set_nonblocking(true).unwrap();
    let start = Instant::now();
    let socket = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && start.elapsed() < DEADLINE => {
                std::thread::sleep(Duration::from_millis(2))
            }
            Err(e) => panic!("accept: {e}"),
        }
    };
    socket.set_nonblocking(false).unwrap();
    ring.send_memfd(&socket).unwrap();
    let _ = std::fs::remove_file(&path);
    let mut reader = ring.reader().unwrap();
    drop(ring);
    receive_stream(&mut reader, count);
    assert!(reap(&mut child, DEADLINE).success());
}

#[test]
fn anonymous_stream_across_fork_loses_nothing() {
    let ring = RingOptions::new()
        .capacity(SMALL_RING)
        .create_anonymous()
        .unwrap();
    let count = stream_len();
    // SAFETY: the child only runs the ring protocol and ends in `child_exit`: it never
    // returns into the test harness and never unwinds (a failure is an exit status).
    let pid = unsafe { peers::fork() };
    if pid == 0 {
        peers::child_exit(|| {
            let mut w = ring.writer().unwrap();
            let mut buf = Vec::new();
            for i in 0..count {
                w.send(record(i, &mut buf)).unwrap();
            }
        });
    }
    let mut reader = ring.reader().unwrap();
    receive_stream(&mut reader, count);
    assert_eq!(
        peers::wait_child(pid, DEADLINE),
        0,
        "the child (writer) failed"
    );
}

#[test]
fn killed_writer_gives_every_committed_record_then_peer_died() {
    let segment = posix();
    let _cleanup = Cleanup(segment.clone());
    let ring = Ring::create(&segment, SMALL_RING).unwrap();
    let mut child = peers::spawn("write", &[&describe(&segment), "forever"]);
    let mut reader = ring.reader().unwrap();
    let mut buf = vec![0u8; 512];
    let mut scratch = Vec::new();
    let mut i = 0;
    while i < 20_000 {
        let n = reader.recv_timeout(&mut buf, DEADLINE).unwrap().unwrap();
        check(i, &buf[..n], &mut scratch);
        i += 1;
    }
    child.kill().unwrap(); // SIGKILL, mid-stream
    let killed = Instant::now();
    let died = loop {
        match reader.recv_timeout(&mut buf, DEADLINE) {
            Ok(Some(n)) => {
                check(i, &buf[..n], &mut scratch);
                i += 1;
            }
            Err(RecvError::PeerDied { pid }) => break pid,
            other => panic!("after record {i}: {other:?}"),
        }
    };
    assert_eq!(died, child.id());
    eprintln!(
        "reader saw the writer's death {:?} after the kill, after {i} intact records",
        killed.elapsed()
    );
    reap(&mut child, DEADLINE);
}

/// The writer's line guard between two processes: a reader process holds a record in the
/// line where the ring's last free bytes are; a blocking `send` here takes them while the
/// reader keeps holding it (the guard lasts 20 µs at most), as `tests/in_process.rs` checks
/// between threads.
#[test]
fn a_blocked_send_takes_the_last_bytes_while_a_reader_process_holds_its_line() {
    let segment = posix();
    let _cleanup = Cleanup(segment.clone());
    let ring = Ring::create(&segment, SMALL_RING).unwrap();
    let mut writer = ring.writer().unwrap();
    let mut filled = 0u64;
    while writer.try_send(&filled.to_le_bytes()).is_ok() {
        filled += 1;
    }
    assert_eq!(filled, SMALL_RING / 16);
    let mut child = peers::spawn("hold-second", &[&describe(&segment)]);
    peers::wait_ready(&mut child);
    let (done, finished) = std::sync::mpsc::channel();
    let sender = std::thread::spawn(move || {
        let sent = writer.send(&filled.to_le_bytes());
        done.send(()).unwrap();
        sent
    });
    let waited = finished.recv_timeout(Duration::from_secs(10));
    child.kill().unwrap();
    reap(&mut child, DEADLINE);
    waited.expect("the send hung while the reader process held a record");
    sender.join().unwrap().unwrap();
}

#[test]
fn killed_reader_fails_the_blocked_writer_with_peer_died() {
    let segment = posix();
    let _cleanup = Cleanup(segment.clone());
    let ring = Ring::create(&segment, SMALL_RING).unwrap();
    let mut child = peers::spawn("read-then-stall", &[&describe(&segment), "10"]);
    let mut writer = ring.writer().unwrap();
    let mut buf = Vec::new();
    for i in 0..10 {
        writer.send_timeout(record(i, &mut buf), DEADLINE).unwrap();
    }
    peers::wait_ready(&mut child);
    // Fill the ring so the writer blocks, then kill the reader.
    let mut i = 10;
    while writer.try_send(record(i, &mut buf)).is_ok() {
        i += 1;
    }
    child.kill().unwrap();
    let killed = Instant::now();
    match writer.send_timeout(record(i, &mut buf), DEADLINE) {
        Err(SendError::PeerDied { pid }) => assert_eq!(pid, child.id()),
        other => panic!("unexpected {other:?}"),
    }
    eprintln!(
        "writer saw the reader's death {:?} after the kill",
        killed.elapsed()
    );
    reap(&mut child, DEADLINE);
}

#[test]
fn second_writer_in_another_process_is_refused_with_our_pid() {
    let segment = posix();
    let _cleanup = Cleanup(segment.clone());
    let ring = RingOptions::new().keep_name(true).create(&segment).unwrap();
    let _writer = ring.writer().unwrap();
    let me = std::process::id().to_string();
    let mut child = peers::spawn("second-writer", &[&describe(&segment), &me]);
    assert!(reap(&mut child, DEADLINE).success());
}

#[test]
fn a_dead_writers_claim_is_taken_over() {
    let segment = posix();
    let _cleanup = Cleanup(segment.clone());
    let ring = RingOptions::new()
        .capacity(SMALL_RING)
        .keep_name(true)
        .create(&segment)
        .unwrap();
    let mut child = peers::spawn("write-then-hang", &[&describe(&segment), "3"]);
    peers::wait_ready(&mut child);
    // The live writer cannot be displaced.
    assert!(matches!(
        ring.writer(),
        Err(AttachError::AlreadyAttached { .. })
    ));
    child.kill().unwrap();
    reap(&mut child, DEADLINE); // reaped: the pid is gone
    let mut writer = ring.writer().expect("take over the dead writer's claim");
    let mut reader = ring.reader().unwrap();
    let mut buf = Vec::new();
    writer.send(record(3, &mut buf)).unwrap();
    drop(writer);
    receive_stream(&mut reader, 4);
}

#[test]
fn name_is_removed_once_both_sides_attach() {
    for segment in [posix(), sysv(), file()] {
        let _cleanup = Cleanup(segment.clone());
        let ring = Ring::create(&segment, SMALL_RING).unwrap();
        let _w = ring.writer().unwrap();
        assert!(
            Ring::open(&segment).is_ok(),
            "{segment}: still there with one side"
        );
        let _r = ring.reader().unwrap();
        assert!(
            matches!(Ring::open(&segment), Err(OpenError::NotFound { .. })),
            "{segment}: name still there after both sides attached"
        );
    }
}

#[test]
fn keep_name_keeps_it() {
    let segment = posix();
    let _cleanup = Cleanup(segment.clone());
    let ring = RingOptions::new().keep_name(true).create(&segment).unwrap();
    let _w = ring.writer().unwrap();
    let _r = ring.reader().unwrap();
    assert!(Ring::open(&segment).is_ok());
}

#[test]
fn creating_an_existing_name_is_refused() {
    let segment = posix();
    let _cleanup = Cleanup(segment.clone());
    let _ring = Ring::create(&segment, 4096).unwrap();
    let err = Ring::create(&segment, 4096).unwrap_err();
    assert!(
        matches!(err, shmpipe::CreateError::AlreadyExists { .. }),
        "{err:?}"
    );
}

#[test]
fn opening_a_missing_name_is_not_found_or_waits() {
    let segment = posix();
    assert!(matches!(
        Ring::open(&segment),
        Err(OpenError::NotFound { .. })
    ));
    let start = Instant::now();
    let err = RingOptions::new()
        .wait_for_creation(true)
        .timeout(Some(Duration::from_millis(50)))
        .open(&segment)
        .unwrap_err();
    assert!(matches!(err, OpenError::NotFound { .. }), "{err:?}");
    assert!(start.elapsed() >= Duration::from_millis(50));
}

/// Creates a kept POSIX ring, lets `damage` edit its file, then opens it (with the creating
/// `Ring` dropped: nobody else has it open).
fn open_damaged(damage: impl FnOnce(&std::fs::File)) -> Result<Ring, OpenError> {
    open_damaged_while(false, damage)
}

/// [`open_damaged`], with the creator's `Ring` still open if `creator_alive`.
fn open_damaged_while(
    creator_alive: bool,
    damage: impl FnOnce(&std::fs::File),
) -> Result<Ring, OpenError> {
    let segment = posix();
    let _cleanup = Cleanup(segment.clone());
    let (creator, file) = kept_ring(&segment, 4096);
    let _creator = creator_alive.then_some(creator);
    damage(&file);
    RingOptions::new()
        .timeout(Some(Duration::from_millis(100)))
        .open(&segment)
}

#[test]
fn wrong_magic_is_refused() {
    let err = open_damaged(|f| f.write_all_at(b"NOTARING", 0).unwrap()).unwrap_err();
    assert!(matches!(err, OpenError::BadMagic { found, .. } if &found == b"NOTARING"));
    assert!(err.to_string().contains("not a shmpipe segment"), "{err}");
}

/// Opens a ring whose version word was overwritten with `version`: refused as a mismatch
/// against this build's version 4; the error.
fn open_with_version(version: u32) -> OpenError {
    let err = open_damaged(|f| f.write_all_at(&version.to_ne_bytes(), 8).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::VersionMismatch { found, expected: 4, .. } if found == version
        ),
        "{err:?}"
    );
    err
}

#[test]
fn wrong_version_is_refused() {
    open_with_version(99);
}

/// A ring of layout version 2 (the same bytes, the sleep/wake handshake before the asymmetric
/// fence, whose sleepers could miss a later publish) is refused, naming both versions.
#[test]
fn a_layout_version_2_ring_is_refused() {
    let text = open_with_version(2).to_string();
    assert!(
        text.contains("has layout version 2, but this build reads version 4"),
        "{text}"
    );
}

/// A ring of layout version 3 (the same header, no run records: its reader would take one
/// for corruption) is refused, naming both versions.
#[test]
fn a_layout_version_3_ring_is_refused() {
    let text = open_with_version(3).to_string();
    assert!(
        text.contains("has layout version 3, but this build reads version 4"),
        "{text}"
    );
}

#[test]
fn a_layout_version_1_ring_is_refused_as_such() {
    let err = open_damaged(|f| {
        f.write_all_at(b"SHMRING\0", 0).unwrap();
        f.write_all_at(&1u32.to_ne_bytes(), 8).unwrap();
    })
    .unwrap_err();
    assert!(matches!(err, OpenError::BadMagic { .. }), "{err:?}");
    assert!(err.to_string().contains("layout version 1"), "{err}");
}

#[test]
fn other_endianness_is_refused() {
    let err = open_damaged(|f| {
        f.write_all_at(&0x0102_0304u32.swap_bytes().to_ne_bytes(), 28)
            .unwrap()
    })
    .unwrap_err();
    assert!(matches!(err, OpenError::Incompatible { .. }), "{err:?}");
}

#[test]
fn impossible_capacity_is_corrupted() {
    let err = open_damaged(|f| f.write_all_at(&1000u64.to_ne_bytes(), 16).unwrap()).unwrap_err();
    assert!(matches!(err, OpenError::Corrupted { .. }), "{err:?}");
}

#[test]
fn truncated_segment_is_refused_before_mapping_past_its_end() {
    let err = open_damaged(|f| f.set_len(HEADER_SIZE as u64 + 1024).unwrap()).unwrap_err();
    assert!(
        matches!(
            err,
            OpenError::Truncated {
                needed: 8192,
                actual: 5120,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_segment_still_initialising_times_out_as_not_initialised() {
    // The init word is 0 while the creator initialises (and has the segment open).
    let err =
        open_damaged_while(true, |f| f.write_all_at(&0u32.to_ne_bytes(), 32).unwrap()).unwrap_err();
    assert!(matches!(err, OpenError::NotInitialised { .. }), "{err:?}");
    // A segment not even sized yet looks the same.
    let err = open_damaged_while(true, |f| f.set_len(0).unwrap()).unwrap_err();
    assert!(matches!(err, OpenError::NotInitialised { .. }), "{err:?}");
}

#[test]
fn a_segment_whose_creator_died_before_initialising_it_is_abandoned_at_once() {
    let start = std::time::Instant::now();
    let err = open_damaged_while(false, |f| f.write_all_at(&0u32.to_ne_bytes(), 32).unwrap())
        .unwrap_err();
    assert!(matches!(err, OpenError::Abandoned { .. }), "{err:?}");
    assert!(err.to_string().contains("creator is gone"), "{err}");
    // Known from the kernel at once, not after a timeout.
    assert!(
        start.elapsed() < Duration::from_millis(90),
        "{:?}",
        start.elapsed()
    );
}

/// A kept POSIX ring with both handles attached, and its backing file for tampering.
fn tamperable() -> (Cleanup, std::fs::File, shmpipe::Writer, shmpipe::Reader) {
    let segment = posix();
    let cleanup = Cleanup(segment.clone());
    let (ring, file) = kept_ring(&segment, 4096);
    let writer = ring.writer().unwrap();
    let reader = ring.reader().unwrap();
    (cleanup, file, writer, reader)
}

const WRITE_POSITION: u64 = 128;
const READ_POSITION: u64 = 256;
const DATA: u64 = HEADER_SIZE as u64;

#[test]
fn a_record_longer_than_what_was_published_is_corrupted() {
    let (_c, file, mut writer, mut reader) = tamperable();
    writer.send(b"12345678").unwrap();
    file.write_all_at(&4000u32.to_ne_bytes(), DATA).unwrap();
    let mut buf = [0u8; 64];
    let err = reader.recv_timeout(&mut buf, DEADLINE).unwrap_err();
    assert!(matches!(err, RecvError::Corrupted { .. }), "{err:?}");
    assert!(err.to_string().contains("4000"), "{err}");
}

#[test]
fn a_record_with_unknown_flags_is_corrupted() {
    let (_c, file, mut writer, mut reader) = tamperable();
    writer.send(b"12345678").unwrap();
    file.write_all_at(&0x80u32.to_ne_bytes(), DATA + 4).unwrap();
    let err = reader.recv_ref_timeout(DEADLINE).map(|_| ()).unwrap_err();
    assert!(matches!(err, RecvError::Corrupted { .. }), "{err:?}");
}

#[test]
fn a_padding_record_of_the_wrong_length_is_corrupted() {
    let (_c, file, mut writer, mut reader) = tamperable();
    writer.send(b"12345678").unwrap();
    file.write_all_at(&1u32.to_ne_bytes(), DATA + 4).unwrap(); // flags: padding
    let mut buf = [0u8; 64];
    let err = reader.try_recv(&mut buf).unwrap_err();
    assert!(matches!(err, RecvError::Corrupted { .. }), "{err:?}");
}

#[test]
fn a_write_position_beyond_the_capacity_is_corrupted() {
    let (_c, file, _writer, mut reader) = tamperable();
    let mut buf = [0u8; 64];
    for bad in [!7u64, 8192, 12] {
        file.write_all_at(&bad.to_ne_bytes(), WRITE_POSITION)
            .unwrap();
        let err = reader.try_recv(&mut buf).unwrap_err();
        assert!(matches!(err, RecvError::Corrupted { .. }), "{bad}: {err:?}");
    }
}

#[test]
fn a_read_position_ahead_of_the_writer_is_corrupted() {
    let (_c, file, mut writer, _reader) = tamperable();
    writer.send(&[0; 4000]).unwrap();
    file.write_all_at(&8192u64.to_ne_bytes(), READ_POSITION)
        .unwrap();
    let err = writer.try_send(&[0; 100]).unwrap_err();
    assert!(matches!(err, SendError::Corrupted { .. }), "{err:?}");
}

#[test]
fn attaching_to_impossible_positions_is_corrupted() {
    let segment = posix();
    let _cleanup = Cleanup(segment.clone());
    // The default capacity, 64 KiB.
    let (ring, file) = kept_ring(&segment, 64 * 1024);
    file.write_all_at(&12u64.to_ne_bytes(), WRITE_POSITION)
        .unwrap();
    assert!(matches!(ring.writer(), Err(AttachError::Corrupted { .. })));
    assert!(matches!(ring.reader(), Err(AttachError::Corrupted { .. })));
}
