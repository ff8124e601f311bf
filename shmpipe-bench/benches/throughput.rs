//! Throughput between two processes, one way: shmpipe (copying `send`/`recv`, zero-copy
//! `reserve`/`commit` with in-place receive, and batched), pipes (default size and enlarged with
//! `F_SETPIPE_SZ`), Unix stream and seqpacket sockets, and the peer crates iceoryx2, shmem-ipc
//! and ipmpsc; plus in-process references: `rtrb` between two threads (the ceiling of an
//! SPSC ring without processes), shmpipe's heap ring between the same two threads (like for
//! like with rtrb: per message against per message, every message numbered and checked on
//! both), and single-core `memcpy` (the physical limit of a copy). Criterion runs each row's
//! samples one after the other, not alternating; the alternating rounds against rtrb, per
//! message and in chunks, in both regimes, are `benches/threads.rs`.
//!
//! ```text
//! cargo bench --bench throughput                 # everything (about 10 minutes)
//! cargo bench --bench throughput -- '64B/'       # one size
//! cargo bench --bench throughput -- 'ring|pipe'  # some transports
//! ```
//!
//! One criterion iteration is a batch of messages (a few MiB, or 131,072 small ones) sent to
//! the peer; the clock runs from the first send to the peer's acknowledgement of the last
//! (see the harness in `shmpipe-bench/src/harness.rs`). Throughput is reported in bytes; the
//! message rate is bytes/s divided by the size (`scripts/bench_report.py` prints both).
#![allow(clippy::disallowed_types)]

fn main() {
    imp::main();
}

mod imp {
    use shmpipe_bench::suite as common;

    use std::hint::black_box;
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use criterion::{SamplingMode, Throughput};
    use shmpipe_bench::harness::{self, Mode, Placement};

    /// The message sizes.
    const SIZES: [usize; 6] = [8, 64, 512, 4 << 10, 64 << 10, 1 << 20];

    /// The two-process transports: the built-in ones, then the peer crates.
    fn transports() -> impl Iterator<Item = &'static str> {
        harness::BUILTIN
            .iter()
            .copied()
            .chain(["iceoryx2", "shmem-ipc", "ipmpsc"])
    }

    /// The largest datagram a seqpacket socket takes with the default buffers (`wmem_default`
    /// is 212,992 bytes; a larger `write` fails with `EMSGSIZE`).
    const SEQPACKET_MAX: usize = 200_000;

    /// Messages per criterion iteration: about 8 MiB, between 16 and 131,072 messages.
    fn batch(size: usize) -> u64 {
        if common::quick() {
            return 16;
        }
        ((8 << 20) / size as u64).clamp(16, 131_072)
    }

    pub fn main() {
        let placement = common::start("throughput");
        let mut c = common::criterion();
        for size in SIZES {
            let k = batch(size);
            let mut group = c.benchmark_group(format!("throughput/{}", common::size_label(size)));
            group
                .throughput(Throughput::Bytes(k * size as u64))
                .sampling_mode(SamplingMode::Flat);
            for transport in transports() {
                if transport == "seqpacket" && size > SEQPACKET_MAX {
                    if !common::listing() {
                        println!(
                            "throughput/{}/seqpacket: not measured: a {size}-byte datagram exceeds the socket buffer (EMSGSIZE)",
                            common::size_label(size)
                        );
                    }
                    continue;
                }
                let mut session = None;
                group.bench_function(transport, |b| {
                    let s = session.get_or_insert_with(|| {
                        common::session(transport, Mode::Throughput, size, &placement)
                            .unwrap_or_else(|e| common::fail(transport, e))
                    });
                    b.iter_custom(|iters| {
                        s.round(iters * k)
                            .unwrap_or_else(|e| common::fail(transport, e))
                    });
                });
                if let Some(s) = session {
                    s.finish().unwrap_or_else(|e| common::fail(transport, e));
                }
            }
            in_process(&mut group, size, k, &placement);
            group.finish();
        }
        c.final_summary();
    }

    /// The in-process references: rtrb between two threads, and memcpy on one core.
    fn in_process(
        group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        size: usize,
        k: u64,
        placement: &Placement,
    ) {
        let mut threads = None;
        group.bench_function("rtrb-threads", |b| {
            let t = threads.get_or_insert_with(|| Threads::rtrb_bytes(size, placement));
            b.iter_custom(|iters| t.round(iters * k));
        });
        drop(threads);
        if size == 8 {
            let mut threads = None;
            group.bench_function("rtrb-threads-u64", |b| {
                let t = threads.get_or_insert_with(|| Threads::rtrb_u64(placement));
                b.iter_custom(|iters| t.round(iters * k));
            });
        }
        // shmpipe between the same two threads, like for like with the rtrb rows (issue 13):
        // one `send`/`recv` per message against `push_entire_slice`/`pop_entire_slice`, and
        // one `send_value`/`recv_value` per u64 against `push`/`pop`.
        let mut threads = None;
        group.bench_function("ring-threads", |b| {
            let t = threads.get_or_insert_with(|| Threads::ring_bytes(size, placement));
            b.iter_custom(|iters| t.round(iters * k));
        });
        drop(threads);
        if size == 8 {
            let mut threads = None;
            group.bench_function("ring-threads-u64", |b| {
                let t = threads.get_or_insert_with(|| Threads::ring_u64(placement));
                b.iter_custom(|iters| t.round(iters * k));
            });
        }
        let src = harness::message(size);
        let mut dst = vec![0u8; size];
        group.bench_function("memcpy", |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters * k {
                    dst.copy_from_slice(black_box(&src));
                    black_box(&mut dst);
                }
                start.elapsed()
            })
        });
    }

    /// A consumer thread pinned to the peer's CPU, driven in rounds like a peer process: the
    /// producer (this thread) sends `n` messages; the consumer acknowledges the last.
    struct Threads {
        go: Option<mpsc::Sender<u64>>,
        done: mpsc::Receiver<()>,
        produce: Box<dyn FnMut(u64)>,
        consumer: Option<std::thread::JoinHandle<()>>,
    }

    impl Threads {
        fn start(
            placement: &Placement,
            produce: Box<dyn FnMut(u64)>,
            mut consume: impl FnMut(u64) + Send + 'static,
        ) -> Threads {
            let (go, rounds) = mpsc::channel::<u64>();
            let (ack, done) = mpsc::channel();
            let cpu = placement.peer;
            let consumer = std::thread::spawn(move || {
                if let Some(cpu) = cpu {
                    let _ = harness::pin_current_thread(cpu);
                }
                while let Ok(n) = rounds.recv() {
                    consume(n);
                    if ack.send(()).is_err() {
                        return;
                    }
                }
            });
            Threads {
                go: Some(go),
                done,
                produce,
                consumer: Some(consumer),
            }
        }

        /// rtrb's byte ring: `push_entire_slice` and `pop_entire_slice` of `size` bytes, each
        /// message numbered and checked (as the ring's are).
        fn rtrb_bytes(size: usize, placement: &Placement) -> Threads {
            let capacity = harness::default_capacity(size) as usize;
            let (mut producer, mut consumer) = rtrb::RingBuffer::<u8>::new(capacity);
            let mut msg = harness::message(size);
            let mut buf = vec![0u8; size];
            let (mut sent, mut expected) = (0u64, 0u64);
            Threads::start(
                placement,
                Box::new(move |n| {
                    for _ in 0..n {
                        harness::stamp(&mut msg, sent);
                        sent += 1;
                        while producer.push_entire_slice(&msg).is_err() {
                            std::hint::spin_loop();
                        }
                    }
                }),
                move |n| {
                    for _ in 0..n {
                        while consumer.pop_entire_slice(&mut buf).is_err() {
                            std::hint::spin_loop();
                        }
                        harness::check_seq(&buf, expected).expect("messages in order");
                        expected += 1;
                        black_box(&mut buf);
                    }
                },
            )
        }

        /// rtrb's element ring of `u64`: one `push` and one `pop` per 8-byte message, each
        /// value its sequence number, checked (as `ring-threads-u64` does).
        fn rtrb_u64(placement: &Placement) -> Threads {
            let capacity = harness::default_capacity(8) as usize / 8;
            let (mut producer, mut consumer) = rtrb::RingBuffer::<u64>::new(capacity);
            let (mut sent, mut expected) = (0u64, 0u64);
            Threads::start(
                placement,
                Box::new(move |n| {
                    for _ in 0..n {
                        while producer.push(sent).is_err() {
                            std::hint::spin_loop();
                        }
                        sent += 1;
                    }
                }),
                move |n| {
                    for _ in 0..n {
                        loop {
                            if let Ok(v) = consumer.pop() {
                                assert_eq!(v, expected, "messages in order");
                                expected += 1;
                                break;
                            }
                            std::hint::spin_loop();
                        }
                    }
                },
            )
        }

        /// shmpipe's heap ring between two threads: one `send` and one `recv` per message,
        /// each numbered and checked.
        fn ring_bytes(size: usize, placement: &Placement) -> Threads {
            let (mut writer, mut reader) =
                shmpipe::channel(harness::default_capacity(size)).expect("a heap ring");
            let mut msg = harness::message(size);
            let mut buf = vec![0u8; size];
            let (mut sent, mut expected) = (0u64, 0u64);
            Threads::start(
                placement,
                Box::new(move |n| {
                    for _ in 0..n {
                        harness::stamp(&mut msg, sent);
                        sent += 1;
                        writer.send(&msg).expect("the reader is running");
                    }
                }),
                move |n| {
                    for _ in 0..n {
                        let got = reader.recv(&mut buf).expect("the writer is running");
                        assert_eq!(got, Some(size), "a whole message");
                        harness::check_seq(&buf, expected).expect("messages in order");
                        expected += 1;
                        black_box(&mut buf);
                    }
                },
            )
        }

        /// shmpipe's heap ring between two threads: one `send_value` and one `recv_value` per
        /// u64, each checked against its sequence number.
        fn ring_u64(placement: &Placement) -> Threads {
            let (mut writer, mut reader) =
                shmpipe::channel(harness::default_capacity(8)).expect("a heap ring");
            let mut sent = 0u64;
            let mut expected = 0u64;
            Threads::start(
                placement,
                Box::new(move |n| {
                    for _ in 0..n {
                        writer.send_value(&sent).expect("the reader is running");
                        sent += 1;
                    }
                }),
                move |n| {
                    for _ in 0..n {
                        let v = reader.recv_value::<u64>().expect("the writer is running");
                        assert_eq!(v, Some(expected), "messages in order");
                        expected += 1;
                    }
                },
            )
        }

        fn round(&mut self, n: u64) -> Duration {
            let go = self.go.as_ref().expect("running");
            go.send(n).expect("the consumer thread is running");
            let start = Instant::now();
            (self.produce)(n);
            self.done
                .recv_timeout(harness::STALL_LIMIT)
                .expect("the consumer thread acknowledges in time");
            start.elapsed()
        }
    }

    impl Drop for Threads {
        fn drop(&mut self) {
            self.go = None;
            if let Some(consumer) = self.consumer.take() {
                let _ = consumer.join();
            }
        }
    }
}
