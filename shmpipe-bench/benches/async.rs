//! Async rings (`shmpipe::tokio`) against `tokio::net::UnixStream` and a tokio pipe, and
//! against the sync ring: throughput (one-way stream of messages) and round trip (ping-pong).
//!
//! Each side runs on its own OS thread with its own current-thread tokio runtime (the sync
//! ring: a plain thread), so every wake-up crosses threads as it would across processes. The
//! transports are measured in alternating rounds (A, B, C, ... then again), and the median and
//! the worst round are printed, because the machine is shared and noisy.
//!
//! `cargo bench -p shmpipe-bench --bench async` (add `-- ROUNDS` to change the default 5).
//! Under `cargo test` (no `--bench` argument) it runs one tiny round as a smoke test.

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
        "async-ring" | "async-ring-spin50" => {
            // `-spin50`: the sync ring's 50 µs spin instead of the async default (10 µs).
            let spin = (transport == "async-ring-spin50").then_some(Duration::from_micros(50));
            let (w, r) = shmpipe::channel(RING).unwrap();
            two_sides(
                move || async move {
                    let mut w = AsyncWriter::new(w);
                    if let Some(spin) = spin {
                        w.set_spin(spin);
                    }
                    let msg = vec![7u8; size];
                    for _ in 0..n {
                        w.send(&msg).await.unwrap();
                    }
                },
                move || async move {
                    let mut r = AsyncReader::new(r);
                    if let Some(spin) = spin {
                        r.set_spin(spin);
                    }
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

/// `n` round trips of an 8-byte message; returns the median round trip.
fn round_trip(transport: &str, n: usize) -> Duration {
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
    v[v.len() / 2]
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let rounds: usize = args
        .iter()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(if bench { 5 } else { 1 });
    let (msgs, trips) = if bench {
        (200_000, 20_000)
    } else {
        (1_000, 100)
    };
    let transports = [
        "async-ring",
        "async-ring-spin50",
        "sync-ring",
        "unix-stream",
        "tokio-pipe",
    ];
    let sizes = [64usize, 4096];
    println!(
        "async bench: {rounds} alternating rounds, {msgs} messages per throughput round, {trips} round trips per round trip round; futex_waitv: see the kernel ({})",
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
    );
    for size in sizes {
        let mut results: Vec<Vec<f64>> = vec![Vec::new(); transports.len()];
        for _ in 0..rounds {
            for (i, t) in transports.iter().enumerate() {
                results[i].push(throughput(t, size, msgs));
            }
        }
        for (i, t) in transports.iter().enumerate() {
            let (median, worst) = median_and_worst(results[i].clone(), false);
            println!(
                "throughput {size:>5} B {t:<16} median {:>10.0} msg/s ({:>8.1} MB/s)  worst {:>10.0} msg/s",
                median,
                median * size as f64 / 1e6,
                worst
            );
        }
    }
    let rt_transports = [
        "async-ring",
        "async-ring-nospin",
        "sync-ring",
        "sync-ring-nospin",
        "unix-stream",
        "tokio-pipe",
    ];
    let mut results: Vec<Vec<Duration>> = vec![Vec::new(); rt_transports.len()];
    for _ in 0..rounds {
        for (i, t) in rt_transports.iter().enumerate() {
            results[i].push(round_trip(t, trips));
        }
    }
    for (i, t) in rt_transports.iter().enumerate() {
        let (median, worst) = median_and_worst(results[i].clone(), true);
        println!(
            "round trip  8 B {t:<16} median of round medians {:>8.1} us  worst round {:>8.1} us",
            median.as_secs_f64() * 1e6,
            worst.as_secs_f64() * 1e6
        );
    }
}
