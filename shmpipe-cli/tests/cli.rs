//! The `shmpipe` command, run as the real binary: streams through every named backend,
//! either side first, kill -9 and Ctrl-C of each side, stale and corrupted rings, `stat`,
//! `rm`, and bad arguments. Every wait has a deadline; every process and name a test makes
//! is killed or removed even when the test fails.
#![cfg(not(loom))]

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{ChildStdin, ChildStdout, Stdio};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use shmpipe::{RingOptions, Segment};

mod support;

use support::{
    assert_exit_0, assert_streamed, collect, feed, poke, posix_path, posix_ring, run, sysv_id,
    unique, unique_key, wait_for_header, wait_for_writer, Collected, Name, Proc, DEADLINE,
};

// ---------------------------------------------------------------------------------------------
// Helpers

/// Feeds an endless stream to stdin until the process stops reading.
fn feed_forever(mut stdin: ChildStdin) -> JoinHandle<()> {
    thread::spawn(move || {
        let chunk = vec![b'y'; 64 * 1024];
        while stdin.write_all(&chunk).is_ok() {}
    })
}

/// `shmpipe write NAME` into `shmpipe read NAME` through a fresh POSIX ring, under way.
struct Pipeline {
    name: String,
    writer: Proc,
    reader: Proc,
    /// What the reader printed.
    out: Collected,
    _cleanup: Name,
}

/// Starts a [`Pipeline`]: `feed` gets the writer's stdin (what it returns is handed back);
/// returns once the reader has printed `arrived` bytes.
fn pipeline<T>(tag: &str, feed: impl FnOnce(ChildStdin) -> T, arrived: usize) -> (Pipeline, T) {
    let (name, _, _cleanup) = posix_ring(tag);
    let mut writer = Proc::write(&[&name]);
    let fed = feed(writer.stdin());
    let mut reader = Proc::read(&[&name]);
    let out = collect(reader.stdout());
    out.wait_for(arrived);
    let pipeline = Pipeline {
        name,
        writer,
        reader,
        out,
        _cleanup,
    };
    (pipeline, fed)
}

/// For [`pipeline`]: writes `data` to the writer's stdin and keeps it open.
fn write_and_keep_open(data: &[u8]) -> impl FnOnce(ChildStdin) -> ChildStdin + '_ {
    move |mut stdin| {
        stdin.write_all(data).unwrap();
        stdin
    }
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
    let (name, _, _cleanup) = posix_ring("256m");
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
    assert!(
        sysv_id(key).is_none(),
        "System V key {name} was left behind"
    );
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
    let (name, _, _cleanup) = posix_ring("empty");
    round_trip(&name, &[], &[], 0);
    assert!(!posix_path(&name).exists());
}

#[test]
fn write_of_empty_input_waits_for_a_reader_like_a_fifo() {
    let (name, _, _cleanup) = posix_ring("empty-first");
    let mut writer = Proc::spawn(&["write", &name], Stdio::null(), Stdio::null());
    thread::sleep(Duration::from_millis(300));
    assert!(
        writer.running(),
        "write must wait for a reader to see end-of-stream"
    );
    let (r, out) = run(&["read", &name]);
    let w = writer.wait();
    assert_exit_0(&[&r, &w]);
    assert_eq!(out, "");
    assert!(!posix_path(&name).exists());
}

// ---------------------------------------------------------------------------------------------
// Either side first

#[test]
fn read_started_before_write_waits_for_the_ring() {
    let (name, _, _cleanup) = posix_ring("read-first");
    let mut reader = Proc::read(&[&name]);
    let out = collect(reader.stdout());
    thread::sleep(Duration::from_millis(300));
    assert!(reader.running(), "read must wait for the ring to appear");
    let mut writer = Proc::write(&[&name]);
    let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let feeder = feed(writer.stdin(), data.clone());
    assert_streamed(&mut writer, &mut reader, feeder, out, &data);
    assert!(!posix_path(&name).exists());
}

#[test]
fn write_blocks_on_a_full_ring_until_a_reader_comes() {
    let (name, _, _cleanup) = posix_ring("write-first");
    let mut writer = Proc::write(&[&name, "--capacity", "64K"]);
    let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
    let feeder = feed(writer.stdin(), data.clone());
    thread::sleep(Duration::from_millis(300));
    assert!(writer.running(), "write must wait for a reader");
    let mut reader = Proc::read(&[&name]);
    let out = collect(reader.stdout());
    assert_streamed(&mut writer, &mut reader, feeder, out, &data);
}

// ---------------------------------------------------------------------------------------------
// A side dies or is interrupted

#[test]
fn killing_the_writer_delivers_what_it_wrote_then_names_it() {
    let data = vec![b'w'; 100_000];
    let (mut p, stdin) = pipeline("kill-writer", write_and_keep_open(&data), data.len());
    p.writer.child.kill().unwrap(); // SIGKILL, stdin still open
    let r = p.reader.wait();
    assert_eq!(r.code(), Some(1), "{}", r.stderr);
    assert_eq!(r.lines().len(), 1, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("pid {}", p.writer.pid())) && r.stderr.contains("100000 bytes"),
        "{}",
        r.stderr
    );
    assert!(p.out.finish() == data);
    drop(stdin);
}

#[test]
fn killing_the_reader_makes_the_writer_fail_naming_it() {
    let (mut p, feeder) = pipeline("kill-reader", feed_forever, 1 << 20);
    p.reader.child.kill().unwrap();
    let w = p.writer.wait();
    assert_eq!(w.code(), Some(1), "{}", w.stderr);
    assert_eq!(w.lines().len(), 1, "{}", w.stderr);
    assert!(
        w.stderr.contains(&format!("pid {}", p.reader.pid())) && w.stderr.contains("died"),
        "{}",
        w.stderr
    );
    feeder.join().unwrap();
    assert!(!posix_path(&p.name).exists());
}

#[test]
fn ctrl_c_on_the_writer_gives_the_reader_end_of_stream() {
    let data = vec![b'i'; 50_000];
    let (mut p, stdin) = pipeline("int-writer", write_and_keep_open(&data), data.len());
    p.writer.signal(libc::SIGINT); // blocked in read(2) on its stdin
    let w = p.writer.wait();
    assert_eq!(w.code(), Some(130), "{}", w.stderr);
    let r = p.reader.wait();
    assert_eq!(r.code(), Some(0), "{}", r.stderr);
    assert!(p.out.finish() == data);
    drop(stdin);
}

#[test]
fn ctrl_c_on_the_reader_makes_the_writer_fail() {
    let (mut p, feeder) = pipeline("int-reader", feed_forever, 1 << 20);
    p.reader.signal(libc::SIGINT);
    let r = p.reader.wait();
    assert_eq!(r.code(), Some(130), "{}", r.stderr);
    let w = p.writer.wait();
    assert_eq!(w.code(), Some(1), "{}", w.stderr);
    assert!(w.stderr.contains("closed"), "{}", w.stderr);
    feeder.join().unwrap();
}

#[test]
fn sigterm_on_a_writer_nobody_read_removes_the_name() {
    let (name, _, _cleanup) = posix_ring("term-unread");
    let mut writer = Proc::write(&[&name]);
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
    let (name, _, _cleanup) = posix_ring("int-drain");
    let mut writer = Proc::write(&[&name]);
    feed(writer.stdin(), b"all of the input".to_vec())
        .join()
        .unwrap();
    wait_for_header(&Segment::posix(&name), "a closed writer", |h| {
        h.writer.state == shmpipe::RoleState::Closed
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
    let (name, _, _cleanup) = posix_ring("head");
    let mut writer = Proc::write(&[&name]);
    let feeder = feed_forever(writer.stdin());
    let mut reader = Proc::read(&[&name]);
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
    let (name, _, _cleanup) = posix_ring("second");
    let mut first = Proc::write(&[&name]);
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
    let (name, segment, _cleanup) = posix_ring("stale");
    let mut old = Proc::write(&[&name]);
    let mut stdin = old.stdin();
    stdin.write_all(b"stale data").unwrap();
    wait_for_writer(&segment, old.pid());
    old.child.kill().unwrap();
    old.child.wait().unwrap();
    assert!(posix_path(&name).exists());

    let mut writer = Proc::write(&[&name]);
    let feeder = feed(writer.stdin(), b"fresh data".to_vec());
    wait_for_writer(&segment, writer.pid());
    let (r, out) = run(&["read", &name]);
    let w = writer.wait();
    feeder.join().unwrap();
    assert_exit_0(&[&r, &w]);
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
    let (name, segment, _cleanup) = posix_ring("stat");
    let mut writer = Proc::write(&[&name, "--capacity", "64K"]);
    let mut stdin = writer.stdin();
    stdin.write_all(&[7; 1000]).unwrap();
    wait_for_header(&segment, "1000 bytes in the ring", |h| {
        h.writer.position >= 1000
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
        "layout        version 4".to_owned(),
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
    let (name, segment, _cleanup) = posix_ring("stat-idle");
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

#[test]
fn a_corrupted_header_is_reported_by_stat_and_refused_by_read() {
    let (name, segment, _cleanup) = posix_ring("corrupt");
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
    assert!(sysv_id(key).is_some());
    let (end, _) = run(&["rm", &key.to_string(), "--backend", "sysv"]);
    assert_eq!(end.code(), Some(0), "{}", end.stderr);
    assert!(sysv_id(key).is_none());
}

#[test]
fn rm_refuses_a_foreign_segment_unless_forced() {
    let (name, _, _cleanup) = posix_ring("foreign");
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
