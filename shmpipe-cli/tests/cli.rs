//! The `shmpipe` command, run as the real binary: streams through every named backend,
//! either side first, kill -9 and Ctrl-C of each side, stale and corrupted rings, `stat`,
//! `rm`, and bad arguments. Every wait has a deadline; every process and name a test makes
//! is killed or removed even when the test fails.
#![cfg(not(loom))]

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use shmpipe::{RingOptions, Segment};

mod support;

use support::{collect, feed, posix_path, run, unique, wait_until, Name, Proc, DEADLINE};

// ---------------------------------------------------------------------------------------------
// Helpers

/// A System V key no other test uses.
fn unique_key() -> i32 {
    let n = unique("key");
    let counter: u32 = n.split('-').nth(3).unwrap().parse().unwrap();
    (0x5e00_0000 | ((std::process::id() & 0xffff) << 8) | (counter & 0xff)) as i32
}

/// Is a System V segment with this key listed (what `ipcs -m` shows)?
fn sysv_key_exists(key: i32) -> bool {
    let table = std::fs::read_to_string("/proc/sysvipc/shm").unwrap();
    table.lines().skip(1).any(|line| {
        line.split_whitespace()
            .next()
            .and_then(|k| k.parse::<i64>().ok())
            .is_some_and(|k| k as i32 == key)
    })
}

/// Waits until the ring's writer is attached (the writer process has created it).
fn wait_for_writer(segment: &Segment, pid: u32) {
    wait_until(&format!("a writer with pid {pid} on {segment}"), || {
        shmpipe::inspect(segment)
            .ok()
            .and_then(|found| found.header)
            .is_some_and(|h| h.writer.pid == Some(pid))
    });
}

/// Feeds an endless stream to stdin until the process stops reading.
fn feed_forever(mut stdin: ChildStdin) -> JoinHandle<()> {
    thread::spawn(move || {
        let chunk = vec![b'y'; 64 * 1024];
        while stdin.write_all(&chunk).is_ok() {}
    })
}

/// A reproducible pseudo-random byte stream (xorshift64), generated a word at a time.
struct Stream(u64);

impl Stream {
    /// Fills `buf`, whose length must be a multiple of 8, with the next bytes of the stream.
    fn fill(&mut self, buf: &mut [u8]) {
        for word in buf.chunks_exact_mut(8) {
            let mut x = self.0;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            self.0 = x;
            word.copy_from_slice(&x.to_le_bytes());
        }
    }
}

const CHUNK: usize = 1 << 20;

/// Writes `total` bytes of the stream seeded with `seed` to `stdin`, then closes it.
fn feed_stream(mut stdin: ChildStdin, seed: u64, total: usize) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut stream = Stream(seed);
        let mut buf = vec![0u8; CHUNK];
        let mut left = total;
        while left > 0 {
            stream.fill(&mut buf);
            let n = left.min(CHUNK);
            if stdin.write_all(&buf[..n]).is_err() {
                return;
            }
            left -= n;
        }
    })
}

/// Reads `out` to its end, comparing it with the stream seeded with `seed` as it arrives;
/// returns the byte count, or where the first difference is.
fn check_stream(mut out: ChildStdout, seed: u64) -> JoinHandle<Result<usize, String>> {
    thread::spawn(move || {
        let mut stream = Stream(seed);
        let mut expected = vec![0u8; CHUNK];
        let mut at = CHUNK; // position in `expected`; CHUNK = needs a refill
        let mut buf = vec![0u8; CHUNK];
        let mut total = 0usize;
        loop {
            let n = match out.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => n,
                Err(e) => return Err(format!("reading the output failed: {e}")),
            };
            let mut got = &buf[..n];
            while !got.is_empty() {
                if at == CHUNK {
                    stream.fill(&mut expected);
                    at = 0;
                }
                let take = got.len().min(CHUNK - at);
                if got[..take] != expected[at..at + take] {
                    let i = (0..take).find(|&i| got[i] != expected[at + i]).unwrap();
                    return Err(format!("the output differs at byte {}", total + i));
                }
                got = &got[take..];
                at += take;
                total += take;
            }
        }
    })
}

/// Streams `total` pseudo-random bytes through `write NAME ARGS | read NAME ARGS` and checks
/// them byte for byte; both must exit 0 with nothing on stderr.
fn round_trip(name: &str, write_args: &[&str], read_args: &[&str], total: usize) {
    let seed = 0x9e37_79b9_7f4a_7c15 ^ total as u64;
    let mut args = vec!["write", name];
    args.extend_from_slice(write_args);
    let mut writer = Proc::spawn(&args, Stdio::piped(), Stdio::null());
    let feeder = feed_stream(writer.stdin(), seed, total);
    let mut args = vec!["read", name];
    args.extend_from_slice(read_args);
    let mut reader = Proc::spawn(&args, Stdio::null(), Stdio::piped());
    let checker = check_stream(reader.stdout(), seed);
    let deadline = DEADLINE * 2;
    let read_end = reader.wait_for(deadline);
    let write_end = writer.wait_for(deadline);
    feeder.join().unwrap();
    assert_eq!(checker.join().unwrap(), Ok(total));
    assert_eq!(read_end.code(), Some(0), "read: {}", read_end.stderr);
    assert_eq!(write_end.code(), Some(0), "write: {}", write_end.stderr);
    assert_eq!(read_end.stderr, "");
    assert_eq!(write_end.stderr, "");
}

// ---------------------------------------------------------------------------------------------
// Streams through each backend

#[test]
fn stream_of_256_mib_through_posix_arrives_intact_and_leaves_nothing() {
    let name = unique("256m");
    let _cleanup = Name(Segment::posix(&name));
    round_trip(&name, &[], &[], 256 << 20);
    assert!(
        !posix_path(&name).exists(),
        "/dev/shm/{name} was left behind"
    );
}

#[test]
fn stream_through_a_sysv_key_arrives_intact_and_leaves_nothing() {
    let key = unique_key();
    let _cleanup = Name(Segment::sysv_key(key));
    let name = format!("{:#x}", key as u32);
    let sysv = ["--backend", "sysv"];
    round_trip(
        &name,
        &["--backend", "sysv", "--capacity", "256K"],
        &sysv,
        16 << 20,
    );
    assert!(!sysv_key_exists(key), "System V key {name} was left behind");
}

#[test]
fn stream_through_a_sysv_ftok_name_arrives_intact() {
    let dir = std::env::temp_dir().join(unique("ftok"));
    std::fs::create_dir(&dir).unwrap();
    let _cleanup = Name(Segment::sysv_ftok(&dir, 42));
    let name = format!("{}:42", dir.display());
    round_trip(
        &name,
        &["--backend", "sysv"],
        &["--backend", "sysv"],
        1 << 20,
    );
    let (end, _) = run(&["stat", &name, "--backend", "sysv"]);
    assert_eq!(
        end.code(),
        Some(1),
        "the segment was left behind: {}",
        end.stderr
    );
    assert!(end.stderr.contains("does not exist"), "{}", end.stderr);
    let _ = std::fs::remove_dir(&dir);
}

#[test]
fn stream_through_a_file_arrives_intact_and_removes_the_file() {
    let path = posix_path(&unique("file.ring"));
    let _cleanup = Name(Segment::file(&path));
    let name = path.to_str().unwrap();
    // A NAME with a '/' inside is a file path without --backend.
    round_trip(
        name,
        &["--backend", "file", "--capacity", "64K"],
        &[],
        16 << 20,
    );
    assert!(!path.exists(), "{} was left behind", path.display());
}

#[test]
fn empty_input_gives_empty_output() {
    let name = unique("empty");
    let _cleanup = Name(Segment::posix(&name));
    round_trip(&name, &[], &[], 0);
    assert!(!posix_path(&name).exists());
}

#[test]
fn write_of_empty_input_waits_for_a_reader_like_a_fifo() {
    let name = unique("empty-first");
    let _cleanup = Name(Segment::posix(&name));
    let mut writer = Proc::spawn(&["write", &name], Stdio::null(), Stdio::null());
    thread::sleep(Duration::from_millis(300));
    assert!(
        writer.running(),
        "write must wait for a reader to see end-of-stream"
    );
    let (r, out) = run(&["read", &name]);
    let w = writer.wait();
    assert_eq!(
        (r.code(), w.code()),
        (Some(0), Some(0)),
        "{} {}",
        r.stderr,
        w.stderr
    );
    assert_eq!(out, "");
    assert!(!posix_path(&name).exists());
}

// ---------------------------------------------------------------------------------------------
// Either side first

#[test]
fn read_started_before_write_waits_for_the_ring() {
    let name = unique("read-first");
    let _cleanup = Name(Segment::posix(&name));
    let mut reader = Proc::spawn(&["read", &name], Stdio::null(), Stdio::piped());
    let out = collect(reader.stdout());
    thread::sleep(Duration::from_millis(300));
    assert!(reader.running(), "read must wait for the ring to appear");
    let mut writer = Proc::spawn(&["write", &name], Stdio::piped(), Stdio::null());
    let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let feeder = feed(writer.stdin(), data.clone());
    let (r, w) = (reader.wait(), writer.wait());
    feeder.join().unwrap();
    assert_eq!(
        (r.code(), w.code()),
        (Some(0), Some(0)),
        "{} {}",
        r.stderr,
        w.stderr
    );
    assert!(out.finish() == data, "the output differs from the input");
    assert!(!posix_path(&name).exists());
}

#[test]
fn write_blocks_on_a_full_ring_until_a_reader_comes() {
    let name = unique("write-first");
    let _cleanup = Name(Segment::posix(&name));
    let mut writer = Proc::spawn(
        &["write", &name, "--capacity", "64K"],
        Stdio::piped(),
        Stdio::null(),
    );
    let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    let feeder = feed(writer.stdin(), data.clone());
    thread::sleep(Duration::from_millis(300));
    assert!(writer.running(), "write must wait for a reader");
    let mut reader = Proc::spawn(&["read", &name], Stdio::null(), Stdio::piped());
    let out = collect(reader.stdout());
    let (r, w) = (reader.wait(), writer.wait());
    feeder.join().unwrap();
    assert_eq!(
        (r.code(), w.code()),
        (Some(0), Some(0)),
        "{} {}",
        r.stderr,
        w.stderr
    );
    assert!(out.finish() == data, "the output differs from the input");
}

// ---------------------------------------------------------------------------------------------
// A side dies or is interrupted

#[test]
fn killing_the_writer_delivers_what_it_wrote_then_names_it() {
    let name = unique("kill-writer");
    let _cleanup = Name(Segment::posix(&name));
    let mut writer = Proc::spawn(&["write", &name], Stdio::piped(), Stdio::null());
    let mut stdin = writer.stdin();
    let data = vec![b'w'; 100_000];
    stdin.write_all(&data).unwrap();
    let mut reader = Proc::spawn(&["read", &name], Stdio::null(), Stdio::piped());
    let out = collect(reader.stdout());
    out.wait_for(data.len());
    writer.child.kill().unwrap(); // SIGKILL, stdin still open
    let r = reader.wait();
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert_eq!(r.lines().len(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("pid {}", writer.pid())) && r.stderr.contains("100000 bytes"),
        "{}",
        r.stderr
    );
    assert!(out.finish() == data);
    drop(stdin);
}

#[test]
fn killing_the_reader_makes_the_writer_fail_naming_it() {
    let name = unique("kill-reader");
    let _cleanup = Name(Segment::posix(&name));
    let mut writer = Proc::spawn(&["write", &name], Stdio::piped(), Stdio::null());
    let feeder = feed_forever(writer.stdin());
    let mut reader = Proc::spawn(&["read", &name], Stdio::null(), Stdio::piped());
    let out = collect(reader.stdout());
    out.wait_for(1 << 20);
    reader.child.kill().unwrap();
    let w = writer.wait();
    assert_eq!(w.code(), Some(1), "{}", w.stderr);
    assert_eq!(w.lines().len(), 1, "{}", w.stderr);
    assert!(
        w.stderr.contains(&format!("pid {}", reader.pid())) && w.stderr.contains("died"),
        "{}",
        w.stderr
    );
    feeder.join().unwrap();
    assert!(!posix_path(&name).exists());
}

#[test]
fn ctrl_c_on_the_writer_gives_the_reader_end_of_stream() {
    let name = unique("int-writer");
    let _cleanup = Name(Segment::posix(&name));
    let mut writer = Proc::spawn(&["write", &name], Stdio::piped(), Stdio::null());
    let mut stdin = writer.stdin();
    let data = vec![b'i'; 50_000];
    stdin.write_all(&data).unwrap();
    let mut reader = Proc::spawn(&["read", &name], Stdio::null(), Stdio::piped());
    let out = collect(reader.stdout());
    out.wait_for(data.len());
    writer.signal(libc::SIGINT); // blocked in read(2) on its stdin
    let w = writer.wait();
    assert_eq!(w.code(), Some(130), "{}", w.stderr);
    let r = reader.wait();
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert!(out.finish() == data);
    drop(stdin);
}

#[test]
fn ctrl_c_on_the_reader_makes_the_writer_fail() {
    let name = unique("int-reader");
    let _cleanup = Name(Segment::posix(&name));
    let mut writer = Proc::spawn(&["write", &name], Stdio::piped(), Stdio::null());
    let feeder = feed_forever(writer.stdin());
    let mut reader = Proc::spawn(&["read", &name], Stdio::null(), Stdio::piped());
    let out = collect(reader.stdout());
    out.wait_for(1 << 20);
    reader.signal(libc::SIGINT);
    let r = reader.wait();
    assert_eq!(r.code(), Some(130), "{}", r.stderr);
    let w = writer.wait();
    assert_eq!(w.code(), Some(1), "{}", w.stderr);
    assert!(w.stderr.contains("closed"), "{}", w.stderr);
    feeder.join().unwrap();
}

#[test]
fn sigterm_on_a_writer_nobody_read_removes_the_name() {
    let name = unique("term-unread");
    let _cleanup = Name(Segment::posix(&name));
    let mut writer = Proc::spawn(&["write", &name], Stdio::piped(), Stdio::null());
    let mut stdin = writer.stdin();
    stdin.write_all(b"nobody will read this").unwrap();
    wait_for_writer(&Segment::posix(&name), writer.pid());
    writer.signal(libc::SIGTERM);
    let w = writer.wait();
    assert_eq!(w.code(), Some(128 + libc::SIGTERM), "{}", w.stderr);
    assert!(
        !posix_path(&name).exists(),
        "the unread ring was left behind"
    );
    drop(stdin);
}

#[test]
fn ctrl_c_while_writer_waits_for_the_drain_removes_an_unread_ring() {
    let name = unique("int-drain");
    let _cleanup = Name(Segment::posix(&name));
    let mut writer = Proc::spawn(&["write", &name], Stdio::piped(), Stdio::null());
    feed(writer.stdin(), b"all of the input".to_vec())
        .join()
        .unwrap();
    wait_until("the writer to close the ring", || {
        shmpipe::inspect(&Segment::posix(&name))
            .ok()
            .and_then(|f| f.header)
            .is_some_and(|h| h.writer.state == shmpipe::RoleState::Closed)
    });
    assert!(writer.running(), "write waits for a reader at end of input");
    writer.signal(libc::SIGINT);
    let w = writer.wait();
    assert_eq!(w.code(), Some(130), "{}", w.stderr);
    assert!(!posix_path(&name).exists());
}

#[test]
fn ctrl_c_on_a_reader_waiting_for_its_ring_exits_130() {
    let name = unique("int-wait");
    let mut reader = Proc::spawn(&["read", &name], Stdio::null(), Stdio::null());
    thread::sleep(Duration::from_millis(200));
    assert!(reader.running());
    reader.signal(libc::SIGINT);
    let r = reader.wait();
    assert_eq!(r.code(), Some(130), "{}", r.stderr);
    assert_eq!(r.stderr, "");
}

#[test]
fn read_exits_quietly_when_its_stdout_is_closed() {
    let name = unique("head");
    let _cleanup = Name(Segment::posix(&name));
    let mut writer = Proc::spawn(&["write", &name], Stdio::piped(), Stdio::null());
    let feeder = feed_forever(writer.stdin());
    let mut reader = Proc::spawn(&["read", &name], Stdio::null(), Stdio::piped());
    let mut out = reader.stdout();
    let mut first = [0u8; 10];
    out.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"yyyyyyyyyy");
    drop(out); // like `| head -c 10`
    let r = reader.wait();
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert_eq!(r.stderr, "");
    let w = writer.wait();
    assert_eq!(w.code(), Some(1), "{}", w.stderr);
    assert!(w.stderr.contains("reader closed"), "{}", w.stderr);
    feeder.join().unwrap();
}

#[test]
fn read_gives_up_after_its_timeout() {
    let name = unique("timeout");
    let start = Instant::now();
    let (end, _) = run(&["read", &name, "--timeout", "0.3"]);
    assert!(start.elapsed() >= Duration::from_millis(300));
    assert_eq!(end.code(), Some(1), "{}", end.stderr);
    assert_eq!(end.lines().len(), 1);
    assert!(end.stderr.contains("did not appear"), "{}", end.stderr);
}

// ---------------------------------------------------------------------------------------------
// Names already taken

#[test]
fn a_second_writer_is_refused_naming_the_first() {
    let name = unique("second");
    let _cleanup = Name(Segment::posix(&name));
    let mut first = Proc::spawn(&["write", &name], Stdio::piped(), Stdio::null());
    let stdin = first.stdin();
    wait_for_writer(&Segment::posix(&name), first.pid());
    let (second, _) = run(&["write", &name]);
    assert_eq!(second.code(), Some(1), "{}", second.stderr);
    assert_eq!(second.lines().len(), 1, "{}", second.stderr);
    assert!(
        second.stderr.contains(&format!("pid {}", first.pid())),
        "{}",
        second.stderr
    );
    assert!(first.running());
    drop(stdin);
}

#[test]
fn a_stale_ring_is_replaced_with_a_notice() {
    let name = unique("stale");
    let segment = Segment::posix(&name);
    let _cleanup = Name(segment.clone());
    let mut old = Proc::spawn(&["write", &name], Stdio::piped(), Stdio::null());
    let mut stdin = old.stdin();
    stdin.write_all(b"stale data").unwrap();
    wait_for_writer(&segment, old.pid());
    old.child.kill().unwrap();
    old.child.wait().unwrap();
    assert!(posix_path(&name).exists());

    let mut writer = Proc::spawn(&["write", &name], Stdio::piped(), Stdio::null());
    let feeder = feed(writer.stdin(), b"fresh data".to_vec());
    wait_for_writer(&segment, writer.pid());
    let (r, out) = run(&["read", &name]);
    let w = writer.wait();
    feeder.join().unwrap();
    assert_eq!(
        (r.code(), w.code()),
        (Some(0), Some(0)),
        "{} {}",
        r.stderr,
        w.stderr
    );
    assert_eq!(out, "fresh data");
    assert_eq!(w.lines().len(), 1, "one notice: {}", w.stderr);
    assert!(
        w.stderr.contains("stale") && w.stderr.contains(&format!("pid {}", old.pid())),
        "{}",
        w.stderr
    );
    drop(stdin);
}

// ---------------------------------------------------------------------------------------------
// stat and rm

#[test]
fn stat_describes_a_live_ring_as_text_and_json() {
    let name = unique("stat");
    let segment = Segment::posix(&name);
    let _cleanup = Name(segment.clone());
    let mut writer = Proc::spawn(
        &["write", &name, "--capacity", "64K"],
        Stdio::piped(),
        Stdio::null(),
    );
    let mut stdin = writer.stdin();
    stdin.write_all(&[7; 1000]).unwrap();
    wait_until("1000 bytes in the ring", || {
        shmpipe::inspect(&segment)
            .ok()
            .and_then(|f| f.header)
            .is_some_and(|h| h.writer.position >= 1000)
    });
    let pid = writer.pid();

    let (end, text) = run(&["stat", &name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    for expected in [
        "status        valid".to_owned(),
        "backend       posix".to_owned(),
        "capacity      65536 bytes (64.0 KiB)".to_owned(),
        format!("creator       pid {pid}"),
        "open          yes: a process has it open".to_owned(),
        format!("writer        attached, pid {pid} (alive)"),
        "reader        vacant".to_owned(),
        "layout        version 2".to_owned(),
    ] {
        assert!(
            text.contains(&expected),
            "{expected:?} missing from:\n{text}"
        );
    }

    let (end, json) = run(&["stat", &name, "--json"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(json.starts_with('{') && json.ends_with("}\n") && json.lines().count() == 1);
    for expected in [
        r#""status":"valid""#.to_owned(),
        r#""valid":true"#.to_owned(),
        r#""capacity":65536"#.to_owned(),
        r#""backend":"posix""#.to_owned(),
        format!(r#""writer":{{"state":"attached","pid":{pid},"alive":true"#),
        r#""reader":{"state":"vacant","pid":null"#.to_owned(),
        r#""problems":[]"#.to_owned(),
    ] {
        assert!(
            json.contains(&expected),
            "{expected:?} missing from:\n{json}"
        );
    }
    drop(stdin);
}

#[test]
fn stat_works_on_a_ring_nobody_is_attached_to() {
    let name = unique("stat-idle");
    let segment = Segment::posix(&name);
    let _cleanup = Name(segment.clone());
    drop(RingOptions::new().capacity(4096).create(&segment).unwrap());
    let (end, text) = run(&["stat", &format!("/{name}")]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(text.contains("status        valid"), "{text}");
    assert!(text.contains("writer        vacant"), "{text}");
    assert!(text.contains("reader        vacant"), "{text}");
    assert!(
        text.contains(&format!("creator       pid {}", std::process::id())),
        "{text}"
    );
    // Nobody has it open any more (the creating `Ring` was dropped): stale, and said so.
    assert!(text.contains("open          no: stale"), "{text}");
    let (end, json) = run(&["stat", &name, "--json"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(json.contains(r#""in_use":false,"stale":true"#), "{json}");
}

/// Overwrites `bytes` at `offset` of a file.
fn poke(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

#[test]
fn a_corrupted_header_is_reported_by_stat_and_refused_by_read() {
    let name = unique("corrupt");
    let segment = Segment::posix(&name);
    let _cleanup = Name(segment.clone());
    // The creator keeps it open: a live (if corrupted) ring, never replaced.
    let _creator = RingOptions::new().capacity(4096).create(&segment).unwrap();
    poke(&posix_path(&name), 16, &12345u64.to_ne_bytes()); // the capacity

    let (end, text) = run(&["stat", &name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(text.contains("status        corrupted"), "{text}");
    assert!(
        text.contains("problem") && text.contains("capacity 12345 is not a power of two"),
        "{text}"
    );
    let (end, json) = run(&["stat", &name, "--json"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(json.contains(r#""valid":false"#), "{json}");
    assert!(json.contains(r#""status":"corrupted""#), "{json}");

    let (end, out) = run(&["read", &name, "--timeout", "1"]);
    assert_eq!(end.code(), Some(1), "{}", end.stderr);
    assert_eq!(end.lines().len(), 1, "{}", end.stderr);
    assert!(end.stderr.contains("corrupted"), "{}", end.stderr);
    assert_eq!(out, "");

    // A writer refuses to replace it while its creator (this test) has it open.
    let (end, _) = run(&["write", &name]);
    assert_eq!(end.code(), Some(1), "{}", end.stderr);
    assert!(end.stderr.contains("in use"), "{}", end.stderr);

    // Not even the magic number: not a shmpipe segment at all.
    poke(&posix_path(&name), 0, b"JUNKJUNK");
    let (end, text) = run(&["stat", &name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(
        text.contains("status        not a shmpipe segment"),
        "{text}"
    );
}

#[test]
fn rm_removes_rings_of_every_backend() {
    let name = unique("rm");
    let posix = Segment::posix(&name);
    let _c1 = Name(posix.clone());
    drop(RingOptions::new().capacity(4096).create(&posix).unwrap());
    let (end, out) = run(&["rm", &name]);
    assert_eq!(
        (end.code(), end.stderr.as_str(), out.as_str()),
        (Some(0), "", "")
    );
    assert!(!posix_path(&name).exists());
    let (end, _) = run(&["rm", &name]);
    assert_eq!(end.code(), Some(1));
    assert_eq!(
        end.stderr,
        format!("shmpipe: POSIX shared memory \"/{name}\" does not exist\n")
    );

    let path = posix_path(&unique("rm.ring"));
    let file = Segment::file(&path);
    let _c2 = Name(file.clone());
    drop(RingOptions::new().capacity(4096).create(&file).unwrap());
    let (end, _) = run(&["rm", path.to_str().unwrap()]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(!path.exists());

    let key = unique_key();
    let sysv = Segment::sysv_key(key);
    let _c3 = Name(sysv.clone());
    drop(RingOptions::new().capacity(4096).create(&sysv).unwrap());
    assert!(sysv_key_exists(key));
    let (end, _) = run(&["rm", &key.to_string(), "--backend", "sysv"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(!sysv_key_exists(key));
}

#[test]
fn rm_refuses_a_foreign_segment_unless_forced() {
    let name = unique("foreign");
    let _cleanup = Name(Segment::posix(&name));
    std::fs::write(posix_path(&name), vec![b'x'; 8192]).unwrap();
    let (end, _) = run(&["rm", &name]);
    assert_eq!(end.code(), Some(1), "{}", end.stderr);
    assert_eq!(end.lines().len(), 1);
    assert!(
        end.stderr.contains("not a shmpipe segment") && end.stderr.contains("--force"),
        "{}",
        end.stderr
    );
    assert!(posix_path(&name).exists());
    let (end, text) = run(&["stat", &name]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(text.contains("not a shmpipe segment"), "{text}");
    let (end, _) = run(&["write", &name]);
    assert_eq!(end.code(), Some(1), "{}", end.stderr);
    assert!(
        end.stderr.contains("not a shmpipe segment"),
        "{}",
        end.stderr
    );
    let (end, _) = run(&["rm", &name, "--force"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(!posix_path(&name).exists());
}

// ---------------------------------------------------------------------------------------------
// Arguments

#[test]
fn bad_arguments_exit_2_with_one_line() {
    let name = unique("args");
    let key_path = format!(
        "{}:1",
        std::env::temp_dir().join(unique("missing")).display()
    );
    let cases: Vec<Vec<&str>> = vec![
        vec!["write", &name, "--capacity", "100K"],
        vec!["write", &name, "--capacity", "abc"],
        vec!["write", &name, "--capacity", "1X"],
        vec!["write", &name, "--capacity", "8"],
        vec!["write", &name, "--capacity", "2T"],
        vec!["write", &name, "--bogus"],
        vec!["write"],
        vec!["write", ""],
        vec!["write", "a/b", "--backend", "posix"],
        vec!["write", &name, "--backend", "tcp"],
        vec!["write", "key", "--backend", "sysv"],
        vec!["write", "0", "--backend", "sysv"],
        vec!["write", &key_path, "--backend", "sysv"],
        vec!["read", &name, "--timeout", "soon"],
        vec!["read", &name, "--timeout", "-1"],
        vec!["stat"],
        vec!["stat", &name, "--jsn"],
        vec!["rm"],
        vec!["frobnicate"],
    ];
    for args in cases {
        let (end, out) = run(&args);
        assert_eq!(end.code(), Some(2), "{args:?}: {}", end.stderr);
        assert_eq!(end.lines().len(), 1, "{args:?}: {}", end.stderr);
        assert!(
            end.stderr.starts_with("shmpipe: "),
            "{args:?}: {}",
            end.stderr
        );
        assert_eq!(out, "", "{args:?}");
    }
    assert!(
        !posix_path(&name).exists(),
        "a bad command created the ring"
    );
}

#[test]
fn every_subcommand_has_help_with_examples() {
    for sub in [None, Some("write"), Some("read"), Some("stat"), Some("rm")] {
        let mut args: Vec<&str> = sub.into_iter().collect();
        args.push("--help");
        let (end, out) = run(&args);
        assert_eq!(end.code(), Some(0), "{args:?}: {}", end.stderr);
        assert!(out.contains("Usage: shmpipe"), "{args:?}: {out}");
        assert!(out.contains("Examples:"), "{args:?}: {out}");
    }
    let (end, _) = run(&[]);
    assert_eq!(end.code(), Some(2), "no subcommand is a usage error");
    assert!(end.stderr.contains("Usage: shmpipe"), "{}", end.stderr);
    assert_eq!(end.status.signal(), None);
}
