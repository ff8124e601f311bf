//! Handles across `fork` behave like a pipe's file descriptors, and a process is alive while
//! any of its threads holds a handle (issue 9): the pipe(2) idiom, the daemon pattern, a main
//! thread that exits, and `kill -9` of the last holder, each with real processes.
//!
//! Every scenario runs in a peer process (this test binary started again, single-threaded),
//! because `fork` in the multi-threaded test harness could copy a lock held by another test's
//! thread. The peer reports through its exit status; the test reaps it with a deadline.
#![cfg(not(loom))]

use std::time::{Duration, Instant};

use shmpipe::{RecvError, Ring, RingOptions, Segment};

mod support;
use support::peers::{self, child_exit, reap, wait_child};
use support::segments::{parse, unique};

const DEADLINE: Duration = Duration::from_secs(60);
/// Messages per scenario: enough that both processes are busy at once through a small ring.
const COUNT: u64 = 20_000;

/// Message `i`: its sequence number and a length that varies.
fn message(i: u64, buf: &mut Vec<u8>) -> &[u8] {
    buf.clear();
    buf.extend_from_slice(&i.to_le_bytes());
    buf.resize(8 + (i % 40) as usize, i as u8);
    buf
}

/// Receives `count` messages in order, then end-of-stream; panics on anything else.
fn receive_all(reader: &mut shmpipe::Reader, count: u64) {
    let mut buf = vec![0u8; 64];
    let mut expected = Vec::new();
    for i in 0..count {
        match reader.recv(&mut buf) {
            Ok(Some(n)) => assert_eq!(&buf[..n], message(i, &mut expected), "message {i}"),
            other => panic!("message {i} of {count}: {other:?}"),
        }
    }
    match reader.recv(&mut buf) {
        Ok(None) => {}
        other => panic!("after {count} messages: {other:?} instead of end-of-stream"),
    }
}

/// Sends `count` messages; `pace` between each thousand.
fn send_all(writer: &mut shmpipe::Writer, count: u64, pace: Duration) {
    let mut buf = Vec::new();
    for i in 0..count {
        writer.send(message(i, &mut buf)).unwrap();
        if i % 1000 == 999 {
            std::thread::sleep(pace);
        }
    }
}

/// `fork`, from the single-threaded peer: the child's pid, or 0 in the child.
fn fork() -> libc::pid_t {
    // SAFETY: the peer is single-threaded, so the child inherits no lock held by another
    // thread; each child below ends in `child_exit` and never returns into the harness.
    unsafe { peers::fork() }
}

/// The peer's scenarios (see `support/peers.rs`); a test that does nothing otherwise.
#[test]
fn peer_main() {
    peers::dispatch(&[
        ("pipe-idiom", pipe_idiom),
        ("daemon", daemon),
        ("main-thread-exits", main_thread_exits),
        ("writer-then-sleep", writer_then_sleep),
        ("handed-to-child", handed_to_child),
        ("writer-twice", writer_twice),
        ("reader-forks", reader_forks),
        ("reader-counts-pidfds", reader_counts_pidfds),
    ]);
}

/// A ring of 4096 bytes created on `spec`, and its writer.
fn create_writer(spec: &str) -> (Ring, shmpipe::Writer) {
    let ring = RingOptions::new()
        .capacity(4096)
        .create(&parse(spec))
        .unwrap();
    let writer = ring.writer().unwrap();
    (ring, writer)
}

/// Creates the ring and its writer, sends one message, says so, then sleeps (to be killed).
fn writer_then_sleep(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let (_ring, mut writer) = create_writer(spec);
    writer.send(b"before the end").unwrap();
    peers::ready();
    std::thread::sleep(DEADLINE);
}

/// Creates the ring and its writer (the holder word names this process), `fork`s, says the
/// child's pid and that it is ready, and exits after 600 ms; the child keeps the writer and
/// sleeps (to be killed). A reader asleep on the ring hears this process exit (its watch
/// fires) while the role lives on in the child, which no watch sees.
fn handed_to_child(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let (ring, writer) = create_writer(spec);
    let child = fork();
    if child == 0 {
        child_exit(move || {
            std::thread::sleep(DEADLINE);
            drop(writer);
            drop(ring);
        });
    }
    peers::say(&format!("child {child}"));
    peers::ready();
    std::thread::sleep(Duration::from_millis(600));
    // SAFETY: ends this process; the child holds its own copies of the handles.
    unsafe { libc::_exit(0) };
}

/// Creates the ring and its writer, says so, sends "first" after 300 ms and "second" 900 ms
/// later, then sleeps (to be killed).
fn writer_twice(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let (_ring, mut writer) = create_writer(spec);
    peers::ready();
    std::thread::sleep(Duration::from_millis(300));
    writer.send(b"first").unwrap();
    std::thread::sleep(Duration::from_millis(900));
    writer.send(b"second").unwrap();
    std::thread::sleep(DEADLINE);
}

/// Opens the reader and waits for "first" (long enough to arm a watch on the writer's
/// process), then `fork`s: the child, with the inherited reader, receives "second" and then
/// the writer's death (`PeerDied`); the parent exits with the child's status.
fn reader_forks(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let (ring, mut reader) = open_reader(spec);
    let mut buf = [0u8; 64];
    assert_eq!(reader.recv(&mut buf).unwrap(), Some(5));
    let child = fork();
    if child == 0 {
        child_exit(move || {
            assert_eq!(reader.recv(&mut buf).unwrap(), Some(6));
            assert_eq!(&buf[..6], b"second");
            match reader.recv(&mut buf) {
                Err(RecvError::PeerDied { .. }) => {}
                other => panic!("{other:?}"),
            }
            drop(ring);
        });
    }
    // SAFETY: ends this process with the child's status, without running destructors (the
    // child holds its own copies of the handles).
    unsafe { libc::_exit(wait_child(child, DEADLINE)) };
}

/// The pidfds this process has open (`/proc/self/fd` links to `anon_inode:[pidfd]`).
fn open_pidfds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|entry| std::fs::read_link(entry.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().contains("pidfd"))
        .count()
}

/// Opens the reader, receives the first message, then waits 300 ms for another (long enough
/// for the wait to watch the writer's process) and checks that the wait let its watch go.
fn reader_counts_pidfds(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let (_ring, mut reader) = open_reader(spec);
    let mut buf = [0u8; 64];
    assert_eq!(reader.recv(&mut buf).unwrap(), Some(14));
    let before = open_pidfds();
    assert!(matches!(
        reader.recv_timeout(&mut buf, Duration::from_millis(300)),
        Err(RecvError::Timeout)
    ));
    assert_eq!(open_pidfds(), before, "a watch outlived its wait");
}

/// The pipe(2) idiom: attach writer and reader, `fork`; the child drops the writer and reads,
/// the parent drops the reader and writes. Every message arrives, then end-of-stream.
fn pipe_idiom(args: &[&str]) {
    let [backend] = args.try_into().unwrap();
    let name = unique("shmpipe-fork-pipe");
    let ring = match backend {
        "anonymous" => RingOptions::new()
            .capacity(4096)
            .create_anonymous()
            .unwrap(),
        "posix" => RingOptions::new()
            .capacity(4096)
            .create(&Segment::posix(name.as_str()))
            .unwrap(),
        other => panic!("backend {other}"),
    };
    let mut writer = ring.writer().unwrap();
    let mut reader = ring.reader().unwrap();
    let child = fork();
    if child == 0 {
        child_exit(move || {
            drop(writer);
            receive_all(&mut reader, COUNT);
        });
    }
    drop(reader);
    send_all(&mut writer, COUNT, Duration::ZERO);
    writer.close_and_wait(Some(DEADLINE)).unwrap();
    drop(ring);
    assert_eq!(wait_child(child, DEADLINE), 0, "the child (reader) failed");
}

/// The daemon pattern: create the ring and its writer, `fork`, the parent exits at once, the
/// child writes (paced, so the reader waits on it) and closes.
fn daemon(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let (ring, mut writer) = create_writer(spec);
    if fork() == 0 {
        child_exit(move || {
            std::thread::sleep(Duration::from_millis(100));
            send_all(&mut writer, COUNT, Duration::from_millis(10));
            writer.close_and_wait(Some(DEADLINE)).unwrap();
            drop(ring);
        });
    }
    // The parent exits at once, without running destructors (as a daemonising parent does).
    // SAFETY: ends this process; the child holds its own copies of the handles.
    unsafe { libc::_exit(0) };
}

/// A writer held by a second thread while the main thread exits (the leader becomes a
/// zombie; the process lives on).
fn main_thread_exits(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let (ring, mut writer) = create_writer(spec);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        send_all(&mut writer, COUNT, Duration::from_millis(10));
        writer.close_and_wait(Some(DEADLINE)).unwrap();
        drop(ring);
        // SAFETY: ends the whole process from its last thread.
        unsafe { libc::_exit(0) };
    });
    // SAFETY: exits only the main thread (the raw system call, not `exit(3)`), which is what
    // a program that returns from `main` through `pthread_exit` does; the writer's thread
    // runs on and ends the process.
    unsafe { libc::syscall(libc::SYS_exit, 0) };
}

/// Opens `spec` as the reader, waiting for it to appear.
fn open_reader(spec: &str) -> (Ring, shmpipe::Reader) {
    let ring = RingOptions::new()
        .wait_for_creation(true)
        .timeout(Some(DEADLINE))
        .open(&parse(spec))
        .unwrap();
    let reader = ring.reader().unwrap();
    (ring, reader)
}

#[test]
fn pipe_idiom_over_an_anonymous_ring_delivers_everything() {
    let mut peer = peers::spawn("pipe-idiom", &["anonymous"]);
    assert!(reap(&mut peer, DEADLINE).success());
}

#[test]
fn pipe_idiom_over_a_posix_ring_delivers_everything() {
    let mut peer = peers::spawn("pipe-idiom", &["posix"]);
    assert!(reap(&mut peer, DEADLINE).success());
}

#[test]
fn daemon_pattern_delivers_everything_after_the_parent_exits() {
    let spec = format!("posix:{}", unique("shmpipe-fork-daemon"));
    let mut peer = peers::spawn("daemon", &[&spec]);
    let (_ring, mut reader) = open_reader(&spec);
    // The first process exits at once; its forked child keeps the writer role.
    assert!(reap(&mut peer, DEADLINE).success());
    receive_all(&mut reader, COUNT);
}

#[test]
fn a_writer_whose_main_thread_exited_is_alive() {
    let spec = format!("posix:{}", unique("shmpipe-fork-thread"));
    let mut peer = peers::spawn("main-thread-exits", &[&spec]);
    let (_ring, mut reader) = open_reader(&spec);
    receive_all(&mut reader, COUNT);
    assert!(reap(&mut peer, DEADLINE).success());
}

/// `kill -9` of the only holder is still a death, seen within 100 ms of waiting, after the
/// message it committed.
#[test]
fn kill_9_of_the_last_holder_is_seen_within_100_ms() {
    let (mut peer, _ring, mut reader) = reader_of_a_silent_writer("shmpipe-fork-kill");
    let mut buf = [0u8; 64];
    peer.kill().unwrap();
    peer.wait().unwrap();
    let start = Instant::now();
    match reader.recv(&mut buf) {
        Err(RecvError::PeerDied { pid }) => assert_eq!(pid, peer.id()),
        other => panic!("{other:?}"),
    }
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "death seen after {:?}",
        start.elapsed()
    );
}

/// A writer in a peer process that sends one 14-byte message and then nothing (until it is
/// killed), and a reader here that has received that message.
fn reader_of_a_silent_writer(tag: &str) -> (std::process::Child, Ring, shmpipe::Reader) {
    let spec = format!("posix:{}", unique(tag));
    let mut peer = peers::spawn("writer-then-sleep", &[&spec]);
    peers::wait_ready(&mut peer);
    let (ring, mut reader) = open_reader(&spec);
    assert_eq!(reader.recv(&mut [0u8; 64]).unwrap(), Some(14));
    (peer, ring, reader)
}

/// `result` is the writer's death (naming `pid`, if given), heard at `heard`, less than 100 ms
/// after `killer` killed it.
fn assert_death_heard(
    result: Result<Option<usize>, RecvError>,
    pid: Option<u32>,
    heard: Instant,
    killer: std::thread::JoinHandle<Instant>,
) {
    let killed = killer.join().unwrap();
    match result {
        Err(RecvError::PeerDied { pid: died }) => {
            assert!(
                pid.is_none_or(|pid| pid == died),
                "{died} died, not {pid:?}"
            )
        }
        other => panic!("{other:?}"),
    }
    let after = heard.saturating_duration_since(killed);
    assert!(
        heard > killed && after < Duration::from_millis(100),
        "death seen {after:?} after the kill"
    );
}

/// A reader asleep longer than a liveness slice (so its wait watches the writer's process)
/// hears a `kill -9` as soon as a short waiter would: within 100 ms.
#[test]
fn kill_9_after_a_long_idle_wait_is_seen_within_100_ms() {
    let (peer, _ring, mut reader) = reader_of_a_silent_writer("shmpipe-fork-idle-kill");
    let mut buf = [0u8; 64];
    let pid = peer.id();
    let killer = peers::kill_after(peer, Duration::from_millis(1500));
    let result = reader.recv(&mut buf);
    assert_death_heard(result, Some(pid), Instant::now(), killer);
}

/// The process the writer's holder word names exits while a reader waits on it, but a
/// `fork`ed copy of the writer lives on: the reader goes on waiting, and hears the copy's
/// `kill -9` within 100 ms, in the same wait.
#[test]
fn a_writer_handed_to_a_child_outlives_the_watched_process() {
    use std::io::BufRead;
    let spec = format!("posix:{}", unique("shmpipe-fork-handed"));
    let mut peer = peers::spawn("handed-to-child", &[&spec]);
    let out = std::io::BufReader::new(peer.stdout.take().unwrap());
    let mut child = None;
    for line in out.lines() {
        let line = line.unwrap();
        if let Some(pid) = line.strip_prefix("child ") {
            child = Some(pid.parse::<libc::pid_t>().unwrap());
        }
        if line == "ready" {
            break;
        }
    }
    let child = child.expect("the peer said its child's pid");
    let (_ring, mut reader) = open_reader(&spec);
    // The first process exits 600 ms in, while the reader waits; its child is killed 1.2 s in.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1200));
        // Taken before the kill: the death may be heard before this thread runs again.
        let killed = Instant::now();
        // SAFETY: kill(2) with a pid and a signal number.
        assert_eq!(unsafe { libc::kill(child, libc::SIGKILL) }, 0);
        killed
    });
    let mut buf = [0u8; 64];
    let result = reader.recv(&mut buf);
    let heard = Instant::now();
    assert!(reap(&mut peer, DEADLINE).success());
    assert_death_heard(result, None, heard, killer);
}

/// A reader that waits in short slices (`recv_timeout` of 10 ms in a loop, as a program that
/// checks a flag between waits does) still hears a `kill -9` within 100 ms: a wait shorter
/// than the liveness slice looks at the peer before it reports `Timeout`, when its last look
/// is a slice old.
#[test]
fn kill_9_is_seen_by_a_reader_waiting_in_short_timeouts() {
    let (peer, _ring, mut reader) = reader_of_a_silent_writer("shmpipe-fork-short-waits");
    let mut buf = [0u8; 64];
    let pid = peer.id();
    let killer = peers::kill_after(peer, Duration::from_millis(300));
    let give_up = Instant::now() + Duration::from_secs(5);
    let result = loop {
        match reader.recv_timeout(&mut buf, Duration::from_millis(10)) {
            Err(RecvError::Timeout) if Instant::now() < give_up => continue,
            other => break other,
        }
    };
    assert_death_heard(result, Some(pid), Instant::now(), killer);
}

/// A reader whose wait armed a watch on its writer's process (starting the process's watcher
/// thread), `fork`ed: the child, whose copy of the watcher has no thread, starts its own, arms
/// its own watch, receives what the writer sends next, and hears the writer's `kill -9`
/// within 100 ms (a child that reused the parent's watcher heard it 650 ms late).
#[test]
fn a_reader_forked_after_a_long_wait_hears_its_writer_die() {
    let spec = format!("posix:{}", unique("shmpipe-fork-reader-forks"));
    let mut writer = peers::spawn("writer-twice", &[&spec]);
    peers::wait_ready(&mut writer);
    let start = Instant::now();
    let mut reader = peers::spawn("reader-forks", &[&spec]);
    // "second" is sent 1.2 s after the writer was ready; kill the writer 400 ms after that.
    std::thread::sleep(Duration::from_millis(1600).saturating_sub(start.elapsed()));
    let killed = Instant::now();
    writer.kill().unwrap();
    writer.wait().unwrap();
    assert!(
        reap(&mut reader, DEADLINE).success(),
        "the forked reader failed"
    );
    let after = killed.elapsed();
    assert!(
        after < Duration::from_millis(150),
        "the reader ended {after:?} after the kill"
    );
}

/// A wait that watched its writer's process lets the watch (a pidfd) go when it ends.
#[test]
fn a_long_wait_lets_its_watch_go() {
    let spec = format!("posix:{}", unique("shmpipe-fork-pidfds"));
    let mut writer = peers::spawn("writer-then-sleep", &[&spec]);
    peers::wait_ready(&mut writer);
    let mut reader = peers::spawn("reader-counts-pidfds", &[&spec]);
    let status = reap(&mut reader, DEADLINE);
    writer.kill().unwrap();
    writer.wait().unwrap();
    assert!(status.success(), "the reader's check failed");
}
