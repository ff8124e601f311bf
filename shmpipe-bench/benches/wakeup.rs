//! The blocking path. `wakeup/8B`: the peer's reader is asleep on its futex (the ring has been
//! empty for a millisecond, far beyond the 50 µs spin), the parent sends one message, and the
//! peer echoes it on a second ring whose reader (the parent) spins; the time is the wake-up
//! plus one fast hop. Against it, a pipe: the peer blocked in `read(2)`, the echo read by the
//! parent spinning on a non-blocking pipe. Criterion reports the mean; then ring and pipe take
//! turns for five rounds of 400 individually timed wake-ups, for each round's p50 and p99
//! (`wakeup/ab/8B`, saved to `target/shmpipe-bench/wakeup-ab.json`). Then the CPU a reader
//! uses while it idles on an empty ring for one second (it must sleep, not spin), next to a
//! `poll(2)` on a pipe.
//!
//! ```text
//! cargo bench --bench wakeup
//! ```
#![allow(clippy::disallowed_types)]

fn main() {
    imp::main();
}

mod imp {
    use shmpipe_bench::suite as common;

    use std::fs::File;
    use std::io::{self, Read, Write};
    use std::os::fd::AsRawFd;
    use std::time::{Duration, Instant};

    use shmpipe_bench::harness::{self, Ends, Mode, Placement, Rx, Session, Setup, Tx};

    /// How long the ring stays empty before each measured message.
    const GAP: Duration = Duration::from_millis(1);

    pub fn main() {
        let placement = common::start("wakeup");
        let mut c = common::criterion();
        let mut group = c.benchmark_group("wakeup/8B");
        // Each iteration sleeps GAP unmeasured: keep criterion's planned time short.
        group
            .warm_up_time(Duration::from_millis(20))
            .measurement_time(Duration::from_millis(100));
        for transport in ["ring", "pipe"] {
            let mut session = None;
            group.bench_function(transport, |b| {
                let s = session.get_or_insert_with(|| {
                    start(transport, &placement).unwrap_or_else(|e| common::fail(transport, e))
                });
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        std::thread::sleep(GAP);
                        total += s
                            .round_trips(1, None)
                            .unwrap_or_else(|e| common::fail(transport, e));
                    }
                    total
                });
            });
            if let Some(s) = session {
                s.finish().unwrap_or_else(|e| common::fail(transport, e));
            }
        }
        group.finish();
        c.final_summary();
        if !common::listing() {
            alternate(&placement);
            idle(if common::quick() {
                Duration::from_millis(100)
            } else {
                Duration::from_secs(1)
            });
        }
    }

    /// The wake-up's p50 and p99 (issue 13 asks for both; criterion reports the mean): ring
    /// and pipe take turns for five rounds of individually timed wake-ups, each after the peer
    /// has slept [`GAP`], and each round's percentiles are printed with the ring's over the
    /// pipe's in the same round, then the median and the worst round of each; saved to
    /// `target/shmpipe-bench/wakeup-ab.json`.
    fn alternate(placement: &Placement) {
        let (rounds, per_round) = if common::quick() { (1, 20) } else { (5, 400) };
        let names = ["ring", "pipe"];
        let mut sessions: Vec<Session> = names
            .iter()
            .map(|&t| start(t, placement).unwrap_or_else(|e| common::fail(t, e)))
            .collect();
        // Warm up, as the latency bench does: the peers' first messages (start-up, first
        // faults) are not wake-ups.
        for (i, s) in sessions.iter_mut().enumerate() {
            for _ in 0..(per_round / 10).max(2) {
                std::thread::sleep(GAP);
                s.round_trips(1, None)
                    .unwrap_or_else(|e| common::fail(names[i], e));
            }
        }
        // [transport][round] = (p50, p99) in ns
        let mut table = vec![Vec::new(); names.len()];
        for round in 0..rounds {
            for (i, s) in sessions.iter_mut().enumerate() {
                let mut samples = Vec::with_capacity(per_round);
                for _ in 0..per_round {
                    std::thread::sleep(GAP);
                    let t = s
                        .round_trips(1, None)
                        .unwrap_or_else(|e| common::fail(names[i], e));
                    samples.push(t.as_nanos() as u64);
                }
                samples.sort_unstable();
                // The suite's percentile (nearest rank), as the latency bench reports them.
                let l = harness::Latency {
                    round_trips: samples.len() as u64,
                    seconds: samples.iter().sum::<u64>() as f64 / 1e9,
                    sorted_ns: samples,
                };
                table[i].push((l.quantile(0.5), l.quantile(0.99)));
            }
            let (ring, pipe) = (table[0][round], table[1][round]);
            println!(
                "wakeup/ab/8B round {}: ring p50 {:.1} µs, p99 {:.1} µs; pipe p50 {:.1} µs, p99 {:.1} µs; ring / pipe p50 {:.2}x, p99 {:.2}x",
                round + 1,
                ring.0 as f64 / 1e3,
                ring.1 as f64 / 1e3,
                pipe.0 as f64 / 1e3,
                pipe.1 as f64 / 1e3,
                ring.0 as f64 / pipe.0 as f64,
                ring.1 as f64 / pipe.1 as f64
            );
        }
        for s in sessions {
            s.finish().unwrap_or_else(|e| common::fail("wakeup", e));
        }
        let mut json = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let (by_round50, by_round99): (Vec<u64>, Vec<u64>) = table[i].iter().copied().unzip();
            // Median and worst (longest) round, with the suite's helpers.
            let as_f64 = |v: &[u64]| v.iter().map(|&x| x as f64).collect::<Vec<f64>>();
            let (p50s, p99s) = (as_f64(&by_round50), as_f64(&by_round99));
            let (m50, m99) = (harness::median(&p50s), harness::median(&p99s));
            let worst = |v: &[f64]| v.iter().copied().fold(f64::NAN, f64::max);
            let (w50, w99) = (worst(&p50s), worst(&p99s));
            println!(
                "wakeup/ab/8B/{name}: p50 median {:.1} µs (worst round {:.1}), p99 median {:.1} µs (worst round {:.1}); {rounds} rounds of {per_round} wake-ups",
                m50 / 1e3,
                w50 / 1e3,
                m99 / 1e3,
                w99 / 1e3
            );
            json.push(format!(
                "{{\"transport\":\"{name}\",\"rounds\":{rounds},\"wakeups_per_round\":{per_round},\"p50_ns_by_round\":{by_round50:?},\"p99_ns_by_round\":{by_round99:?}}}"
            ));
        }
        if !common::quick() {
            let dir = std::path::Path::new("target/shmpipe-bench");
            let _ = std::fs::create_dir_all(dir).and_then(|()| {
                std::fs::write(
                    dir.join("wakeup-ab.json"),
                    format!("[{}]\n", json.join(",")),
                )
            });
        }
    }

    struct RingTx(shmpipe::Writer);

    impl Tx for RingTx {
        fn send(&mut self, msg: &[u8]) -> io::Result<()> {
            self.0.send(msg).map_err(io::Error::other)
        }
    }

    struct RingRx(shmpipe::Reader);

    impl Rx for RingRx {
        fn recv(&mut self, buf: &mut [u8]) -> io::Result<bool> {
            Ok(self.0.recv(buf).map_err(io::Error::other)?.is_some())
        }
    }

    struct PipeTx(File);

    impl Tx for PipeTx {
        fn send(&mut self, msg: &[u8]) -> io::Result<()> {
            self.0.write_all(msg)
        }
    }

    /// Reads a non-blocking pipe, spinning while it is empty.
    struct SpinningPipeRx(File);

    impl Rx for SpinningPipeRx {
        fn recv(&mut self, buf: &mut [u8]) -> io::Result<bool> {
            let mut done = 0;
            while done < buf.len() {
                match self.0.read(&mut buf[done..]) {
                    Ok(0) => return Ok(false),
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::hint::spin_loop(),
                    Err(e) => return Err(e),
                }
            }
            Ok(true)
        }
    }

    /// The parent's ends: sends normally, receives the echo spinning (so only the peer sleeps).
    fn start(transport: &str, placement: &Placement) -> io::Result<Session> {
        let size = 8;
        let capacity = 4096;
        let setup = if transport == "ring" {
            let (out, out_segment, out_name) = harness::create_ring(capacity, "a")?;
            let (back, back_segment, back_name) = harness::create_ring(capacity, "b")?;
            let writer = out.writer().map_err(io::Error::other)?;
            let mut reader = back.reader().map_err(io::Error::other)?;
            reader.set_spin(Duration::from_secs(1));
            Setup {
                ends: Ends {
                    tx: Box::new(RingTx(writer)),
                    rx: Some(Box::new(RingRx(reader))),
                },
                pass_fds: Vec::new(),
                args: vec![out_name, back_name],
                cleanup: vec![out_segment, back_segment],
            }
        } else {
            let (peer_in, out) = harness::pipe()?;
            let (back, peer_out) = harness::pipe()?;
            // SAFETY: F_SETFL on an open fd we own.
            if unsafe { libc::fcntl(back.as_raw_fd(), libc::F_SETFL, libc::O_NONBLOCK) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Setup {
                ends: Ends {
                    tx: Box::new(PipeTx(File::from(out))),
                    rx: Some(Box::new(SpinningPipeRx(File::from(back)))),
                },
                pass_fds: vec![peer_in, peer_out],
                args: Vec::new(),
                cleanup: Vec::new(),
            }
        };
        common::start_with(transport, Mode::Latency, size, capacity, setup, placement)
    }

    /// CPU time of the calling thread.
    fn thread_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid timespec to fill.
        unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// The CPU a waiting reader uses: a ring reader in `recv_timeout` on an empty ring (its writer
    /// alive), and a thread in `poll(2)` on an empty pipe, each for `span`.
    fn idle(span: Duration) {
        let (writer, mut reader) = shmpipe::channel(4096).expect("a heap ring");
        let ring = std::thread::spawn(move || {
            let cpu = thread_cpu();
            let start = Instant::now();
            let mut buf = [0u8; 8];
            let outcome = reader.recv_timeout(&mut buf, span);
            assert!(matches!(outcome, Err(shmpipe::RecvError::Timeout)));
            (thread_cpu() - cpu, start.elapsed())
        })
        .join()
        .expect("the idle reader");
        drop(writer);
        let (read_end, write_end) = harness::pipe().expect("a pipe");
        let pipe = std::thread::spawn(move || {
            let cpu = thread_cpu();
            let start = Instant::now();
            let mut pfd = libc::pollfd {
                fd: read_end.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, span.as_millis() as libc::c_int) };
            (thread_cpu() - cpu, start.elapsed())
        })
        .join()
        .expect("the idle pipe reader");
        drop(write_end);
        let mut lines = Vec::new();
        for (what, (cpu, wall)) in [("ring", ring), ("pipe", pipe)] {
            let share = cpu.as_secs_f64() / wall.as_secs_f64() * 100.0;
            println!(
                "wakeup/idle/{what}: a reader waiting {:.2} s on an empty {what} used {:.3} ms of CPU ({share:.3} %)",
                wall.as_secs_f64(),
                cpu.as_secs_f64() * 1e3
            );
            lines.push(format!(
                "{{\"transport\":\"{what}\",\"wall_s\":{:.3},\"cpu_ms\":{:.3}}}",
                wall.as_secs_f64(),
                cpu.as_secs_f64() * 1e3
            ));
        }
        if !common::quick() {
            let dir = std::path::Path::new("target/shmpipe-bench");
            let _ = std::fs::create_dir_all(dir).and_then(|()| {
                std::fs::write(dir.join("idle.json"), format!("[{}]\n", lines.join(",")))
            });
        }
    }
}
