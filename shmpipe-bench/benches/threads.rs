//! shmpipe against rtrb between two threads, like for like (issue 13): the same messages, the
//! same two pinned threads, the same waiting (both sides spin while the ring is full or
//! empty; shmpipe sleeps after 50 µs, which a streaming round never reaches and the full
//! regime's batches do, when the consumer's releases come further apart: see
//! docs/BENCHMARKS.md, "The writer's spin hint"), the same number of messages in flight, and
//! the same check of every message's sequence number.
//!
//! - **per message**: shmpipe `Writer::send` / `Reader::recv` of the message's bytes against
//!   rtrb `Producer::push` / `Consumer::pop` of one element;
//! - **chunks**: shmpipe `Batch::send_values` / `RecvBatch::recv_values` (runs of values: one
//!   record header for up to 4 KiB of them; up to 256 values per call, copied in and out)
//!   against rtrb `write_chunk_uninit` + `fill_from_iter` / `read_chunk` + `commit_all` (up to
//!   256 per chunk);
//! - **chunks in place**: shmpipe `Batch::reserve_values` / `RecvBatch::recv_values_ref`
//!   (written and read in place, as rtrb's chunks are; up to 256 values per call, at most a
//!   4 KiB run) against the same rtrb chunks, run again as this row's partner.
//!
//! Messages are `u64` (8 bytes) and `[u64; 8]` (64 bytes), the first word being the sequence
//! number, which the consumer checks; a gap or a reordering ends the run with an error. Both
//! regimes: *streaming* (the consumer takes messages as fast as it can) and *full* (it works
//! about 1 µs after each message, as in `shmpipe bench --mode full`, so the producer waits on
//! a full ring). shmpipe's ring is `harness::default_capacity(size)` bytes (4 MiB) streaming
//! and `harness::full_capacity(size)` (64 KiB) full; rtrb's holds as many messages as that
//! ring holds records.
//!
//! Every contender runs in rounds of about 0.2 s, alternating (round 1 of each, then round 2
//! of each, ...); every round is printed, with the median and the worst, and shmpipe's ratio
//! to rtrb is taken round by round (round i against round i), with its median and worst.
//!
//! ```text
//! cargo bench -p shmpipe-bench --bench threads                 # 5 rounds, about 50 s
//! cargo bench -p shmpipe-bench --bench threads -- 9 --json threads.json
//! ```
//!
//! Under `cargo test` (no `--bench` argument) it runs one tiny round of each as a smoke test.
#![allow(clippy::disallowed_types)]

use std::hint::spin_loop;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytemuck::Pod;
use shmpipe_bench::harness::{self, lowest, median, Placement, Work};

/// A message: plain old data whose first word is its sequence number.
trait Message: Pod + Send + 'static {
    fn numbered(seq: u64) -> Self;
    fn seq(&self) -> u64;
}

impl Message for u64 {
    fn numbered(seq: u64) -> Self {
        seq
    }
    fn seq(&self) -> u64 {
        *self
    }
}

impl Message for [u64; 8] {
    fn numbered(seq: u64) -> Self {
        let mut m = [0x5a5a_5a5a_5a5a_5a5a; 8];
        m[0] = seq;
        m
    }
    fn seq(&self) -> u64 {
        self[0]
    }
}

/// Messages per call in the chunk APIs.
const CHUNK: usize = 256;

/// Ends the run: a message out of sequence, or a broken ring.
fn fail(what: &str, e: impl std::fmt::Display) -> ! {
    eprintln!("threads: {what}: {e}");
    std::process::exit(1)
}

#[inline]
fn check(what: &str, got: u64, want: u64) {
    if got != want {
        fail(what, harness::out_of_sequence(want, got, 8));
    }
}

/// A contender: a consumer thread pinned to the peer's CPU, driven in rounds; the producer is
/// this thread. Sequence numbers run on across rounds.
struct Pair {
    name: &'static str,
    go: Option<mpsc::Sender<u64>>,
    done: mpsc::Receiver<()>,
    produce: Box<dyn FnMut(u64, u64)>,
    sent: u64,
    consumer: Option<std::thread::JoinHandle<()>>,
}

impl Pair {
    fn start(
        name: &'static str,
        placement: &Placement,
        produce: Box<dyn FnMut(u64, u64)>,
        mut consume: impl FnMut(u64, u64) + Send + 'static,
    ) -> Pair {
        let (go, rounds) = mpsc::channel::<u64>();
        let (ack, done) = mpsc::channel();
        let cpu = placement.peer;
        let consumer = std::thread::spawn(move || {
            if let Some(cpu) = cpu {
                let _ = harness::pin_current_thread(cpu);
            }
            let mut expected = 0;
            while let Ok(n) = rounds.recv() {
                consume(expected, n);
                expected += n;
                if ack.send(()).is_err() {
                    return;
                }
            }
        });
        Pair {
            name,
            go: Some(go),
            done,
            produce,
            sent: 0,
            consumer: Some(consumer),
        }
    }

    /// Sends `n` messages; the time from the first send to the consumer's acknowledgement of
    /// the last.
    fn round(&mut self, n: u64) -> Duration {
        let go = self.go.as_ref().expect("running");
        go.send(n).expect("the consumer thread is running");
        let start = Instant::now();
        (self.produce)(self.sent, n);
        self.sent += n;
        self.done
            .recv_timeout(harness::STALL_LIMIT)
            .unwrap_or_else(|e| fail(self.name, e));
        start.elapsed()
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.go = None;
        if let Some(consumer) = self.consumer.take() {
            let _ = consumer.join();
        }
    }
}

/// shmpipe's ring capacity in bytes for a regime: 4 MiB streaming, 64 KiB full (see
/// `harness::capacity_for`).
fn capacity<M: Message>(full: bool) -> u64 {
    let size = std::mem::size_of::<M>();
    if full {
        harness::full_capacity(size)
    } else {
        harness::default_capacity(size)
    }
}

/// How many messages the rings hold: shmpipe's ring, in records.
fn in_flight<M: Message>(full: bool) -> usize {
    let size = std::mem::size_of::<M>();
    (capacity::<M>(full) / (8 + size as u64)) as usize
}

fn shmpipe_ring<M: Message>(full: bool) -> (shmpipe::Writer, shmpipe::Reader) {
    shmpipe::channel(capacity::<M>(full)).unwrap_or_else(|e| fail("shmpipe::channel", e))
}

/// shmpipe, one `send` and one `recv` per message.
fn shmpipe_per_message<M: Message>(placement: &Placement, work: Work, full: bool) -> Pair {
    let (mut writer, mut reader) = shmpipe_ring::<M>(full);
    let name = "shmpipe send/recv";
    Pair::start(
        name,
        placement,
        Box::new(move |first, n| {
            for seq in first..first + n {
                let m = M::numbered(seq);
                if let Err(e) = writer.send(bytemuck::bytes_of(&m)) {
                    fail(name, e);
                }
            }
        }),
        move |first, n| {
            let mut m = M::zeroed();
            for seq in first..first + n {
                match reader.recv(bytemuck::bytes_of_mut(&mut m)) {
                    Ok(Some(len)) if len == std::mem::size_of::<M>() => {}
                    other => fail(name, format!("{other:?}")),
                }
                check(name, m.seq(), seq);
                work.after_message();
            }
        },
    )
}

/// rtrb, one `push` and one `pop` per message.
fn rtrb_per_message<M: Message>(placement: &Placement, work: Work, full: bool) -> Pair {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<M>::new(in_flight::<M>(full));
    let name = "rtrb push/pop";
    Pair::start(
        name,
        placement,
        Box::new(move |first, n| {
            for seq in first..first + n {
                let mut m = M::numbered(seq);
                while let Err(rtrb::PushError::Full(back)) = producer.push(m) {
                    m = back;
                    spin_loop();
                }
            }
        }),
        move |first, n| {
            for seq in first..first + n {
                let m = loop {
                    match consumer.pop() {
                        Ok(m) => break m,
                        Err(_) => spin_loop(),
                    }
                };
                check(name, m.seq(), seq);
                work.after_message();
            }
        },
    )
}

/// shmpipe, `Batch::send_values` and `RecvBatch::recv_values`, up to [`CHUNK`] per call.
fn shmpipe_chunks<M: Message>(placement: &Placement, work: Work, full: bool) -> Pair {
    let (mut writer, mut reader) = shmpipe_ring::<M>(full);
    let name = "shmpipe send_values/recv_values";
    Pair::start(
        name,
        placement,
        Box::new(move |first, n| {
            let mut values = [M::zeroed(); CHUNK];
            in_chunks(first, n, |seq, k| {
                for (i, v) in values[..k].iter_mut().enumerate() {
                    *v = M::numbered(seq + i as u64);
                }
                if let Err(e) = writer.batch().send_values(&values[..k]) {
                    fail(name, e);
                }
                k
            });
        }),
        move |first, n| {
            let mut values = [M::zeroed(); CHUNK];
            let mut batch = reader.batch();
            in_chunks(first, n, |seq, room| {
                let got = match batch.recv_values(&mut values[..room]) {
                    Ok(0) => fail(name, "end of stream"),
                    Ok(got) => got,
                    Err(e) => fail(name, e),
                };
                for (i, v) in values[..got].iter().enumerate() {
                    check(name, v.seq(), seq + i as u64);
                    work.after_message();
                }
                got
            });
        },
    )
}

/// shmpipe, `Batch::reserve_values` and `RecvBatch::recv_values_ref`: the values written and
/// read in place, up to [`CHUNK`] per call (a run holds at most 4 KiB of them).
fn shmpipe_in_place<M: Message>(placement: &Placement, work: Work, full: bool) -> Pair {
    let (mut writer, mut reader) = shmpipe_ring::<M>(full);
    let name = "shmpipe values in place";
    Pair::start(
        name,
        placement,
        Box::new(move |first, n| {
            in_chunks(first, n, |seq, k| {
                let mut batch = writer.batch();
                let mut grant = batch
                    .reserve_values::<M>(k)
                    .unwrap_or_else(|e| fail(name, e));
                for (i, v) in grant.iter_mut().enumerate() {
                    *v = M::numbered(seq + i as u64);
                }
                let wrote = grant.len();
                grant.commit_all();
                wrote
            });
        }),
        move |first, n| {
            let mut batch = reader.batch();
            in_chunks(first, n, |seq, _| {
                let values = match batch.recv_values_ref::<M>() {
                    Ok(Some(values)) => values,
                    Ok(None) => fail(name, "end of stream"),
                    Err(e) => fail(name, e),
                };
                for (i, m) in values.iter().enumerate() {
                    check(name, m.seq(), seq + i as u64);
                }
                let k = values.len();
                drop(values);
                // The work after each message, as rtrb's consumer does it after its chunk.
                for _ in 0..k {
                    work.after_message();
                }
                k
            });
        },
    )
}

/// rtrb, `write_chunk_uninit` + `fill_from_iter` and `read_chunk` + `commit_all`, up to
/// [`CHUNK`] per chunk.
fn rtrb_chunks<M: Message>(placement: &Placement, work: Work, full: bool) -> Pair {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<M>::new(in_flight::<M>(full));
    let name = "rtrb write_chunk/read_chunk";
    Pair::start(
        name,
        placement,
        Box::new(move |first, n| {
            in_chunks(first, n, |seq, k| {
                let k = k.min(producer.slots());
                if k == 0 {
                    spin_loop();
                    return 0;
                }
                let chunk = producer
                    .write_chunk_uninit(k)
                    .unwrap_or_else(|e| fail(name, e));
                chunk.fill_from_iter((seq..seq + k as u64).map(M::numbered))
            });
        }),
        move |first, n| {
            in_chunks(first, n, |seq, k| {
                let k = k.min(consumer.slots());
                if k == 0 {
                    spin_loop();
                    return 0;
                }
                let chunk = consumer.read_chunk(k).unwrap_or_else(|e| fail(name, e));
                let (a, b) = chunk.as_slices();
                for (i, m) in a.iter().chain(b).enumerate() {
                    check(name, m.seq(), seq + i as u64);
                }
                chunk.commit_all();
                // The work after each message, as shmpipe's consumer does it after copying
                // its run out.
                for _ in 0..k {
                    work.after_message();
                }
                k
            });
        },
    )
}

/// Messages `first..first + n`, a chunk at a time: `chunk(seq, k)` handles up to `k` of them (at
/// most [`CHUNK`]) from `seq` on and says how many it did (0: none yet; it is called again).
fn in_chunks(first: u64, n: u64, mut chunk: impl FnMut(u64, usize) -> usize) {
    let end = first + n;
    let mut seq = first;
    while seq < end {
        let k = (end - seq).min(CHUNK as u64) as usize;
        seq += chunk(seq, k) as u64;
    }
}

/// One contender: its pair, how it is named, and its rounds (messages/s).
struct Contender {
    pair: Pair,
    api: &'static str,
    size: usize,
    regime: &'static str,
    batch: u64,
    rates: Vec<f64>,
}

fn rate(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else {
        format!("{:.1}M", v / 1e6)
    }
}

fn ratio(v: f64) -> String {
    format!("{v:.2}x")
}

fn contenders(placement: &Placement, regime: &'static str, work: Work) -> Vec<Contender> {
    let full = regime == "full";
    let mut all = Vec::new();
    let eight = pairs_of::<u64>(placement, work, full);
    let sixty_four = pairs_of::<[u64; 8]>(placement, work, full);
    for (size, pairs) in [(8, eight), (64, sixty_four)] {
        for (pair, api) in pairs {
            all.push(Contender {
                pair,
                api,
                size,
                regime,
                batch: 0,
                rates: Vec::new(),
            });
        }
    }
    all
}

/// The six contenders of one message type, shmpipe's before its rtrb partner, with the API
/// each pair stands for: per message, chunks, chunks in place (rtrb's chunks run again).
fn pairs_of<M: Message>(
    placement: &Placement,
    work: Work,
    full: bool,
) -> [(Pair, &'static str); 6] {
    [
        (
            shmpipe_per_message::<M>(placement, work, full),
            "per message",
        ),
        (rtrb_per_message::<M>(placement, work, full), "per message"),
        (shmpipe_chunks::<M>(placement, work, full), "chunks"),
        (rtrb_chunks::<M>(placement, work, full), "chunks"),
        (
            shmpipe_in_place::<M>(placement, work, full),
            "chunks in place",
        ),
        (rtrb_chunks::<M>(placement, work, full), "chunks in place"),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let quick = !bench || args.iter().any(|a| a == "--test");
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let rounds: usize = if quick {
        1
    } else {
        args.iter().find_map(|a| a.parse().ok()).unwrap_or(5).max(1)
    };
    let json_path = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1).cloned());
    let per_round = if quick {
        Duration::from_millis(5)
    } else {
        Duration::from_millis(200)
    };
    let placement = harness::place();
    let work = harness::full_work();
    println!(
        "threads: {}; {rounds} round(s) of about {} ms per contender, alternating; shmpipe rings \
         of 4 MiB streaming, 64 KiB full (rtrb: as many messages); every message numbered and checked; full regime: the \
         consumer works {} ns per message here",
        harness::describe_machine(&placement),
        per_round.as_millis(),
        work.cost().as_nanos()
    );
    let mut json = Vec::new();
    for (regime, work) in [("streaming", Work::NONE), ("full", work)] {
        let mut all = contenders(&placement, regime, work);
        // Calibrate: a warm-up round, then rounds grown until one lasts a tenth of a round.
        for c in &mut all {
            let mut n: u64 = if quick { 1000 } else { 100_000 };
            c.pair.round(n);
            loop {
                let t = c.pair.round(n);
                if t >= per_round / 20 || quick {
                    let scale = per_round.as_secs_f64() / t.as_secs_f64().max(1e-9);
                    c.batch = ((n as f64 * scale) as u64).max(1);
                    break;
                }
                n *= 4;
            }
        }
        for round in 0..rounds {
            let count = all.len();
            for k in 0..count {
                let c = &mut all[(round + k) % count];
                let t = c.pair.round(c.batch);
                c.rates.push(c.batch as f64 / t.as_secs_f64().max(1e-12));
            }
        }
        println!(
            "\n{regime}: {}; messages/s",
            if regime == "full" {
                "the consumer works 1 µs per message, so the producer waits on a full ring"
            } else {
                "the consumer takes messages as fast as it can"
            }
        );
        let mut head = format!("{:<34} {:>4}", "", "size");
        for i in 1..=rounds {
            head += &format!(" {:>8}", format!("r{i}"));
        }
        println!("{head} {:>8} {:>8}", "median", "worst");
        for pair in all.chunks(2) {
            let [shm, rb] = pair else { continue };
            let ratios: Vec<f64> = shm
                .rates
                .iter()
                .zip(&rb.rates)
                .map(|(a, b)| a / b)
                .collect();
            for c in [shm, rb] {
                let mut line = format!("{:<34} {:>4}", c.pair.name, c.size);
                for r in &c.rates {
                    line += &format!(" {:>8}", rate(*r));
                }
                println!(
                    "{line} {:>8} {:>8}",
                    rate(median(&c.rates)),
                    rate(lowest(&c.rates))
                );
            }
            let mut line = format!("{:<34} {:>4}", "  shmpipe / rtrb", "");
            for r in &ratios {
                line += &format!(" {:>8}", ratio(*r));
            }
            println!(
                "{line} {:>8} {:>8}",
                ratio(median(&ratios)),
                ratio(lowest(&ratios))
            );
            for (c, vs) in [(shm, Some(&ratios)), (rb, None)] {
                let list = |v: &[f64]| {
                    v.iter()
                        .map(|x| format!("{x:.1}"))
                        .collect::<Vec<_>>()
                        .join(",")
                };
                let vs = vs.map_or(
                    "\"vs_rtrb_rounds\":null,\"vs_rtrb_median\":null,\"vs_rtrb_worst\":null"
                        .to_owned(),
                    |r| {
                        format!(
                            "\"vs_rtrb_rounds\":[{}],\"vs_rtrb_median\":{:.3},\"vs_rtrb_worst\":{:.3}",
                            r.iter()
                                .map(|x| format!("{x:.3}"))
                                .collect::<Vec<_>>()
                                .join(","),
                            median(r),
                            lowest(r)
                        )
                    },
                );
                json.push(format!(
                    "{{\"name\":\"{}\",\"api\":\"{}\",\"regime\":\"{}\",\"msg_size\":{},\
                     \"rounds\":[{}],\"median\":{:.1},\"worst\":{:.1},{vs}}}",
                    c.pair.name,
                    c.api,
                    c.regime,
                    c.size,
                    list(&c.rates),
                    median(&c.rates),
                    lowest(&c.rates)
                ));
            }
        }
    }
    if let Some(path) = json_path {
        let text = format!("[\n  {}\n]\n", json.join(",\n  "));
        if let Err(e) = std::fs::write(&path, text) {
            fail(&path, e);
        }
    }
}
