//! Async rings (`shmpipe::tokio`) against `tokio::net::UnixStream` and a tokio pipe, and
//! against the sync ring: throughput (one-way stream of messages) and round trip (ping-pong),
//! between two threads and between two processes.
//!
//! Between threads, each side runs on its own OS thread with its own current-thread tokio
//! runtime (the sync ring: a plain thread), so every wake-up crosses threads. Between processes
//! (`proc-`), this process runs one side (tokio current-thread runtime, or plain sync code for
//! `proc-sync-`) and a child process started from this binary runs the other side in plain
//! sync code, the same for every transport: a sync ring writer (or reader), or a blocking
//! `std::os::unix::net::UnixStream` echo. The echo side of the ring sleeps in the kernel
//! (`set_spin(0)`), as the socket echo does, so the round trip measures two kernel wake-ups:
//! the child's (plain futex vs socket) and this process's (the async ring's waiter thread vs
//! tokio's reactor).
//!
//! The transports take turns within each round (A, B, C, ... then again), every round is
//! printed, then the median and the worst round, because the machine is shared and noisy.
//! Round trips give each round's p50 and p99 (over that round's ping-pongs).
//!
//! `cargo bench -p shmpipe-bench --bench async -- [ROUNDS] [threads|proc] [tp|rt]`
//! (default 5 rounds, every group). Under `cargo test` (no `--bench` argument) it runs one
//! tiny round as a smoke test. `-- per-call sync|try|async [ROUNDS]` runs the per-message
//! loop of [`per_call`] alone (for callgrind).

use std::time::{Duration, Instant};

use shmpipe::tokio::{AsyncReader, AsyncWriter};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .unwrap()
}

/// Runs `a` and `b` on two threads, each in its own runtime; returns the time from both
/// being ready to both finishing.
fn two_sides<A, B, FA, FB>(a: A, b: B) -> Duration
where
    A: FnOnce() -> FA + Send + 'static,
    B: FnOnce() -> FB + Send + 'static,
    FA: std::future::Future<Output = ()>,
    FB: std::future::Future<Output = ()>,
{
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(3));
    let (ba, bb) = (barrier.clone(), barrier.clone());
    let ta = std::thread::spawn(move || {
        let rt = runtime();
        let fut = a();
        ba.wait();
        rt.block_on(fut);
    });
    let tb = std::thread::spawn(move || {
        let rt = runtime();
        let fut = b();
        bb.wait();
        rt.block_on(fut);
    });
    barrier.wait();
    let start = Instant::now();
    ta.join().unwrap();
    tb.join().unwrap();
    start.elapsed()
}

const RING: u64 = 1 << 20;

/// Streams `n` messages of `size` bytes one way; returns messages per second.
fn throughput(transport: &str, size: usize, n: usize) -> f64 {
    let elapsed = match transport {
        "async-ring" => {
            let (w, r) = shmpipe::channel(RING).unwrap();
            two_sides(
                move || async move {
                    let mut w = AsyncWriter::new(w);
                    let msg = vec![7u8; size];
                    for _ in 0..n {
                        w.send(&msg).await.unwrap();
                    }
                },
                move || async move {
                    let mut r = AsyncReader::new(r);
                    let mut buf = vec![0u8; size];
                    for _ in 0..n {
                        r.recv(&mut buf).await.unwrap().unwrap();
                    }
                },
            )
        }
        "sync-ring" => {
            let (mut w, mut r) = shmpipe::channel(RING).unwrap();
            let start = Instant::now();
            let t = std::thread::spawn(move || {
                let msg = vec![7u8; size];
                for _ in 0..n {
                    w.send(&msg).unwrap();
                }
            });
            let mut buf = vec![0u8; size];
            for _ in 0..n {
                r.recv(&mut buf).unwrap().unwrap();
            }
            t.join().unwrap();
            start.elapsed()
        }
        "unix-stream" => {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            b.set_nonblocking(true).unwrap();
            two_sides(
                move || async move {
                    let mut a = tokio::net::UnixStream::from_std(a).unwrap();
                    let msg = vec![7u8; size];
                    for _ in 0..n {
                        a.write_all(&msg).await.unwrap();
                    }
                },
                move || async move {
                    let mut b = tokio::net::UnixStream::from_std(b).unwrap();
                    let mut buf = vec![0u8; size];
                    for _ in 0..n {
                        b.read_exact(&mut buf).await.unwrap();
                    }
                },
            )
        }
        "tokio-pipe" => {
            let (tx, rx) = pipe_fds();
            two_sides(
                move || async move {
                    let mut tx = tokio::net::unix::pipe::Sender::from_owned_fd(tx).unwrap();
                    let msg = vec![7u8; size];
                    for _ in 0..n {
                        tx.write_all(&msg).await.unwrap();
                    }
                },
                move || async move {
                    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(rx).unwrap();
                    let mut buf = vec![0u8; size];
                    for _ in 0..n {
                        rx.read_exact(&mut buf).await.unwrap();
                    }
                },
            )
        }
        other => panic!("unknown transport {other}"),
    };
    n as f64 / elapsed.as_secs_f64()
}

/// A pipe's two ends (made outside any runtime, registered by the side that uses each).
fn pipe_fds() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    assert_eq!(rc, 0);
    // SAFETY: two fresh descriptors owned by nobody else.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
        )
    }
}

/// `n` round trips of an 8-byte message; returns the p50 and p99 round trip.
fn round_trip(transport: &str, n: usize) -> (Duration, Duration) {
    let times = std::sync::Arc::new(std::sync::Mutex::new(Vec::with_capacity(n)));
    let record = times.clone();
    match transport {
        "async-ring" | "async-ring-nospin" => {
            // Without the spin every wait parks: the wake-up goes through the waiter thread.
            let spin = if transport == "async-ring" {
                None
            } else {
                Some(Duration::ZERO)
            };
            let (w1, r1) = shmpipe::channel(4096).unwrap();
            let (w2, r2) = shmpipe::channel(4096).unwrap();
            two_sides(
                move || async move {
                    let (mut w, mut r) = (AsyncWriter::new(w1), AsyncReader::new(r2));
                    if let Some(spin) = spin {
                        w.set_spin(spin);
                        r.set_spin(spin);
                    }
                    let mut buf = [0u8; 8];
                    let mut local = Vec::with_capacity(n);
                    for _ in 0..n {
                        let t = Instant::now();
                        w.send(&[1; 8]).await.unwrap();
                        r.recv(&mut buf).await.unwrap().unwrap();
                        local.push(t.elapsed());
                    }
                    *record.lock().unwrap() = local;
                },
                move || async move {
                    let (mut w, mut r) = (AsyncWriter::new(w2), AsyncReader::new(r1));
                    if let Some(spin) = spin {
                        w.set_spin(spin);
                        r.set_spin(spin);
                    }
                    let mut buf = [0u8; 8];
                    for _ in 0..n {
                        r.recv(&mut buf).await.unwrap().unwrap();
                        w.send(&buf).await.unwrap();
                    }
                },
            );
        }
        "sync-ring" | "sync-ring-nospin" => {
            let spin = transport == "sync-ring";
            let (mut w1, mut r1) = shmpipe::channel(4096).unwrap();
            let (mut w2, mut r2) = shmpipe::channel(4096).unwrap();
            if !spin {
                for s in [&mut r1 as &mut dyn SetSpin, &mut r2, &mut w1, &mut w2] {
                    s.no_spin();
                }
            }
            let t = std::thread::spawn(move || {
                let mut buf = [0u8; 8];
                for _ in 0..n {
                    r1.recv(&mut buf).unwrap().unwrap();
                    w2.send(&buf).unwrap();
                }
            });
            let mut buf = [0u8; 8];
            let mut local = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                w1.send(&[1; 8]).unwrap();
                r2.recv(&mut buf).unwrap().unwrap();
                local.push(t.elapsed());
            }
            t.join().unwrap();
            *record.lock().unwrap() = local;
        }
        "unix-stream" => {
            let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
            a.set_nonblocking(true).unwrap();
            b.set_nonblocking(true).unwrap();
            two_sides(
                move || async move {
                    let mut a = tokio::net::UnixStream::from_std(a).unwrap();
                    let mut buf = [0u8; 8];
                    let mut local = Vec::with_capacity(n);
                    for _ in 0..n {
                        let t = Instant::now();
                        a.write_all(&[1; 8]).await.unwrap();
                        a.read_exact(&mut buf).await.unwrap();
                        local.push(t.elapsed());
                    }
                    *record.lock().unwrap() = local;
                },
                move || async move {
                    let mut b = tokio::net::UnixStream::from_std(b).unwrap();
                    let mut buf = [0u8; 8];
                    for _ in 0..n {
                        b.read_exact(&mut buf).await.unwrap();
                        b.write_all(&buf).await.unwrap();
                    }
                },
            );
        }
        "tokio-pipe" => {
            let (tx1, rx1) = pipe_fds();
            let (tx2, rx2) = pipe_fds();
            two_sides(
                move || async move {
                    let mut tx = tokio::net::unix::pipe::Sender::from_owned_fd(tx1).unwrap();
                    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(rx2).unwrap();
                    let mut buf = [0u8; 8];
                    let mut local = Vec::with_capacity(n);
                    for _ in 0..n {
                        let t = Instant::now();
                        tx.write_all(&[1; 8]).await.unwrap();
                        rx.read_exact(&mut buf).await.unwrap();
                        local.push(t.elapsed());
                    }
                    *record.lock().unwrap() = local;
                },
                move || async move {
                    let mut tx = tokio::net::unix::pipe::Sender::from_owned_fd(tx2).unwrap();
                    let mut rx = tokio::net::unix::pipe::Receiver::from_owned_fd(rx1).unwrap();
                    let mut buf = [0u8; 8];
                    for _ in 0..n {
                        rx.read_exact(&mut buf).await.unwrap();
                        tx.write_all(&buf).await.unwrap();
                    }
                },
            );
        }
        other => panic!("unknown transport {other}"),
    }
    let mut v = std::mem::take(&mut *times.lock().unwrap());
    v.sort();
    (v[v.len() / 2], v[v.len() * 99 / 100])
}

/// The sync ring without its spin phase (every wait sleeps in the kernel, as an async wait
/// does).
trait SetSpin {
    fn no_spin(&mut self);
}
impl SetSpin for shmpipe::Reader {
    fn no_spin(&mut self) {
        self.set_spin(Duration::ZERO);
    }
}
impl SetSpin for shmpipe::Writer {
    fn no_spin(&mut self) {
        self.set_spin(Duration::ZERO);
    }
}

fn median_and_worst<T: PartialOrd + Copy>(mut v: Vec<T>, worst_is_max: bool) -> (T, T) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let worst = if worst_is_max { v[v.len() - 1] } else { v[0] };
    (v[v.len() / 2], worst)
}

// --- between processes ------------------------------------------------------------------

/// The environment variable that makes this binary the child side of a `proc-` transport.
const PEER_VAR: &str = "SHMPIPE_ASYNC_BENCH_PEER";

/// A unique POSIX segment name for one ring of one round.
fn segment() -> shmpipe::Segment {
    // Only makes names unique (the atomics ban in clippy.toml is for ring code).
    #[allow(clippy::disallowed_types)]
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    shmpipe::Segment::posix(format!(
        "shmpipe-abench-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ))
}

fn segment_name(segment: &shmpipe::Segment) -> String {
    match segment {
        shmpipe::Segment::Posix(name) => name.clone(),
        other => panic!("not a POSIX segment: {other:?}"),
    }
}

/// Starts this binary as the child side: `task` words in [`PEER_VAR`].
fn spawn_peer(task: &[String]) -> std::process::Child {
    std::process::Command::new(std::env::current_exe().unwrap())
        .env(PEER_VAR, task.join(" "))
        .stdin(std::process::Stdio::null())
        .spawn()
        .expect("spawn the child side")
}

/// Waits until the child has attached (the name goes once both sides have), so its start-up
/// is not timed.
fn wait_attached(segment: &shmpipe::Segment) {
    let path = format!("/dev/shm/{}", segment_name(segment));
    while std::path::Path::new(&path).exists() {
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn wait_child(mut child: std::process::Child) {
    assert!(child.wait().unwrap().success(), "the child side failed");
}

/// The child side of a `proc-` transport (plain sync code), by its words.
fn peer_main(task: &str) {
    let words: Vec<&str> = task.split(' ').collect();
    let open = |name: &str| {
        shmpipe::RingOptions::new()
            .wait_for_creation(true)
            .timeout(Some(Duration::from_secs(60)))
            .open(&shmpipe::Segment::posix(name))
            .unwrap()
    };
    match words[..] {
        // Sync writer: one start record, then `n` records of `size` bytes, then close.
        ["write", name, size, n] => {
            let mut w = open(name).writer().unwrap();
            let msg = vec![7u8; size.parse().unwrap()];
            w.send(b"start").unwrap();
            for _ in 0..n.parse::<usize>().unwrap() {
                w.send(&msg).unwrap();
            }
            w.close_and_wait(Some(Duration::from_secs(60))).unwrap();
        }
        // Sync reader: everything until end-of-stream.
        ["read", name] => {
            let mut r = open(name).reader().unwrap();
            let mut buf = vec![0u8; r.max_message()];
            while r.recv(&mut buf).unwrap().is_some() {}
        }
        // Ring echo, sleeping in the kernel (no spin) like the socket echo.
        ["echo-ring", ping, pong] => {
            let mut r = open(ping).reader().unwrap();
            let mut w = open(pong).writer().unwrap();
            r.set_spin(Duration::ZERO);
            w.set_spin(Duration::ZERO);
            let mut buf = [0u8; 64];
            while let Some(n) = r.recv(&mut buf).unwrap() {
                w.send(&buf[..n]).unwrap();
            }
        }
        // Blocking socket echo on the inherited descriptor `fd`, 8 bytes at a time.
        ["echo-socket", fd] => {
            use std::io::{Read, Write};
            use std::os::fd::FromRawFd;
            // SAFETY: the parent left this descriptor open for us (FD_CLOEXEC cleared) and
            // nothing else in this process uses it.
            let mut s = unsafe { std::os::unix::net::UnixStream::from_raw_fd(fd.parse().unwrap()) };
            let mut buf = [0u8; 8];
            while s.read_exact(&mut buf).is_ok() {
                s.write_all(&buf).unwrap();
            }
        }
        _ => panic!("unknown child task {task}"),
    }
}

/// Receives `n` messages of `size` bytes in this process from a sync writer process; returns
/// messages per second (timed from the writer's start record to the last message).
fn proc_throughput(transport: &str, size: usize, n: usize) -> f64 {
    let segment = segment();
    let ring = shmpipe::Ring::create(&segment, RING).unwrap();
    let name = segment_name(&segment);
    let elapsed = match transport {
        "proc-async-recv" => {
            let reader = ring.reader().unwrap();
            let child = spawn_peer(&["write".into(), name, size.to_string(), n.to_string()]);
            let elapsed = runtime().block_on(async move {
                let mut r = AsyncReader::new(reader);
                let mut buf = vec![0u8; size.max(8)];
                r.recv(&mut buf).await.unwrap().unwrap();
                let start = Instant::now();
                for _ in 0..n {
                    r.recv(&mut buf).await.unwrap().unwrap();
                }
                let elapsed = start.elapsed();
                assert_eq!(r.recv(&mut buf).await.unwrap(), None);
                elapsed
            });
            wait_child(child);
            elapsed
        }
        "proc-sync-recv" => {
            let mut r = ring.reader().unwrap();
            let child = spawn_peer(&["write".into(), name, size.to_string(), n.to_string()]);
            let mut buf = vec![0u8; size.max(8)];
            r.recv(&mut buf).unwrap().unwrap();
            let start = Instant::now();
            for _ in 0..n {
                r.recv(&mut buf).unwrap().unwrap();
            }
            let elapsed = start.elapsed();
            assert_eq!(r.recv(&mut buf).unwrap(), None);
            wait_child(child);
            elapsed
        }
        // Sends: timed from the first send to the reader having taken the last record.
        "proc-async-send" => {
            let writer = ring.writer().unwrap();
            let child = spawn_peer(&["read".into(), name]);
            wait_attached(&segment);
            let elapsed = runtime().block_on(async move {
                let mut w = AsyncWriter::new(writer);
                let msg = vec![7u8; size];
                let start = Instant::now();
                for _ in 0..n {
                    w.send(&msg).await.unwrap();
                }
                let w = w.into_inner().unwrap();
                w.close_and_wait(Some(Duration::from_secs(60))).unwrap();
                start.elapsed()
            });
            wait_child(child);
            elapsed
        }
        "proc-sync-send" => {
            let mut w = ring.writer().unwrap();
            let child = spawn_peer(&["read".into(), name]);
            wait_attached(&segment);
            let msg = vec![7u8; size];
            let start = Instant::now();
            for _ in 0..n {
                w.send(&msg).unwrap();
            }
            w.close_and_wait(Some(Duration::from_secs(60))).unwrap();
            let elapsed = start.elapsed();
            wait_child(child);
            elapsed
        }
        other => panic!("unknown transport {other}"),
    };
    let _ = shmpipe::remove(&segment);
    n as f64 / elapsed.as_secs_f64()
}

/// `n` round trips of 8 bytes between this process (tokio) and a sync echo process; returns
/// the p50 and p99 of the round trips.
fn proc_round_trip(transport: &str, n: usize) -> (Duration, Duration) {
    let mut times = Vec::with_capacity(n);
    match transport {
        "proc-async-ring" | "proc-async-ring-parked" => {
            let (s1, s2) = (segment(), segment());
            let ping = shmpipe::Ring::create(&s1, 4096).unwrap();
            let pong = shmpipe::Ring::create(&s2, 4096).unwrap();
            let (writer, reader) = (ping.writer().unwrap(), pong.reader().unwrap());
            let child = spawn_peer(&["echo-ring".into(), segment_name(&s1), segment_name(&s2)]);
            let parked = transport == "proc-async-ring-parked";
            runtime().block_on(async {
                let (mut w, mut r) = (AsyncWriter::new(writer), AsyncReader::new(reader));
                if parked {
                    // Every wait parks: the wake-up goes through the waiter thread.
                    w.set_spin(Duration::ZERO);
                    r.set_spin(Duration::ZERO);
                }
                let mut buf = [0u8; 8];
                // One untimed trip: the child has attached and the waiter thread runs.
                w.send(&[1; 8]).await.unwrap();
                r.recv(&mut buf).await.unwrap().unwrap();
                for _ in 0..n {
                    let t = Instant::now();
                    w.send(&[1; 8]).await.unwrap();
                    r.recv(&mut buf).await.unwrap().unwrap();
                    times.push(t.elapsed());
                }
            });
            wait_child(child);
            let _ = shmpipe::remove(&s1);
            let _ = shmpipe::remove(&s2);
        }
        "proc-unix-stream" => {
            use std::os::fd::AsRawFd;
            let (ours, theirs) = std::os::unix::net::UnixStream::pair().unwrap();
            // Let the child inherit its end (Rust opens descriptors close-on-exec).
            // SAFETY: F_SETFD on a descriptor we own.
            let rc = unsafe { libc::fcntl(theirs.as_raw_fd(), libc::F_SETFD, 0) };
            assert_eq!(rc, 0);
            let child = spawn_peer(&["echo-socket".into(), theirs.as_raw_fd().to_string()]);
            drop(theirs);
            ours.set_nonblocking(true).unwrap();
            runtime().block_on(async {
                let mut s = tokio::net::UnixStream::from_std(ours).unwrap();
                let mut buf = [0u8; 8];
                s.write_all(&[1; 8]).await.unwrap();
                s.read_exact(&mut buf).await.unwrap();
                for _ in 0..n {
                    let t = Instant::now();
                    s.write_all(&[1; 8]).await.unwrap();
                    s.read_exact(&mut buf).await.unwrap();
                    times.push(t.elapsed());
                }
            });
            wait_child(child);
        }
        other => panic!("unknown transport {other}"),
    }
    times.sort();
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

fn fmt_rate(v: f64) -> String {
    format!("{:.2}M", v / 1e6)
}

fn fmt_us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

/// The per-message cost without any waiting, for `valgrind --tool=callgrind`: one thread,
/// `rounds` times 1000 sends of 64 bytes into a 1 MiB ring, then 1000 receives; `mode` is
/// `sync` (`send`/`recv`), `try` (`try_send`/`try_recv`) or `async` (`send(..).await`/
/// `recv(..).await` on a current-thread runtime). Two runs with different `rounds` give the
/// instructions per send + receive pair by difference. Each mode is a function of its own, so
/// the compiler inlines for it as for a program that uses only that API.
fn per_call(mode: &str, rounds: usize) {
    let (w, r) = shmpipe::channel(RING).unwrap();
    // Sizes the compiler cannot see, as in a program that sends what it is given.
    let msg = vec![7u8; std::hint::black_box(64)];
    let mut buf = vec![0u8; std::hint::black_box(64)];
    let start = Instant::now();
    match mode {
        "sync" => per_call_sync(w, r, &msg, &mut buf, rounds),
        "try" => per_call_try(w, r, &msg, &mut buf, rounds),
        "async" => per_call_async(w, r, &msg, &mut buf, rounds),
        other => panic!("unknown per-call mode {other}"),
    }
    println!(
        "{mode}: {:.1} ns per send + receive",
        start.elapsed().as_nanos() as f64 / (rounds * PER_ROUND) as f64
    );
}

const PER_ROUND: usize = 1000;

#[inline(never)]
fn per_call_sync(
    mut w: shmpipe::Writer,
    mut r: shmpipe::Reader,
    msg: &[u8],
    buf: &mut [u8],
    rounds: usize,
) {
    for _ in 0..rounds {
        for _ in 0..PER_ROUND {
            w.send(msg).unwrap();
        }
        for _ in 0..PER_ROUND {
            r.recv(buf).unwrap().unwrap();
        }
    }
}

#[inline(never)]
fn per_call_try(
    mut w: shmpipe::Writer,
    mut r: shmpipe::Reader,
    msg: &[u8],
    buf: &mut [u8],
    rounds: usize,
) {
    for _ in 0..rounds {
        for _ in 0..PER_ROUND {
            w.try_send(msg).unwrap();
        }
        for _ in 0..PER_ROUND {
            r.try_recv(buf).unwrap().unwrap();
        }
    }
}

#[inline(never)]
fn per_call_async(
    w: shmpipe::Writer,
    r: shmpipe::Reader,
    msg: &[u8],
    buf: &mut [u8],
    rounds: usize,
) {
    let (mut w, mut r) = (AsyncWriter::new(w), AsyncReader::new(r));
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(async {
            for _ in 0..rounds {
                for _ in 0..PER_ROUND {
                    w.send(msg).await.unwrap();
                }
                for _ in 0..PER_ROUND {
                    r.recv(buf).await.unwrap().unwrap();
                }
            }
        });
}

fn main() {
    if let Ok(task) = std::env::var(PEER_VAR) {
        peer_main(&task);
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "per-call") {
        let rounds = args.get(i + 2).map_or(1000, |r| r.parse().unwrap());
        per_call(&args[i + 1], rounds);
        return;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let rounds: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if bench { 5 } else { 1 });
    let wants = |group: &str, others: &[&str]| {
        args.iter().any(|a| a == group) || !args.iter().any(|a| others.contains(&a.as_str()))
    };
    let (threads, procs) = (
        wants("threads", &["threads", "proc"]),
        wants("proc", &["threads", "proc"]),
    );
    let (tp, rt) = (wants("tp", &["tp", "rt"]), wants("rt", &["tp", "rt"]));
    let (msgs, trips) = if bench {
        (2_000_000, 20_000)
    } else {
        (1_000, 100)
    };
    println!(
        "async bench: {rounds} alternating rounds, {msgs} messages per throughput round, {trips} round trips per round trip round; kernel {}, {} CPUs",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    if tp {
        let mut transports: Vec<&str> = Vec::new();
        if threads {
            transports.extend(["async-ring", "sync-ring", "unix-stream", "tokio-pipe"]);
        }
        if procs {
            transports.extend([
                "proc-async-recv",
                "proc-sync-recv",
                "proc-async-send",
                "proc-sync-send",
            ]);
        }
        for size in [64usize, 4096] {
            let mut results: Vec<Vec<f64>> = vec![Vec::new(); transports.len()];
            for _ in 0..rounds {
                for (i, t) in transports.iter().enumerate() {
                    // The byte streams are 20-50 times slower: a tenth of the messages.
                    let n = if t.starts_with("unix") || t.starts_with("tokio") {
                        msgs / 10
                    } else {
                        msgs
                    };
                    results[i].push(if t.starts_with("proc-") {
                        proc_throughput(t, size, n)
                    } else {
                        throughput(t, size, n)
                    });
                }
            }
            for (i, t) in transports.iter().enumerate() {
                let (median, worst) = median_and_worst(results[i].clone(), false);
                let every: Vec<String> = results[i].iter().map(|v| fmt_rate(*v)).collect();
                println!(
                    "throughput {size:>5} B {t:<18} median {:>8} msg/s  worst {:>8}  rounds {}",
                    fmt_rate(median),
                    fmt_rate(worst),
                    every.join(" ")
                );
            }
        }
    }
    if rt {
        let mut transports: Vec<&str> = Vec::new();
        if threads {
            transports.extend([
                "async-ring",
                "async-ring-nospin",
                "sync-ring",
                "sync-ring-nospin",
                "unix-stream",
                "tokio-pipe",
            ]);
        }
        if procs {
            transports.extend([
                "proc-async-ring",
                "proc-async-ring-parked",
                "proc-unix-stream",
            ]);
        }
        let mut results: Vec<Vec<(Duration, Duration)>> = vec![Vec::new(); transports.len()];
        for _ in 0..rounds {
            for (i, t) in transports.iter().enumerate() {
                results[i].push(if t.starts_with("proc-") {
                    proc_round_trip(t, trips)
                } else {
                    round_trip(t, trips)
                });
            }
        }
        for (i, t) in transports.iter().enumerate() {
            let p50s: Vec<Duration> = results[i].iter().map(|r| r.0).collect();
            let p99s: Vec<Duration> = results[i].iter().map(|r| r.1).collect();
            let (m50, w50) = median_and_worst(p50s.clone(), true);
            let (m99, w99) = median_and_worst(p99s.clone(), true);
            let every: Vec<String> = results[i]
                .iter()
                .map(|(a, b)| format!("{}/{}", fmt_us(*a), fmt_us(*b)))
                .collect();
            println!(
                "round trip 8 B {t:<22} p50 median {:>6} us worst {:>6}  p99 median {:>6} us worst {:>6}  rounds (p50/p99) {}",
                fmt_us(m50),
                fmt_us(w50),
                fmt_us(m99),
                fmt_us(w99),
                every.join(" ")
            );
        }
    }
}
