//! Crash campaign: 200 times, a peer process (this test binary, re-executed) attaches to a ring
//! as the writer or the reader and is killed with SIGKILL at a random moment: mid-stream,
//! holding a half-written record, holding a reservation that needed a padding record (mid
//! wrap), asleep on the futex because the ring is full (a writer) or empty (a reader). This
//! process survives each time and checks that
//!
//! - its wait ends with `PeerDied` naming the victim (the detection latency is measured and
//!   printed; only a generous deadline is asserted, so the test cannot hang);
//! - as the reader, it received exactly the records published before the kill: a prefix of
//!   the sent sequence (sequence numbers, lengths and a checksum per record), all of it, and
//!   nothing half-written;
//! - as the writer, the victim reader found every record it received intact (it exits with an
//!   error status otherwise, so it must have died of our SIGKILL);
//! - once it drops its handles, nothing is left: no name in `/dev/shm`, no System V segment
//!   (neither the key nor the id, as `ipcs -m` would show), no file.
//!
//! The backend rotates over POSIX, System V and file; the victim's role alternates.
//! `SHMPIPE_CRASH_ITERATIONS` and `SHMPIPE_CRASH_SEED` override the count and the seed.
//!
//! Also: when both sides die (before the name was removed, or with `keep_name`), the segment
//! is left, and `shmpipe::remove` (what `shmpipe rm` runs) cleans it up so the name can be
//! created again.
#![cfg(not(loom))]

mod support;
use support::peers::{self, reap, say};
use support::segments::{self, backing_file, describe, parse};

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Child;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use shmpipe::{CreateError, OpenError, RecvError, Ring, RingOptions, Segment, SendError};

/// Every wait in this test ends by this deadline.
const DEADLINE: Duration = Duration::from_secs(10);
/// A survivor must notice a dead peer well within this (the README promises 100 ms; this is
/// only a bound that keeps a broken build from hanging).
const DETECTION_BOUND: Duration = Duration::from_secs(5);

fn iterations() -> usize {
    std::env::var("SHMPIPE_CRASH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

/// xorshift64*: reproducible randomness from a printed seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// FNV-1a, the per-record checksum.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Record `i`: 24 to 300 bytes: the sequence number, a pattern, and a checksum of the rest.
fn record(i: u64, buf: &mut Vec<u8>) -> &[u8] {
    let len = 24 + (i.wrapping_mul(7919) % 277) as usize;
    buf.clear();
    buf.extend_from_slice(&i.to_le_bytes());
    buf.extend((8..len - 8).map(|j| (i as u8).wrapping_mul(13).wrapping_add(j as u8)));
    let sum = fnv(buf);
    buf.extend_from_slice(&sum.to_le_bytes());
    buf
}

/// Is `got` record `i`, whole and intact?
fn is_record(i: u64, got: &[u8], scratch: &mut Vec<u8>) -> bool {
    let body = got.len().checked_sub(8).map(|n| &got[..n]);
    let sum_ok = body.is_some_and(|b| fnv(b).to_le_bytes() == got[got.len() - 8..]);
    sum_ok && got == record(i, scratch)
}

/// The three named backends, a fresh segment each time.
fn segment(kind: usize, tag: &str) -> Segment {
    let prefix = format!("shmpipe-crash-{tag}");
    match kind {
        0 => segments::posix(&prefix),
        1 => segments::sysv(&prefix),
        _ => segments::file(&prefix),
    }
}

/// What is left of a segment in the system.
#[derive(Debug)]
struct Traces {
    /// The POSIX name or the file exists.
    path: Option<PathBuf>,
    /// The System V key still finds a segment.
    key: bool,
    /// The System V segment with this id still exists (even without its key).
    shmid: bool,
}

impl Traces {
    fn none(&self) -> bool {
        self.path.is_none() && !self.key && !self.shmid
    }
}

/// Looks for what is left of `segment` (System V: also the segment `shmid`, which keeps
/// existing without its key while something has it attached).
fn traces(segment: &Segment, shmid: Option<i32>) -> Traces {
    let path = matches!(segment, Segment::Posix(_) | Segment::File(_))
        .then(|| backing_file(segment))
        .filter(|p| p.exists());
    let key = match segment {
        // SAFETY: a plain system call with no memory arguments.
        Segment::SysV(shmpipe::SysvKey::Key(k)) => (unsafe { libc::shmget(*k, 0, 0) }) != -1,
        _ => false,
    };
    // `ipcs -m` reads /proc/sysvipc/shm: the id is the second column.
    let shmid = shmid.is_some_and(|id| {
        std::fs::read_to_string("/proc/sysvipc/shm")
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|l| l.split_whitespace().nth(1) == Some(&id.to_string()))
    });
    Traces { path, key, shmid }
}

fn sysv_id(segment: &Segment) -> Option<i32> {
    match segment {
        Segment::SysV(shmpipe::SysvKey::Key(k)) => {
            // SAFETY: a plain system call with no memory arguments.
            let id = unsafe { libc::shmget(*k, 0, 0) };
            assert!(id >= 0, "the segment just created has no id");
            Some(id)
        }
        _ => None,
    }
}

/// The victim's side (see `support/peers.rs`); a test that does nothing otherwise. Exit
/// statuses: 2 an operation failed, 3 a record was wrong, 4 end-of-stream.
#[test]
fn peer_main() {
    peers::dispatch(&[
        ("writer", writer),
        ("reader", reader),
        ("create-write", create_write),
        ("read-one", read_one),
    ]);
}

/// A victim's failed operation: exit status 2.
fn fail(what: &dyn std::fmt::Debug) -> ! {
    eprintln!("peer {}: {what:?}", std::process::id());
    std::process::exit(2)
}

/// Opens the ring a victim was given (exit status 2 if it cannot).
fn open(spec: &str) -> Ring {
    RingOptions::new()
        .timeout(Some(DEADLINE))
        .open(&parse(spec))
        .unwrap_or_else(|e| fail(&e))
}

/// Victim: the writer, killed while streaming (`stream`), asleep on a full ring (`full`), or
/// holding a reservation after `n` records (`mid-record`, `mid-wrap`).
fn writer(args: &[&str]) {
    let [spec, mode, n] = args.try_into().unwrap();
    let mut buf = Vec::new();
    let ring = open(spec);
    let mut w = ring.writer().unwrap_or_else(|e| fail(&e));
    say("attached");
    let n: u64 = n.parse().unwrap();
    let mut i = 0;
    match mode {
        "stream" => loop {
            w.send(record(i, &mut buf)).unwrap_or_else(|e| fail(&e));
            i += 1;
        },
        "full" => {
            let mut said = false;
            loop {
                match w.try_send(record(i, &mut buf)) {
                    Ok(()) => {}
                    Err(SendError::Full) => {
                        if !said {
                            say("full");
                            said = true;
                        }
                        // Asleep on the futex until the reader makes room (it won't).
                        w.send(record(i, &mut buf)).unwrap_or_else(|e| fail(&e));
                    }
                    Err(e) => fail(&e),
                }
                i += 1;
            }
        }
        "mid-record" | "mid-wrap" => {
            while i < n {
                w.send(record(i, &mut buf)).unwrap_or_else(|e| fail(&e));
                i += 1;
            }
            let cap = ring.capacity();
            let mut to_end = cap - (ring.status().writer.position & (cap - 1));
            if mode == "mid-wrap" && to_end == cap {
                // At offset 0 nothing wraps: move on by one record first.
                w.send(record(i, &mut buf)).unwrap_or_else(|e| fail(&e));
                to_end = cap - (ring.status().writer.position & (cap - 1));
            }
            // Mid wrap: a record one byte too long for the space before the end, so a
            // padding record goes first. Mid record: any length that fits the ring.
            let len = if mode == "mid-wrap" {
                to_end as usize - 7
            } else {
                24 + (n as usize * 31) % (ring.max_message() - 24)
            };
            let mut grant = w.reserve(len).unwrap_or_else(|e| fail(&e));
            let half = len / 2;
            grant[..half].fill(0xee);
            say("ready");
            std::thread::sleep(DEADLINE);
            grant[half..].fill(0xee);
            std::process::exit(2);
        }
        other => panic!("unknown writer mode {other}"),
    }
}

/// Victim: the reader, checking every record, killed while streaming (`stream`), after `k`
/// records while not reading (`stall`), or asleep on an empty ring after `k` (`empty`).
fn reader(args: &[&str]) {
    let [spec, mode, k] = args.try_into().unwrap();
    let mut scratch = Vec::new();
    let ring = open(spec);
    let mut r = ring.reader().unwrap_or_else(|e| fail(&e));
    say("attached");
    let k: u64 = k.parse().unwrap();
    let mut data = vec![0u8; 512];
    let mut i = 0u64;
    let mut next = |r: &mut shmpipe::Reader, i: &mut u64| match r.recv(&mut data) {
        Ok(Some(n)) => {
            if !is_record(*i, &data[..n], &mut scratch) {
                eprintln!("peer reader: record {i} is wrong");
                std::process::exit(3);
            }
            *i += 1;
        }
        Ok(None) => std::process::exit(4),
        Err(e) => fail(&e),
    };
    match mode {
        "stream" => loop {
            next(&mut r, &mut i);
        },
        "stall" | "empty" => {
            while i < k {
                next(&mut r, &mut i);
            }
            say("ready");
            if mode == "stall" {
                // Not reading: the writer fills the ring and sleeps on its futex.
                std::thread::sleep(DEADLINE);
                std::process::exit(2);
            }
            // The ring is empty now: asleep on the futex until the writer sends more.
            loop {
                next(&mut r, &mut i);
            }
        }
        other => panic!("unknown reader mode {other}"),
    }
}

/// Victim: creates the ring, attaches the writer, sends `n` records, then hangs (to be
/// killed).
fn create_write(args: &[&str]) {
    let [spec, keep, n] = args.try_into().unwrap();
    let mut buf = Vec::new();
    let ring = RingOptions::new()
        .capacity(4096)
        .keep_name(keep == "keep")
        .create(&parse(spec))
        .unwrap_or_else(|e| fail(&e));
    let mut w = ring.writer().unwrap_or_else(|e| fail(&e));
    for i in 0..n.parse::<u64>().unwrap() {
        w.send(record(i, &mut buf)).unwrap_or_else(|e| fail(&e));
    }
    say("ready");
    std::thread::sleep(DEADLINE);
    std::process::exit(2);
}

/// Victim: opens the ring, attaches the reader, reads one record, then hangs (to be killed).
fn read_one(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let mut scratch = Vec::new();
    let ring = open(spec);
    let mut r = ring.reader().unwrap_or_else(|e| fail(&e));
    let mut data = vec![0u8; 512];
    let n = r
        .recv_timeout(&mut data, DEADLINE)
        .unwrap_or_else(|e| fail(&e));
    if n.is_none_or(|n| !is_record(0, &data[..n], &mut scratch)) {
        std::process::exit(3);
    }
    say("ready");
    std::thread::sleep(DEADLINE);
    std::process::exit(2);
}

/// How the victim is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Writer streaming as fast as the reader takes: killed after a random delay.
    WriterStream,
    /// Writer holding a half-filled reservation.
    WriterMidRecord,
    /// Writer holding a reservation placed after a padding record (not yet published).
    WriterMidWrap,
    /// Writer asleep on the futex: the ring is full because we stopped reading.
    WriterAsleepOnFull,
    /// Reader taking records as fast as they come: killed after a random delay.
    ReaderStream,
    /// Reader stopped reading: we (the writer) sleep on the futex on a full ring.
    ReaderStalled,
    /// Reader asleep on the futex: the ring is empty because we stopped sending.
    ReaderAsleepOnEmpty,
}

const WRITER_MODES: [Mode; 4] = [
    Mode::WriterStream,
    Mode::WriterMidRecord,
    Mode::WriterMidWrap,
    Mode::WriterAsleepOnFull,
];
const READER_MODES: [Mode; 3] = [
    Mode::ReaderStream,
    Mode::ReaderStalled,
    Mode::ReaderAsleepOnEmpty,
];

/// What one iteration observed.
struct Outcome {
    latency: Duration,
    records: u64,
}

/// Kills `pid` once the victim prints `trigger`, after `delay`; reports the moment of the kill.
fn killer(child: &mut Child, trigger: &'static str, delay: Duration) -> mpsc::Receiver<Instant> {
    let out = child.stdout.take().unwrap();
    let pid = child.id() as libc::pid_t;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        // The victim prints before it blocks, and its own waits are bounded, so this ends; if
        // it exits without the trigger the kill below finds a zombie and changes nothing (the
        // exit status then fails the iteration).
        for line in BufReader::new(out).lines() {
            if line.map(|l| l.trim() == trigger).unwrap_or(true) {
                break;
            }
        }
        std::thread::sleep(delay);
        // SAFETY: `pid` is our unreaped child (the main thread reaps it only after receiving
        // from this channel), so it cannot name another process.
        unsafe { libc::kill(pid, libc::SIGKILL) };
        let _ = tx.send(Instant::now());
    });
    rx
}

fn run_iteration(iteration: usize, rng: &mut Rng) -> (Mode, Outcome) {
    let kind = iteration % 3;
    let writer_dies = (iteration / 3) % 2 == 0;
    let mode = if writer_dies {
        WRITER_MODES[rng.below(4) as usize]
    } else {
        READER_MODES[rng.below(3) as usize]
    };
    let seg = segment(kind, &iteration.to_string());
    let _ = shmpipe::remove(&seg); // a leftover of an earlier, interrupted run
    let capacity = 1 << (10 + rng.below(3)); // 1, 2 or 4 KiB: wraps often
    let ring = RingOptions::new()
        .capacity(capacity)
        .create(&seg)
        .unwrap_or_else(|e| panic!("iteration {iteration}: {e}"));
    let shmid = sysv_id(&seg);
    let spec = describe(&seg);
    let n = rng.below(60);
    let delay = Duration::from_micros(rng.below(30_000));
    let what = format!("iteration {iteration} ({mode:?}, {seg}, {capacity} bytes)");
    let (task, trigger, delay) = match mode {
        Mode::WriterStream => (("writer", "stream"), "attached", delay),
        Mode::WriterMidRecord => (("writer", "mid-record"), "ready", delay / 10),
        Mode::WriterMidWrap => (("writer", "mid-wrap"), "ready", delay / 10),
        Mode::WriterAsleepOnFull => (("writer", "full"), "full", delay / 3),
        Mode::ReaderStream => (("reader", "stream"), "attached", delay),
        Mode::ReaderStalled => (("reader", "stall"), "ready", delay / 3),
        Mode::ReaderAsleepOnEmpty => (("reader", "empty"), "ready", delay / 3),
    };
    let n_arg = n.to_string();
    let args = [spec.as_str(), task.1, &n_arg];
    let (outcome, mut child);
    if writer_dies {
        let mut reader = ring.reader().unwrap();
        child = peers::spawn(task.0, &args);
        let killed = killer(&mut child, trigger, delay);
        let pid = child.id();
        let mut buf = vec![0u8; 512];
        let mut scratch = Vec::new();
        let mut i = 0u64;
        if mode == Mode::WriterAsleepOnFull {
            // Take a few records, then stop reading until the writer, asleep on a full ring,
            // has been killed.
            for _ in 0..n.min(3) {
                match reader.recv_timeout(&mut buf, DEADLINE) {
                    Ok(Some(len)) => {
                        assert!(
                            is_record(i, &buf[..len], &mut scratch),
                            "{what}: record {i}"
                        );
                        i += 1;
                    }
                    other => panic!("{what}: record {i}: {other:?}"),
                }
            }
        }
        let mut kill_at = None;
        if mode == Mode::WriterAsleepOnFull {
            kill_at = Some(killed.recv_timeout(DEADLINE).expect("the kill"));
        }
        let died_at = loop {
            match reader.recv_timeout(&mut buf, DEADLINE) {
                Ok(Some(len)) => {
                    assert!(
                        is_record(i, &buf[..len], &mut scratch),
                        "{what}: record {i} is torn or out of sequence ({len} bytes)"
                    );
                    i += 1;
                }
                Err(RecvError::PeerDied { pid: p }) => {
                    assert_eq!(p, pid, "{what}");
                    break Instant::now();
                }
                other => panic!("{what}: after {i} records: {other:?}"),
            }
        };
        let kill_at = kill_at.unwrap_or_else(|| killed.recv_timeout(DEADLINE).expect("the kill"));
        // Everything the writer published was delivered: the read position caught up.
        let status = ring.status();
        assert_eq!(
            status.reader.position, status.writer.position,
            "{what}: published bytes were not delivered"
        );
        if matches!(mode, Mode::WriterMidRecord | Mode::WriterMidWrap) {
            // It sent `n` (mid-wrap: maybe one more) whole records before its reservation,
            // which was never committed.
            let sent = if mode == Mode::WriterMidWrap && i == n + 1 {
                n + 1
            } else {
                n
            };
            assert_eq!(
                i, sent,
                "{what}: the reserved record leaked or records were lost"
            );
        }
        drop(reader);
        outcome = Outcome {
            latency: died_at.saturating_duration_since(kill_at),
            records: i,
        };
    } else {
        let mut writer = ring.writer().unwrap();
        child = peers::spawn(task.0, &args);
        let killed = killer(&mut child, trigger, delay);
        let pid = child.id();
        let mut buf = Vec::new();
        let mut i = 0u64;
        let mut kill_at = None;
        if mode == Mode::ReaderAsleepOnEmpty {
            // Send what the reader waits for, then nothing until it has been killed asleep.
            while i < n {
                writer.send_timeout(record(i, &mut buf), DEADLINE).unwrap();
                i += 1;
            }
            kill_at = Some(killed.recv_timeout(DEADLINE).expect("the kill"));
        }
        let died_at = loop {
            match writer.send_timeout(record(i, &mut buf), DEADLINE) {
                Ok(()) => i += 1,
                Err(SendError::PeerDied { pid: p }) => {
                    assert_eq!(p, pid, "{what}");
                    break Instant::now();
                }
                other => panic!("{what}: record {i}: {other:?}"),
            }
        };
        let kill_at = kill_at.unwrap_or_else(|| killed.recv_timeout(DEADLINE).expect("the kill"));
        drop(writer);
        outcome = Outcome {
            latency: died_at.saturating_duration_since(kill_at),
            records: i,
        };
    }
    drop(ring);
    let status = reap(&mut child, DEADLINE);
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "{what}: the victim was not killed by us but ended with {status:?} (3 = a wrong record)"
    );
    assert!(
        outcome.latency < DETECTION_BOUND,
        "{what}: the death was noticed after {:?}",
        outcome.latency
    );
    let left = traces(&seg, shmid);
    assert!(left.none(), "{what}: left behind: {left:?}");
    (mode, outcome)
}

#[test]
fn two_hundred_kills_leave_no_hang_no_torn_record_and_no_segment() {
    let seed = std::env::var("SHMPIPE_CRASH_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap();
            t.as_nanos() as u64 | 1
        });
    eprintln!("crash campaign: seed {seed} (SHMPIPE_CRASH_SEED={seed} to replay)");
    let mut rng = Rng(seed);
    let start = Instant::now();
    let mut max = Duration::ZERO;
    let mut total = Duration::ZERO;
    let mut records = 0;
    let mut by_mode = std::collections::BTreeMap::new();
    let count = iterations();
    for iteration in 0..count {
        let (mode, outcome) = run_iteration(iteration, &mut rng);
        let entry = by_mode
            .entry(format!("{mode:?}"))
            .or_insert((0, Duration::ZERO));
        entry.0 += 1;
        entry.1 = entry.1.max(outcome.latency);
        max = max.max(outcome.latency);
        total += outcome.latency;
        records += outcome.records;
    }
    eprintln!(
        "crash campaign: {count} kills in {:?}, {records} records checked; detection latency max {max:?}, mean {:?}",
        start.elapsed(),
        total / count.max(1) as u32
    );
    for (mode, (n, worst)) in by_mode {
        eprintln!("  {mode:<20} {n:>4} kills, slowest detection {worst:?}");
    }
}

/// Both sides killed: first before both attached (the creator, a writer, dies alone), then
/// with both attached to a ring that keeps its name. Each time the segment is left behind;
/// `create` refuses the name, `shmpipe::remove` removes it, then `create` works again.
#[test]
fn segments_left_when_both_sides_die_are_removed_by_remove() {
    for kind in 0..3 {
        for keep in [false, true] {
            let seg = segment(kind, &format!("both-{kind}-{keep}"));
            let _ = shmpipe::remove(&seg);
            let spec = describe(&seg);
            let what = format!("{seg} (keep_name {keep})");
            let keep_arg = if keep { "keep" } else { "remove" };
            let wait_ready = |child: &mut Child| {
                assert!(
                    peers::got_ready(child),
                    "{what}: a peer failed before it was ready"
                );
            };
            let mut writer = peers::spawn("create-write", &[&spec, keep_arg, "3"]);
            wait_ready(&mut writer);
            let mut reader = keep.then(|| peers::spawn("read-one", &[&spec]));
            if let Some(reader) = reader.as_mut() {
                wait_ready(reader);
            }
            for child in std::iter::once(&mut writer).chain(reader.as_mut()) {
                child.kill().unwrap();
                assert_eq!(
                    reap(child, DEADLINE).signal(),
                    Some(libc::SIGKILL),
                    "{what}"
                );
            }
            // Left behind: the name is still there and names a ring whose owners are dead.
            let ring = Ring::open(&seg).unwrap_or_else(|e| panic!("{what}: {e}"));
            let status = ring.status();
            assert!(
                !status.creator_alive && !status.writer.alive,
                "{what}: {status:?}"
            );
            assert!(!status.reader.alive, "{what}: {status:?}");
            drop(ring);
            match Ring::create(&seg, 4096) {
                Err(e @ CreateError::AlreadyExists { .. }) => {
                    assert!(e.to_string().contains("shmpipe rm"), "{e}")
                }
                other => panic!("{what}: create over a stale segment: {other:?}"),
            }
            shmpipe::remove(&seg).unwrap_or_else(|e| panic!("{what}: remove: {e}"));
            assert!(
                traces(&seg, None).none(),
                "{what}: remove left {:?}",
                traces(&seg, None)
            );
            assert!(matches!(Ring::open(&seg), Err(OpenError::NotFound { .. })));
            let again = Ring::create(&seg, 4096).unwrap_or_else(|e| panic!("{what}: {e}"));
            let shmid = sysv_id(&seg);
            drop(again);
            shmpipe::remove(&seg).unwrap();
            assert!(traces(&seg, shmid).none(), "{what}");
        }
    }
}
