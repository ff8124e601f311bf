//! `shmpipe::tokio` under real tokio runtimes (current-thread and multi-thread): streams that
//! park both sides many times, end-of-stream, a peer process (sync or async, with and without
//! `futex_waitv`), kill -9 of the peer, cancelled receives and sends, 64 rings served by one
//! thread (64 tasks) and by one task (written by 8 other processes), and the `AsyncRead` /
//! `AsyncBufRead` / `AsyncWrite` byte stream. Every wait has a deadline.
#![cfg(not(loom))]

mod support;
use support::cpu::thread_cpu;
use support::peers::{self, reap, wait_ready};
use support::segments::{describe, parse, unique, Cleanup};

use std::time::{Duration, Instant};

use shmpipe::tokio::{AsyncReader, AsyncWriter};
use shmpipe::{RecvError, Ring, RingOptions, Segment, SendError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::time::timeout;

/// Every wait in these tests ends by this deadline.
const DEADLINE: Duration = Duration::from_secs(60);

/// Record `i`: 8 to 200 bytes, the sequence number then a pattern derived from it.
fn record(i: u64) -> Vec<u8> {
    let len = 8 + (i.wrapping_mul(7919) % 193) as usize;
    let mut buf = i.to_le_bytes().to_vec();
    buf.extend((8..len).map(|j| (i as u8).wrapping_mul(31).wrapping_add(j as u8)));
    buf
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap()
}

/// A writer task and a reader task through a 512-byte ring: both park on almost every
/// record (full and empty), all arrive in order, then end-of-stream.
async fn stream_through_small_ring(count: u64) {
    let (writer, reader) = shmpipe::channel(512).unwrap();
    let (mut writer, mut reader) = (AsyncWriter::new(writer), AsyncReader::new(reader));
    let sending = tokio::spawn(async move {
        for i in 0..count {
            writer.send(&record(i)).await.unwrap();
        }
    });
    let mut buf = [0u8; 256];
    for i in 0..count {
        let n = reader.recv(&mut buf).await.unwrap().unwrap();
        assert_eq!(&buf[..n], &record(i)[..], "record {i}");
    }
    assert_eq!(reader.recv(&mut buf).await.unwrap(), None);
    sending.await.unwrap();
}

#[test]
fn current_thread_stream_parks_both_sides() {
    current_thread().block_on(async {
        timeout(DEADLINE, stream_through_small_ring(20_000))
            .await
            .expect("deadline");
    });
}

#[test]
fn multi_thread_stream_parks_both_sides() {
    multi_thread().block_on(async {
        timeout(DEADLINE, stream_through_small_ring(100_000))
            .await
            .expect("deadline");
    });
}

/// A reader task waits on an empty ring; a sync writer thread sends after a pause. The task is
/// woken by the writer's ordinary wake path (no async writer involved).
#[test]
fn parked_reader_woken_by_sync_writer_thread() {
    multi_thread().block_on(async {
        let (mut writer, reader) = shmpipe::channel(4096).unwrap();
        let mut reader = AsyncReader::new(reader);
        let t = std::thread::spawn(move || {
            for i in 0..50u64 {
                std::thread::sleep(Duration::from_millis(2));
                writer.send(&record(i)).unwrap();
            }
        });
        for i in 0..50 {
            let got = timeout(DEADLINE, reader.recv_vec())
                .await
                .expect("deadline");
            assert_eq!(got.unwrap(), Some(record(i)));
        }
        assert_eq!(
            timeout(DEADLINE, reader.recv_vec()).await.unwrap().unwrap(),
            None
        );
        t.join().unwrap();
    });
}

/// Counts the wake-ups of a task polled by hand (a test's own counter: nothing for loom).
#[allow(clippy::disallowed_types)]
struct WakeCount(std::sync::atomic::AtomicUsize);

impl std::task::Wake for WakeCount {
    fn wake(self: std::sync::Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// On an empty ring a receive first yields (it wakes its own task, so the runtime's other
/// tasks run before it looks again) for as long as a sync wait spins, then parks; a publish
/// wakes the parked task, and the next empty ring starts a new run of yields. With the spin
/// off it parks at once.
#[test]
fn an_empty_ring_yields_then_parks() {
    use std::sync::atomic::Ordering::SeqCst;
    use std::sync::Arc;
    use std::task::{Context, Waker};
    let (mut writer, reader) = shmpipe::channel(4096).unwrap();
    let mut reader = AsyncReader::new(reader);
    let count = Arc::new(WakeCount(0.into()));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0u8; 8];
    let start = Instant::now();
    assert!(reader.poll_recv(&mut cx, &mut buf).is_pending());
    assert_eq!(count.0.load(SeqCst), 1, "the first empty look yields");
    let yields = loop {
        let before = count.0.load(SeqCst);
        assert!(reader.poll_recv(&mut cx, &mut buf).is_pending());
        if count.0.load(SeqCst) == before {
            break before; // parked: no wake-up of its own
        }
        assert!(start.elapsed() < DEADLINE, "never parked");
    };
    assert!(
        start.elapsed() >= Duration::from_micros(50),
        "parked after {:?}, before the 50 µs a sync wait spins",
        start.elapsed()
    );
    writer.send(b"x").unwrap();
    while count.0.load(SeqCst) == yields {
        assert!(start.elapsed() < DEADLINE, "the parked task was not woken");
        std::thread::sleep(Duration::from_micros(100));
    }
    assert!(matches!(
        reader.poll_recv(&mut cx, &mut buf),
        std::task::Poll::Ready(Ok(Some(1)))
    ));
    let woken = count.0.load(SeqCst);
    assert!(reader.poll_recv(&mut cx, &mut buf).is_pending());
    assert_eq!(count.0.load(SeqCst), woken + 1, "a new wait yields again");

    let (_writer, reader) = shmpipe::channel(4096).unwrap();
    let mut reader = AsyncReader::new(reader);
    reader.set_spin(Duration::ZERO);
    let count = Arc::new(WakeCount(0.into()));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    assert!(reader.poll_recv(&mut cx, &mut buf).is_pending());
    assert_eq!(
        count.0.load(SeqCst),
        0,
        "without a spin the task parks at once"
    );
}

/// A sync reader drains slowly; the async writer parks on the full ring, then the reader
/// closes: the send fails with `Closed` instead of waiting for ever.
#[test]
fn parked_writer_sees_reader_close() {
    current_thread().block_on(async {
        let (writer, mut reader) = shmpipe::channel(64).unwrap();
        let mut writer = AsyncWriter::new(writer);
        writer.send(&[1; 48]).await.unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let mut buf = [0u8; 64];
            assert_eq!(reader.recv(&mut buf).unwrap(), Some(48));
            std::thread::sleep(Duration::from_millis(20));
            drop(reader);
        });
        writer.send(&[2; 48]).await.unwrap(); // parks until the first is taken
        let err = timeout(DEADLINE, writer.send(&[3; 48]))
            .await
            .expect("deadline")
            .unwrap_err();
        assert!(matches!(err, SendError::Closed), "{err:?}");
        t.join().unwrap();
    });
}

/// Receives are cancelled over and over (a timer wins the `select!`) while records trickle
/// in: every record still arrives exactly once, in order.
#[test]
fn cancelled_receives_lose_nothing() {
    multi_thread().block_on(async {
        let (mut writer, reader) = shmpipe::channel(1024).unwrap();
        let mut reader = AsyncReader::new(reader);
        let count = 300u64;
        let t = std::thread::spawn(move || {
            for i in 0..count {
                // Gaps longer than tokio's 1 ms timer tick every 50 records, so a receive is
                // cancelled for sure (however fast or slow the build); short ones otherwise.
                if i % 50 == 0 {
                    std::thread::sleep(Duration::from_millis(5));
                } else if i % 3 == 0 {
                    std::thread::sleep(Duration::from_micros(300));
                }
                writer.send(&record(i)).unwrap();
            }
        });
        let start = Instant::now();
        let (mut next, mut cancelled) = (0u64, 0u32);
        let mut buf = [0u8; 256];
        loop {
            assert!(start.elapsed() < DEADLINE, "deadline");
            tokio::select! {
                got = reader.recv(&mut buf) => match got.unwrap() {
                    Some(n) => {
                        assert_eq!(&buf[..n], &record(next)[..], "record {next}");
                        next += 1;
                    }
                    None => break,
                },
                _ = tokio::time::sleep(Duration::from_micros(100)) => cancelled += 1,
            }
        }
        assert_eq!(next, count);
        assert!(
            cancelled > 0,
            "no receive was cancelled: the test proved nothing"
        );
        t.join().unwrap();
    });
}

/// A send parked on a full ring is cancelled: nothing of it reaches the reader, and the
/// writer goes on.
#[test]
fn cancelled_send_sends_nothing() {
    current_thread().block_on(async {
        let (writer, mut reader) = shmpipe::channel(64).unwrap();
        let mut writer = AsyncWriter::new(writer);
        writer.send(&[1; 48]).await.unwrap();
        assert!(timeout(Duration::from_millis(20), writer.send(&[2; 48]))
            .await
            .is_err());
        let mut buf = [0u8; 64];
        assert_eq!(reader.try_recv(&mut buf).unwrap(), Some(48));
        assert_eq!(&buf[..48], &[1; 48]);
        timeout(DEADLINE, writer.send(&[4; 8]))
            .await
            .expect("deadline")
            .unwrap();
        drop(writer);
        assert_eq!(reader.try_recv(&mut buf).unwrap(), Some(8));
        assert_eq!(&buf[..8], &[4; 8]);
        assert_eq!(reader.try_recv(&mut buf).unwrap(), None);
    });
}

/// One thread (a current-thread runtime) serves 64 rings, one task each, fed by 64 sync
/// writer threads at uneven paces; every record arrives, then end-of-stream on each.
#[test]
fn one_thread_serves_64_rings() {
    current_thread().block_on(async {
        let per_ring = 200u64;
        let mut tasks = Vec::new();
        let mut writers = Vec::new();
        for k in 0..64u64 {
            let (mut writer, reader) = shmpipe::channel(256).unwrap();
            writers.push(std::thread::spawn(move || {
                for i in 0..per_ring {
                    if (i + k) % 16 == 0 {
                        std::thread::sleep(Duration::from_micros(200 * (k % 4)));
                    }
                    writer.send(&(k * 1_000_000 + i).to_le_bytes()).unwrap();
                }
            }));
            let mut reader = AsyncReader::new(reader);
            tasks.push(tokio::spawn(async move {
                let mut buf = [0u8; 8];
                for i in 0..per_ring {
                    assert_eq!(reader.recv(&mut buf).await.unwrap(), Some(8));
                    assert_eq!(u64::from_le_bytes(buf), k * 1_000_000 + i);
                }
                assert_eq!(reader.recv(&mut buf).await.unwrap(), None);
            }));
        }
        for task in tasks {
            timeout(DEADLINE, task).await.expect("deadline").unwrap();
        }
        for w in writers {
            w.join().unwrap();
        }
    });
}

/// The byte stream: `write_all` + `shutdown` on one side, `read_to_end` on the other, and
/// `AsyncBufRead` lines.
#[test]
fn byte_stream_traits() {
    multi_thread().block_on(async {
        let (writer, reader) = shmpipe::channel(256).unwrap();
        let (mut writer, mut reader) = (AsyncWriter::new(writer), AsyncReader::new(reader));
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let sending = tokio::spawn(async move {
            writer.write_all(&data).await.unwrap();
            writer.shutdown().await.unwrap();
            assert!(writer.write_all(b"late").await.is_err());
        });
        let mut got = Vec::new();
        timeout(DEADLINE, reader.read_to_end(&mut got))
            .await
            .expect("deadline")
            .unwrap();
        assert_eq!(got, expected);
        sending.await.unwrap();

        let (writer, reader) = shmpipe::channel(128).unwrap();
        let (mut writer, reader) = (AsyncWriter::new(writer), AsyncReader::new(reader));
        tokio::spawn(async move {
            for i in 0..500 {
                writer
                    .write_all(format!("line {i}\n").as_bytes())
                    .await
                    .unwrap();
            }
        });
        let mut lines = reader.lines();
        for i in 0..500 {
            let line = timeout(DEADLINE, lines.next_line())
                .await
                .expect("deadline");
            assert_eq!(line.unwrap().as_deref(), Some(&*format!("line {i}")));
        }
        assert_eq!(lines.next_line().await.unwrap(), None);
    });
}

/// `into_inner` gives back a sync handle that still works (and whose wait is not left
/// announced: a sync recv after a cancelled async one).
#[test]
fn into_inner_after_a_cancelled_wait() {
    current_thread().block_on(async {
        let (mut writer, reader) = shmpipe::channel(256).unwrap();
        let mut reader = AsyncReader::new(reader);
        assert!(timeout(Duration::from_millis(10), reader.recv_vec())
            .await
            .is_err());
        let mut reader = reader.into_inner();
        writer.send(b"after").unwrap();
        let mut buf = [0u8; 8];
        assert_eq!(reader.recv_timeout(&mut buf, DEADLINE).unwrap(), Some(5));
    });
}

// --- across processes ------------------------------------------------------------------

/// The peer side of the cross-process tests (see `support/peers.rs`).
#[test]
fn peer_main() {
    peers::dispatch(&[
        ("write", write),
        ("write-then-hang", write_then_hang),
        ("read-then-hang", read_then_hang),
        ("async-read", async_read),
        ("many-rings-writer", many_rings_writer),
    ]);
}

/// Opens the ring a peer was given.
fn open(spec: &str) -> Ring {
    RingOptions::new()
        .timeout(Some(DEADLINE))
        .open(&parse(spec))
        .unwrap()
}

/// A sync writer on the ring a peer was given, after sending records 0 to `count` - 1.
fn write_records(args: &[&str]) -> shmpipe::Writer {
    let [spec, count] = args.try_into().unwrap();
    let mut w = open(spec).writer().unwrap();
    for i in 0..count.parse::<u64>().unwrap() {
        w.send(&record(i)).unwrap();
    }
    w
}

/// Peer: a sync writer, `count` records, then close.
fn write(args: &[&str]) {
    drop(write_records(args));
}

/// Peer: a sync writer, `count` records, says so, then hangs until killed.
fn write_then_hang(args: &[&str]) {
    let _w = write_records(args);
    peers::ready();
    std::thread::sleep(DEADLINE);
}

/// Peer: a sync reader, attaches, says so, then hangs without reading until killed.
fn read_then_hang(args: &[&str]) {
    let [spec] = args.try_into().unwrap();
    let _r = open(spec).reader().unwrap();
    peers::ready();
    std::thread::sleep(DEADLINE);
}

/// Peer: an async reader on a current-thread runtime, `count` records, then end-of-stream.
fn async_read(args: &[&str]) {
    let [spec, count] = args.try_into().unwrap();
    let reader = open(spec).reader().unwrap();
    current_thread().block_on(receive_records(reader, count.parse().unwrap()));
}

/// Receives records 0 to `count` - 1 in order, each within the deadline, then end-of-stream.
async fn receive_records(reader: shmpipe::Reader, count: u64) {
    let mut reader = AsyncReader::new(reader);
    let mut buf = [0u8; 256];
    for i in 0..count {
        let n = timeout(DEADLINE, reader.recv(&mut buf))
            .await
            .expect("deadline")
            .unwrap()
            .unwrap();
        assert_eq!(&buf[..n], &record(i)[..], "record {i}");
    }
    assert_eq!(reader.recv(&mut buf).await.unwrap(), None);
}

/// An async reader in this process, a sync writer in another, through a small POSIX ring.
#[test]
fn async_reader_with_writer_process() {
    let segment = Segment::posix(unique("shmpipe-async"));
    let _cleanup = Cleanup(segment.clone());
    let ring = Ring::create(&segment, 2048).unwrap();
    let reader = ring.reader().unwrap();
    let count = 20_000u64;
    let mut child = peers::spawn("write", &[&describe(&segment), &count.to_string()]);
    multi_thread().block_on(receive_records(reader, count));
    assert!(reap(&mut child, DEADLINE).success());
}

/// An async writer here, an async reader in another process: once with `futex_waitv`, once
/// with the polling fallback forced in the reader's process (as on kernels before 5.16).
#[test]
fn async_writer_to_async_reader_process_with_and_without_futex_waitv() {
    for fallback in ["0", "1"] {
        let segment = Segment::posix(unique("shmpipe-async"));
        let _cleanup = Cleanup(segment.clone());
        let ring = Ring::create(&segment, 1024).unwrap();
        let writer = ring.writer().unwrap();
        let count = 5_000u64;
        let mut child = peers::command("async-read", &[&describe(&segment), &count.to_string()])
            .env("SHMPIPE_NO_FUTEX_WAITV", fallback)
            .spawn()
            .expect("spawn peer");
        current_thread().block_on(async {
            let mut writer = AsyncWriter::new(writer);
            for i in 0..count {
                timeout(DEADLINE, writer.send(&record(i)))
                    .await
                    .expect("deadline")
                    .unwrap();
            }
        });
        assert!(reap(&mut child, DEADLINE).success(), "fallback={fallback}");
    }
}

/// A POSIX ring whose writer is another process that sent records `0..n` and hangs (to be
/// killed): the cleanup, our reader, and the writer's process.
fn hanging_writer(n: usize) -> (Cleanup, shmpipe::Reader, std::process::Child) {
    let segment = Segment::posix(unique("shmpipe-async"));
    let cleanup = Cleanup(segment.clone());
    let ring = Ring::create(&segment, 4096).unwrap();
    let reader = ring.reader().unwrap();
    let mut child = peers::spawn("write-then-hang", &[&describe(&segment), &n.to_string()]);
    wait_ready(&mut child);
    (cleanup, reader, child)
}

/// `got` is the death of the process `pid`.
fn assert_died<T: std::fmt::Debug>(got: Result<T, RecvError>, pid: u32) {
    match got {
        Err(RecvError::PeerDied { pid: p }) => assert_eq!(p, pid),
        other => panic!("expected PeerDied, got {other:?}"),
    }
}

/// The writer's process is killed (-9) while the async reader waits: the reader receives what
/// it published, then `PeerDied` with its pid, within the liveness bound.
#[test]
fn parked_reader_sees_writer_process_die() {
    let (_cleanup, reader, mut child) = hanging_writer(5);
    let pid = child.id();
    multi_thread().block_on(async {
        let mut reader = AsyncReader::new(reader);
        for i in 0..5 {
            assert_eq!(reader.recv_vec().await.unwrap(), Some(record(i)));
        }
        let waiting = tokio::spawn(async move {
            let started = Instant::now();
            let got = reader.recv_vec().await;
            (got, started.elapsed())
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        child.kill().unwrap();
        let (got, _) = timeout(DEADLINE, waiting).await.expect("deadline").unwrap();
        assert_died(got, pid);
    });
    reap(&mut child, DEADLINE);
}

/// A future that counts how often it is polled: each poll of a parked task is a wake-up.
struct CountPolls<F> {
    inner: std::pin::Pin<Box<F>>,
    polls: std::sync::Arc<std::sync::Mutex<u64>>,
}

impl<F: std::future::Future> std::future::Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        *self.polls.lock().unwrap() += 1;
        self.inner.as_mut().poll(cx)
    }
}

/// A task parked long enough to watch its peer's process (a second here) hears the writer's
/// death within a few milliseconds of the kill, not at its next liveness slice, and while
/// it waits it is woken at most a few times (it stays parked up to a second between looks at
/// its peer, where without the watch it would be woken every 50 ms) and its runtime's thread
/// (this one: a current-thread runtime) uses almost no CPU. (The waiter thread is the
/// process's, shared with the tests running beside this one: not measured here;
/// `examples/idle_cpu.rs` measures the whole process.)
#[test]
fn long_parked_reader_hears_a_death_at_once_and_idles_cheaply() {
    let (_cleanup, reader, mut child) = hanging_writer(1);
    let pid = child.id();
    current_thread().block_on(async {
        let mut reader = AsyncReader::new(reader);
        assert_eq!(reader.recv_vec().await.unwrap(), Some(record(0)));
        let polls = std::sync::Arc::new(std::sync::Mutex::new(0u64));
        let waiting = tokio::spawn(CountPolls {
            inner: Box::pin(async move { reader.recv_vec().await }),
            polls: polls.clone(),
        });
        // Long enough for the wait to arm its watch (after one 50 ms slice).
        tokio::time::sleep(Duration::from_millis(300)).await;
        let polled = || *polls.lock().unwrap();
        let (woke, cpu, wall) = (polled(), thread_cpu(), Instant::now());
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let (woke, cpu, wall) = (polled() - woke, thread_cpu() - cpu, wall.elapsed());
        eprintln!("idle parked reader: woken {woke} times, its thread {cpu:?} of CPU in {wall:?}");
        // What the test holds the task to is how often it was woken: once a second (a look
        // at its peer), where looking every 50 ms it would be woken 30 times. The thread's
        // CPU time is only held to a loose bound (0.5 %: a task woken every millisecond costs
        // more): measured tight (0.05 %) it made this test fail in a fresh-clone CI run on
        // 2026-12-03 at 0.079 %, on a busy virtual machine that charges interrupts to whatever
        // thread they land on (the `WaitSet` test had the same failures: tests/waitset.rs).
        // The 0.05 % target is measured in a release build by `examples/idle_cpu.rs`.
        assert!(
            woke <= 4,
            "an idle parked reader was woken {woke} times in {wall:?} ({cpu:?} of CPU)"
        );
        assert!(
            cpu.as_secs_f64() / wall.as_secs_f64() < 0.005,
            "an idle parked reader used {cpu:?} of CPU in {wall:?} (woken {woke} times)"
        );
        let killed = Instant::now();
        child.kill().unwrap();
        let got = timeout(DEADLINE, waiting).await.expect("deadline").unwrap();
        let heard = killed.elapsed();
        assert_died(got, pid);
        assert!(
            heard < Duration::from_millis(40),
            "the death was heard after {heard:?}"
        );
    });
    reap(&mut child, DEADLINE);
}

/// The writer's process is killed (-9) while the async reader waits in short timeouts
/// (`tokio::time::timeout` of 10 ms around each `recv`, the future dropped each time, as a task
/// that checks a flag between waits does): its death is still reported, within 100 ms.
#[test]
fn reader_in_short_timeouts_sees_writer_process_die() {
    let (_cleanup, reader, child) = hanging_writer(1);
    let pid = child.id();
    let killed = current_thread().block_on(async {
        let mut reader = AsyncReader::new(reader);
        assert_eq!(reader.recv_vec().await.unwrap(), Some(record(0)));
        let killer = peers::kill_after(child, Duration::from_millis(300));
        let give_up = Instant::now() + Duration::from_secs(5);
        let got = loop {
            match timeout(Duration::from_millis(10), reader.recv_vec()).await {
                Err(_elapsed) if Instant::now() < give_up => continue,
                Err(_elapsed) => panic!("no PeerDied within 5 s"),
                Ok(got) => break got,
            }
        };
        let heard = Instant::now();
        let killed = killer.join().unwrap();
        assert_died(got, pid);
        heard.saturating_duration_since(killed)
    });
    assert!(
        killed < Duration::from_millis(100),
        "death seen {killed:?} after the kill"
    );
}

/// The reader's process is killed (-9) while the async writer is parked on the full ring: the
/// send fails with `PeerDied` and the reader's pid.
#[test]
fn parked_writer_sees_reader_process_die() {
    let segment = Segment::posix(unique("shmpipe-async"));
    let _cleanup = Cleanup(segment.clone());
    let ring = Ring::create(&segment, 256).unwrap();
    let writer = ring.writer().unwrap();
    let mut child = peers::spawn("read-then-hang", &[&describe(&segment)]);
    wait_ready(&mut child);
    let pid = child.id();
    current_thread().block_on(async {
        let mut writer = AsyncWriter::new(writer);
        writer.send(&[1; 200]).await.unwrap(); // 208 of 256 bytes: the next one waits
        let killer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            child.kill().unwrap();
            child
        });
        let got = timeout(DEADLINE, writer.send(&[2; 200]))
            .await
            .expect("deadline");
        match got {
            Err(SendError::PeerDied { pid: p }) => assert_eq!(p, pid),
            other => panic!("expected PeerDied, got {other:?}"),
        }
        reap(&mut killer.join().unwrap(), DEADLINE);
    });
}

// --- one task, 64 rings, 8 writer processes ---------------------------------------------

/// The writer processes of `one_task_serves_64_rings_of_8_processes`: its arguments are
/// the records per ring, then the POSIX names of this process's rings.
fn many_rings_writer(args: &[&str]) {
    let mut words = args.iter().copied();
    let per_ring: u64 = words.next().unwrap().parse().unwrap();
    let mut writers: Vec<shmpipe::Writer> = words
        .map(|name| {
            RingOptions::new()
                .timeout(Some(DEADLINE))
                .open(&Segment::posix(name))
                .unwrap()
                .writer()
                .unwrap()
        })
        .collect();
    for i in 0..per_ring {
        for (k, w) in writers.iter_mut().enumerate() {
            // Uneven paces: now one ring, now another runs dry.
            if (i + k as u64) % 50 == 0 {
                std::thread::sleep(Duration::from_micros(100 * (k as u64 % 3)));
            }
            w.send(&record(i)).unwrap();
        }
    }
    drop(writers); // end-of-stream on every ring
}

/// One task (the only future of a current-thread runtime, polling every reader with the same
/// waker) serves 64 rings written by 8 other processes, 8 rings each, through small rings
/// (writers and the task wait often; half the readers park at once, half spin first). Every
/// record arrives in order on its ring, then end-of-stream on each; the process has one
/// waiter thread, whatever the number of rings.
#[test]
fn one_task_serves_64_rings_of_8_processes() {
    const RINGS: usize = 64;
    const PROCESSES: usize = 8;
    let per_ring = 300u64;
    let segments: Vec<Segment> = (0..RINGS)
        .map(|_| Segment::posix(unique("shmpipe-async-many")))
        .collect();
    let _cleanup: Vec<Cleanup> = segments.iter().cloned().map(Cleanup).collect();
    let mut readers: Vec<AsyncReader> = segments
        .iter()
        .enumerate()
        .map(|(k, segment)| {
            let ring = Ring::create(segment, 1024).unwrap();
            let mut reader = AsyncReader::new(ring.reader().unwrap());
            if k % 2 == 0 {
                reader.set_spin(Duration::ZERO);
            }
            reader
        })
        .collect();
    let mut children: Vec<std::process::Child> = segments
        .chunks(RINGS / PROCESSES)
        .map(|chunk| {
            let mut words = vec![per_ring.to_string()];
            words.extend(chunk.iter().map(|s| match s {
                Segment::Posix(name) => name.clone(),
                _ => unreachable!(),
            }));
            let words: Vec<&str> = words.iter().map(String::as_str).collect();
            let mut command = peers::command("many-rings-writer", &words);
            command.stdout(std::process::Stdio::null());
            command.spawn().expect("spawn writer process")
        })
        .collect();
    let mut next = [0u64; RINGS];
    let mut ended = [false; RINGS];
    let mut buf = [0u8; 256];
    current_thread().block_on(async {
        let one_task = std::future::poll_fn(|cx| loop {
            let mut progress = false;
            for k in 0..RINGS {
                if ended[k] {
                    continue;
                }
                match readers[k].poll_recv(cx, &mut buf) {
                    std::task::Poll::Ready(Ok(Some(n))) => {
                        assert_eq!(&buf[..n], &record(next[k])[..], "ring {k}");
                        next[k] += 1;
                        progress = true;
                    }
                    std::task::Poll::Ready(Ok(None)) => {
                        assert_eq!(next[k], per_ring, "ring {k} ended early");
                        ended[k] = true;
                        progress = true;
                    }
                    std::task::Poll::Ready(Err(e)) => panic!("ring {k}: {e}"),
                    std::task::Poll::Pending => {}
                }
            }
            if ended.iter().all(|&e| e) {
                return std::task::Poll::Ready(());
            }
            if !progress {
                // Every reader not at its end registered this task's waker.
                return std::task::Poll::Pending;
            }
        });
        timeout(DEADLINE, one_task).await.expect("deadline");
    });
    for child in &mut children {
        assert!(reap(child, DEADLINE).success());
    }
    // No thread per ring: one waiter thread serves every parked handle of the process.
    let waiters = std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter(|t| {
            let comm = std::fs::read_to_string(t.as_ref().unwrap().path().join("comm"));
            comm.is_ok_and(|c| c.trim() == "shmpipe-waiter")
        })
        .count();
    assert_eq!(waiters, 1, "waiter threads");
}
