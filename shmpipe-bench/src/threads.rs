//! shmpipe against rtrb between two threads of one process, like for like (issue 13): what
//! `shmpipe bench --mode threads` and the `threads` criterion-free bench
//! (`cargo bench -p shmpipe-bench --bench threads`) both run.
//!
//! The same messages, the same two pinned threads, the same waiting (both sides spin while
//! the ring is full or empty; shmpipe sleeps after 50 µs, which a streaming round never
//! reaches and the full regime's batches do), the same number of messages in flight, and the
//! same check of every message's sequence number. Three pairs of contenders per message
//! size:
//!
//! - **per message**: shmpipe `Writer::send` / `Reader::recv` of the message's bytes against
//!   rtrb `Producer::push` / `Consumer::pop` of one element;
//! - **chunks**: shmpipe `Batch::send_values` / `RecvBatch::recv_values` (runs of values: one
//!   record header for up to 4 KiB of them, copied in from the caller's slice and out into
//!   the caller's slice) against rtrb's chunks used the same way, `rtrb chunks, copied`: the
//!   producer numbers a slice of its own and copies it in (`write_chunk_uninit` +
//!   `fill_from_iter` over the slice), the consumer copies the chunk out into a slice of its
//!   own (`read_chunk` + `commit_all`) and checks it there;
//! - **chunks in place**: shmpipe `Batch::reserve_values` / `RecvBatch::recv_values_ref`
//!   (written and read in place, as rtrb's chunks are) against rtrb's chunks written and read
//!   in place (`fill_from_iter` over the numbers, the numbers checked in the chunk).
//!
//! Up to 256 values per chunk (at most half of what the ring holds). Messages are `u64` (8
//! bytes) or `[u64; N]` ([`SIZES`]), the first word being the sequence number, which the
//! consumer checks: a gap or a reordering ends the run with an error. Two regimes:
//! *streaming* (the consumer takes messages as fast as it can; 4 MiB rings) and *full* (it
//! works about 1 µs after each message, as in `shmpipe bench --mode full`, so the producer
//! waits on a full 64 KiB ring). rtrb's ring holds as many messages as shmpipe's holds
//! records.
//!
//! Every contender runs in rounds, alternating (round 1 of each, then round 2 of each, ...,
//! each round starting one contender later); shmpipe's ratio to rtrb is taken round by round
//! (round i against round i), with its median and worst.
//!
//! ```no_run
//! use shmpipe_bench::{harness, threads};
//! let placement = harness::place();
//! let options = threads::Options::default();
//! let rows = threads::run(&options, &placement, |_| {})?;
//! print!("{}", threads::table(&rows));
//! # Ok::<(), std::io::Error>(())
//! ```

use std::hint::spin_loop;
use std::io;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use bytemuck::Pod;

use crate::harness::{self, lowest, median, Placement, Work};

/// The message sizes the threads comparison measures, in bytes: rtrb moves values of one
/// type, so each size is a type (`u64`, `[u64; 2]`, ... `[u64; 512]`).
pub const SIZES: &[usize] = &[8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];

/// The sizes measured unless others are asked for.
pub const DEFAULT_SIZES: &[usize] = &[8, 64];

/// Messages per call in the chunk APIs (at most; also at most half of what the ring holds).
pub const CHUNK: usize = 256;

/// Whether the consumer keeps pace or works after each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Regime {
    /// The consumer takes messages as fast as it can.
    Streaming,
    /// The consumer works about 1 µs per message ([`harness::full_work`]): the producer
    /// waits on a full ring.
    Full,
}

impl Regime {
    /// The regime's name in the output: `streaming` or `full`.
    ///
    /// ```
    /// assert_eq!(shmpipe_bench::threads::Regime::Full.name(), "full");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Regime::Streaming => "streaming",
            Regime::Full => "full",
        }
    }
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct Options {
    /// Message sizes, each one of [`SIZES`].
    pub sizes: Vec<usize>,
    /// The regimes, in order.
    pub regimes: Vec<Regime>,
    /// Rounds per contender (at least 1).
    pub rounds: usize,
    /// The length of one round of one contender.
    pub per_round: Duration,
    /// shmpipe's ring capacity in bytes; `None`: 4 MiB streaming, 64 KiB full
    /// ([`harness::default_capacity`], [`harness::full_capacity`]).
    pub capacity: Option<u64>,
}

impl Default for Options {
    /// 8 and 64 bytes, both regimes, 5 rounds of 0.2 s.
    fn default() -> Self {
        Options {
            sizes: DEFAULT_SIZES.to_vec(),
            regimes: vec![Regime::Streaming, Regime::Full],
            rounds: 5,
            per_round: Duration::from_millis(200),
            capacity: None,
        }
    }
}

/// Checks that every size is one the comparison can measure (one of [`SIZES`]).
///
/// ```
/// use shmpipe_bench::threads::check_sizes;
/// assert!(check_sizes(&[8, 64, 4096]).is_ok());
/// assert!(check_sizes(&[24]).unwrap_err().contains("24"));
/// ```
pub fn check_sizes(sizes: &[usize]) -> Result<(), String> {
    match sizes.iter().find(|s| !SIZES.contains(s)) {
        None => Ok(()),
        Some(bad) => Err(format!(
            "the threads comparison measures messages of {} bytes (rtrb moves values of one \
             type, one per size); {bad} is not one of them",
            list_sizes(SIZES)
        )),
    }
}

fn list_sizes(sizes: &[usize]) -> String {
    let texts: Vec<String> = sizes.iter().map(|s| s.to_string()).collect();
    match texts.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => texts.join(""),
    }
}

/// One contender's result: its rounds in messages per second, and (shmpipe's rows) its ratio
/// to its rtrb partner, round by round.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// `shmpipe send/recv`, `rtrb push/pop`, ...
    pub name: &'static str,
    /// The API pair it belongs to: `per message`, `chunks` or `chunks in place`.
    pub api: &'static str,
    /// The regime.
    pub regime: Regime,
    /// Message size in bytes.
    pub size: usize,
    /// Messages per second, one figure per round.
    pub rates: Vec<f64>,
    /// shmpipe's rows: its rate over its rtrb partner's, round by round; rtrb's rows: `None`.
    pub vs_rtrb: Option<Vec<f64>>,
}

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

impl<const N: usize> Message for [u64; N]
where
    [u64; N]: Pod,
{
    fn numbered(seq: u64) -> Self {
        let mut m = [0x5a5a_5a5a_5a5a_5a5a; N];
        m[0] = seq;
        m
    }
    fn seq(&self) -> u64 {
        self[0]
    }
}

/// What went wrong in a contender: an error naming it.
fn failed(what: &str, e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("{what}: {e}"))
}

/// The producer found the consumer gone (`BrokenPipe`): the consumer's own error says why.
fn consumer_gone(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        format!("{what}: the consumer has stopped"),
    )
}

/// The consumer found the producer gone (`UnexpectedEof`): the producer's error says why.
fn producer_gone(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("{what}: the producer has stopped"),
    )
}

/// shmpipe's send error: `Closed` is the consumer gone.
fn send_failed(what: &str, e: shmpipe::SendError) -> io::Error {
    match e {
        shmpipe::SendError::Closed => consumer_gone(what),
        e => failed(what, e),
    }
}

#[inline]
fn check(what: &str, got: u64, want: u64) -> io::Result<()> {
    if got == want {
        Ok(())
    } else {
        Err(failed(what, harness::out_of_sequence(want, got, 8)))
    }
}

/// The producer's side of a contender: sends messages `first..first + n`.
type Produce = Box<dyn FnMut(u64, u64) -> io::Result<()>>;

/// A contender: a consumer thread pinned to the peer's CPU, driven in rounds; the producer is
/// the calling thread. Sequence numbers run on across rounds.
struct Pair {
    name: &'static str,
    go: Option<mpsc::Sender<u64>>,
    done: mpsc::Receiver<io::Result<()>>,
    produce: Option<Produce>,
    sent: u64,
    consumer: Option<std::thread::JoinHandle<()>>,
}

impl Pair {
    fn start(
        name: &'static str,
        placement: &Placement,
        produce: Produce,
        mut consume: impl FnMut(u64, u64) -> io::Result<()> + Send + 'static,
    ) -> io::Result<Pair> {
        let (go, rounds) = mpsc::channel::<u64>();
        let (ack, done) = mpsc::channel();
        let cpu = placement.peer;
        let consumer = std::thread::Builder::new()
            .name("threads-consumer".into())
            .spawn(move || {
                if let Some(cpu) = cpu {
                    let _ = harness::pin_current_thread(cpu);
                }
                let mut expected = 0;
                while let Ok(n) = rounds.recv() {
                    let result = consume(expected, n);
                    let stop = result.is_err();
                    expected += n;
                    // Returning drops the consumer's end, which the producer then sees.
                    if ack.send(result).is_err() || stop {
                        return;
                    }
                }
            })?;
        Ok(Pair {
            name,
            go: Some(go),
            done,
            produce: Some(produce),
            sent: 0,
            consumer: Some(consumer),
        })
    }

    /// Sends `n` messages; the time from the first send to the consumer's acknowledgement of
    /// the last.
    fn round(&mut self, n: u64) -> io::Result<Duration> {
        let (Some(go), Some(produce)) = (self.go.as_ref(), self.produce.as_mut()) else {
            return Err(failed(self.name, "stopped after an earlier failure"));
        };
        if go.send(n).is_err() {
            return Err(failed(self.name, "the consumer thread has stopped"));
        }
        let start = Instant::now();
        let sent = produce(self.sent, n);
        if sent.is_err() {
            // The consumer, waiting for the rest, sees the producer's end gone and stops.
            self.produce = None;
        }
        let acked = self.done.recv_timeout(harness::STALL_LIMIT);
        let elapsed = start.elapsed();
        self.sent += n;
        let result = match (sent, acked) {
            (Ok(()), Ok(Ok(()))) => Ok(elapsed),
            // Both stopped: the one that did not merely see the other gone says why.
            (Err(p), Ok(Err(c))) => Err(
                if p.kind() == io::ErrorKind::BrokenPipe && c.kind() != io::ErrorKind::UnexpectedEof
                {
                    c
                } else {
                    p
                },
            ),
            (Err(p), _) => Err(p),
            (Ok(()), Ok(Err(c))) => Err(c),
            (Ok(()), Err(mpsc::RecvTimeoutError::Timeout)) => Err(failed(
                self.name,
                format!("no progress in {} s", harness::STALL_LIMIT.as_secs()),
            )),
            (Ok(()), Err(mpsc::RecvTimeoutError::Disconnected)) => {
                Err(failed(self.name, "the consumer thread has stopped"))
            }
        };
        if result.is_err() {
            self.stop();
        }
        result
    }

    /// Ends the consumer: the producer's end is dropped first, so a consumer waiting for
    /// messages sees it gone, then the thread is joined.
    fn stop(&mut self) {
        self.go = None;
        self.produce = None;
        if let Some(consumer) = self.consumer.take() {
            let _ = consumer.join();
        }
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        self.stop();
    }
}

/// shmpipe's ring capacity and how many messages it holds (rtrb gets as many slots).
fn ring_of<M: Message>(options: &Options, regime: Regime) -> io::Result<(u64, usize)> {
    let size = std::mem::size_of::<M>();
    let capacity = options.capacity.unwrap_or(match regime {
        Regime::Streaming => harness::default_capacity(size),
        Regime::Full => harness::full_capacity(size),
    });
    let in_flight = capacity / (8 + size as u64);
    if in_flight == 0 {
        return Err(io::Error::other(format!(
            "a {size}-byte message does not fit a ring of {capacity} bytes; raise --capacity"
        )));
    }
    Ok((capacity, in_flight as usize))
}

/// How contenders are made for one message type, ring size and regime.
#[derive(Clone, Copy)]
struct Setup<'a> {
    placement: &'a Placement,
    work: Work,
    capacity: u64,
    in_flight: usize,
    chunk: usize,
}

impl Setup<'_> {
    fn shmpipe_ring(&self) -> io::Result<(shmpipe::Writer, shmpipe::Reader)> {
        shmpipe::channel(self.capacity).map_err(|e| failed("shmpipe::channel", e))
    }
}

/// shmpipe, one `send` and one `recv` per message.
fn shmpipe_per_message<M: Message>(s: Setup<'_>) -> io::Result<Pair> {
    let (mut writer, mut reader) = s.shmpipe_ring()?;
    let name = "shmpipe send/recv";
    let work = s.work;
    Pair::start(
        name,
        s.placement,
        Box::new(move |first, n| {
            for seq in first..first + n {
                let m = M::numbered(seq);
                writer
                    .send(bytemuck::bytes_of(&m))
                    .map_err(|e| send_failed(name, e))?;
            }
            Ok(())
        }),
        move |first, n| {
            let mut m = M::zeroed();
            for seq in first..first + n {
                match reader.recv(bytemuck::bytes_of_mut(&mut m)) {
                    Ok(Some(len)) if len == std::mem::size_of::<M>() => {}
                    Ok(Some(len)) => return Err(failed(name, format!("a {len}-byte message"))),
                    Ok(None) => return Err(producer_gone(name)),
                    Err(e) => return Err(failed(name, e)),
                }
                check(name, m.seq(), seq)?;
                work.after_message();
            }
            Ok(())
        },
    )
}

/// rtrb, one `push` and one `pop` per message.
fn rtrb_per_message<M: Message>(s: Setup<'_>) -> io::Result<Pair> {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<M>::new(s.in_flight);
    let name = "rtrb push/pop";
    let work = s.work;
    Pair::start(
        name,
        s.placement,
        Box::new(move |first, n| {
            for seq in first..first + n {
                let mut m = M::numbered(seq);
                while let Err(rtrb::PushError::Full(back)) = producer.push(m) {
                    if producer.is_abandoned() {
                        return Err(consumer_gone(name));
                    }
                    m = back;
                    spin_loop();
                }
            }
            Ok(())
        }),
        move |first, n| {
            for seq in first..first + n {
                let m = loop {
                    match consumer.pop() {
                        Ok(m) => break m,
                        Err(_) if consumer.is_abandoned() => return Err(producer_gone(name)),
                        Err(_) => spin_loop(),
                    }
                };
                check(name, m.seq(), seq)?;
                work.after_message();
            }
            Ok(())
        },
    )
}

/// shmpipe, `Batch::send_values` and `RecvBatch::recv_values`, up to a chunk per call.
fn shmpipe_chunks<M: Message>(s: Setup<'_>) -> io::Result<Pair> {
    let (mut writer, mut reader) = s.shmpipe_ring()?;
    let name = "shmpipe send_values/recv_values";
    let (work, chunk) = (s.work, s.chunk);
    let mut values = vec![M::zeroed(); chunk];
    let mut got = vec![M::zeroed(); chunk];
    Pair::start(
        name,
        s.placement,
        Box::new(move |first, n| {
            in_chunks(first, n, chunk, |seq, k| {
                for (i, v) in values[..k].iter_mut().enumerate() {
                    *v = M::numbered(seq + i as u64);
                }
                writer
                    .batch()
                    .send_values(&values[..k])
                    .map_err(|e| send_failed(name, e))?;
                Ok(k)
            })
        }),
        move |first, n| {
            let mut batch = reader.batch();
            in_chunks(first, n, chunk, |seq, room| {
                let k = match batch.recv_values(&mut got[..room]) {
                    Ok(0) => return Err(producer_gone(name)),
                    Ok(k) => k,
                    Err(e) => return Err(failed(name, e)),
                };
                for (i, v) in got[..k].iter().enumerate() {
                    check(name, v.seq(), seq + i as u64)?;
                    work.after_message();
                }
                Ok(k)
            })
        },
    )
}

/// shmpipe, `Batch::reserve_values` and `RecvBatch::recv_values_ref`: the values written and
/// read in place, up to a chunk per call (a run holds at most 4 KiB of them).
fn shmpipe_in_place<M: Message>(s: Setup<'_>) -> io::Result<Pair> {
    let (mut writer, mut reader) = s.shmpipe_ring()?;
    let name = "shmpipe values in place";
    let (work, chunk) = (s.work, s.chunk);
    Pair::start(
        name,
        s.placement,
        Box::new(move |first, n| {
            in_chunks(first, n, chunk, |seq, k| {
                // A chunk is published at once, as rtrb's is: grants (a run holds at most 4
                // KiB of values) until the chunk is written, then one publish.
                let mut batch = writer.batch();
                let mut wrote = 0;
                while wrote < k {
                    let mut grant = batch
                        .reserve_values::<M>(k - wrote)
                        .map_err(|e| send_failed(name, e))?;
                    for (i, v) in grant.iter_mut().enumerate() {
                        *v = M::numbered(seq + (wrote + i) as u64);
                    }
                    wrote += grant.len();
                    grant.commit_all();
                }
                Ok(wrote)
            })
        }),
        move |first, n| {
            let mut batch = reader.batch();
            in_chunks(first, n, chunk, |seq, _| {
                let values = match batch.recv_values_ref::<M>() {
                    Ok(Some(values)) => values,
                    Ok(None) => return Err(producer_gone(name)),
                    Err(e) => return Err(failed(name, e)),
                };
                for (i, m) in values.iter().enumerate() {
                    check(name, m.seq(), seq + i as u64)?;
                }
                let k = values.len();
                drop(values);
                // The work after each message, as rtrb's consumer does it after its chunk.
                for _ in 0..k {
                    work.after_message();
                }
                Ok(k)
            })
        },
    )
}

/// rtrb, `write_chunk_uninit` + `fill_from_iter` and `read_chunk` + `commit_all`, up to a
/// chunk at a time: written and read in place, or (`copied`) used as `send_values` and
/// `recv_values` are, like for like with them: the producer numbers a slice of its own and
/// copies it into the chunk, the consumer copies the chunk out into a slice of its own and
/// checks the numbers there.
fn rtrb_chunks<M: Message>(s: Setup<'_>, copied: bool) -> io::Result<Pair> {
    let (mut producer, mut consumer) = rtrb::RingBuffer::<M>::new(s.in_flight);
    let name = if copied {
        "rtrb chunks, copied"
    } else {
        "rtrb write_chunk/read_chunk"
    };
    let (work, chunk) = (s.work, s.chunk);
    let mut values = vec![M::zeroed(); if copied { chunk } else { 0 }];
    let mut got = values.clone();
    Pair::start(
        name,
        s.placement,
        Box::new(move |first, n| {
            in_chunks(first, n, chunk, |seq, k| {
                let k = k.min(producer.slots());
                if k == 0 {
                    if producer.is_abandoned() {
                        return Err(consumer_gone(name));
                    }
                    spin_loop();
                    return Ok(0);
                }
                let grant = producer
                    .write_chunk_uninit(k)
                    .map_err(|e| failed(name, e))?;
                if !copied {
                    return Ok(grant.fill_from_iter((seq..seq + k as u64).map(M::numbered)));
                }
                for (i, v) in values[..k].iter_mut().enumerate() {
                    *v = M::numbered(seq + i as u64);
                }
                Ok(grant.fill_from_iter(values[..k].iter().copied()))
            })
        }),
        move |first, n| {
            in_chunks(first, n, chunk, |seq, k| {
                let k = k.min(consumer.slots());
                if k == 0 {
                    if consumer.is_abandoned() {
                        return Err(producer_gone(name));
                    }
                    spin_loop();
                    return Ok(0);
                }
                let grant = consumer.read_chunk(k).map_err(|e| failed(name, e))?;
                let (a, b) = grant.as_slices();
                if copied {
                    got[..a.len()].copy_from_slice(a);
                    got[a.len()..k].copy_from_slice(b);
                    grant.commit_all();
                    for (i, v) in got[..k].iter().enumerate() {
                        check(name, v.seq(), seq + i as u64)?;
                        work.after_message();
                    }
                    return Ok(k);
                }
                for (i, m) in a.iter().chain(b).enumerate() {
                    check(name, m.seq(), seq + i as u64)?;
                }
                grant.commit_all();
                // The work after each message, as shmpipe's consumer does it after copying
                // its run out.
                for _ in 0..k {
                    work.after_message();
                }
                Ok(k)
            })
        },
    )
}

/// Messages `first..first + n`, a chunk at a time: `chunk(seq, k)` handles up to `k` of them
/// (at most `max`) from `seq` on and says how many it did (0: none yet; it is called again).
fn in_chunks(
    first: u64,
    n: u64,
    max: usize,
    mut chunk: impl FnMut(u64, usize) -> io::Result<usize>,
) -> io::Result<()> {
    let end = first + n;
    let mut seq = first;
    while seq < end {
        let k = (end - seq).min(max as u64) as usize;
        seq += chunk(seq, k)? as u64;
    }
    Ok(())
}

/// One contender being measured.
struct Contender {
    pair: Pair,
    api: &'static str,
    size: usize,
    batch: u64,
    rates: Vec<f64>,
}

/// The six contenders of one message type, shmpipe's before its rtrb partner, with the API
/// each pair stands for: per message, chunks (copied in and out), chunks in place.
fn contenders_of<M: Message>(
    options: &Options,
    placement: &Placement,
    regime: Regime,
    work: Work,
) -> io::Result<Vec<Contender>> {
    let (capacity, in_flight) = ring_of::<M>(options, regime)?;
    let s = Setup {
        placement,
        work,
        capacity,
        in_flight,
        chunk: (in_flight / 2).clamp(1, CHUNK),
    };
    let pairs = [
        (shmpipe_per_message::<M>(s)?, "per message"),
        (rtrb_per_message::<M>(s)?, "per message"),
        (shmpipe_chunks::<M>(s)?, "chunks"),
        (rtrb_chunks::<M>(s, true)?, "chunks"),
        (shmpipe_in_place::<M>(s)?, "chunks in place"),
        (rtrb_chunks::<M>(s, false)?, "chunks in place"),
    ];
    Ok(pairs
        .into_iter()
        .map(|(pair, api)| Contender {
            pair,
            api,
            size: std::mem::size_of::<M>(),
            batch: 0,
            rates: Vec::new(),
        })
        .collect())
}

fn contenders(
    options: &Options,
    placement: &Placement,
    regime: Regime,
    work: Work,
    size: usize,
) -> io::Result<Vec<Contender>> {
    let (o, p, r, w) = (options, placement, regime, work);
    match size {
        8 => contenders_of::<u64>(o, p, r, w),
        16 => contenders_of::<[u64; 2]>(o, p, r, w),
        32 => contenders_of::<[u64; 4]>(o, p, r, w),
        64 => contenders_of::<[u64; 8]>(o, p, r, w),
        128 => contenders_of::<[u64; 16]>(o, p, r, w),
        256 => contenders_of::<[u64; 32]>(o, p, r, w),
        512 => contenders_of::<[u64; 64]>(o, p, r, w),
        1024 => contenders_of::<[u64; 128]>(o, p, r, w),
        2048 => contenders_of::<[u64; 256]>(o, p, r, w),
        4096 => contenders_of::<[u64; 512]>(o, p, r, w),
        _ => Err(io::Error::other(
            check_sizes(&[size]).err().unwrap_or_default(),
        )),
    }
}

/// Runs the comparison: for each regime and size, the six contenders, warmed up and
/// calibrated (a round's message count grown until one lasts a twentieth of a round), then
/// measured in alternating rounds. `progress` hears what is being done (for a status line).
/// The first failure (a message out of sequence, a broken ring, a stall of
/// [`harness::STALL_LIMIT`]) ends the run with an error naming the contender.
pub fn run(
    options: &Options,
    placement: &Placement,
    mut progress: impl FnMut(&str),
) -> io::Result<Vec<Row>> {
    check_sizes(&options.sizes).map_err(io::Error::other)?;
    let rounds = options.rounds.max(1);
    let per_round = options.per_round.max(Duration::from_micros(100));
    let mut rows = Vec::new();
    for &regime in &options.regimes {
        let work = match regime {
            Regime::Streaming => Work::NONE,
            Regime::Full => harness::full_work(),
        };
        for &size in &options.sizes {
            progress(&format!("{} {size} B: starting...", regime.name()));
            let mut all = contenders(options, placement, regime, work, size)?;
            for c in &mut all {
                let mut n: u64 = 1000;
                c.pair.round(n)?;
                loop {
                    let t = c.pair.round(n)?;
                    if t >= per_round / 20 || n >= 1 << 40 {
                        let scale = per_round.as_secs_f64() / t.as_secs_f64().max(1e-9);
                        c.batch = ((n as f64 * scale) as u64).max(1);
                        break;
                    }
                    n *= 4;
                }
            }
            for round in 0..rounds {
                progress(&format!(
                    "{} {size} B: round {}/{rounds}...",
                    regime.name(),
                    round + 1
                ));
                let count = all.len();
                for k in 0..count {
                    let c = &mut all[(round + k) % count];
                    // The round is held to its time, not to the count calibrated before it:
                    // in a slow minute of the host a fixed count took ten times as long (a
                    // `--mode threads` of 57 s instead of 25). Chunks of an eighth of the
                    // calibrated count, until the round's time has passed.
                    let chunk = (c.batch / CHUNKS_PER_ROUND).max(1);
                    let t = harness::batches_for(per_round, chunk, |n| c.pair.round(n))?;
                    c.rates.push(t.messages as f64 / t.seconds.max(1e-12));
                }
            }
            for pair in all.chunks(2) {
                let [shm, rb] = pair else { continue };
                let ratios = shm
                    .rates
                    .iter()
                    .zip(&rb.rates)
                    .map(|(a, b)| a / b)
                    .collect();
                for (c, vs_rtrb) in [(shm, Some(ratios)), (rb, None)] {
                    rows.push(Row {
                        name: c.pair.name,
                        api: c.api,
                        regime,
                        size: c.size,
                        rates: c.rates.clone(),
                        vs_rtrb,
                    });
                }
            }
        }
    }
    Ok(rows)
}

/// How many pieces a round's calibrated message count is sent in (each timed from its first
/// send to the consumer's acknowledgement of its last; the round's rate is their sum over
/// their times), so that a round ends within about an eighth of its time after its time.
const CHUNKS_PER_ROUND: u64 = 8;

/// Messages per second as `1.51G` or `245.0M` (`15.2k` below a million).
fn rate(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else {
        format!("{:.1}k", v / 1e3)
    }
}

fn ratio(v: f64) -> String {
    format!("{v:.2}x")
}

/// The rows as tables, one per regime: every round, the median and the worst, and under each
/// shmpipe row its ratio to its rtrb partner, round by round.
///
/// ```
/// use shmpipe_bench::threads::{table, Regime, Row};
/// let rows = [
///     Row { name: "shmpipe send/recv", api: "per message", regime: Regime::Streaming, size: 8,
///           rates: vec![2e8, 1e8], vs_rtrb: Some(vec![2.0, 0.5]) },
///     Row { name: "rtrb push/pop", api: "per message", regime: Regime::Streaming, size: 8,
///           rates: vec![1e8, 2e8], vs_rtrb: None },
/// ];
/// let text = table(&rows);
/// assert!(text.contains("shmpipe / rtrb"));
/// assert!(text.contains("0.50x")); // the worst round's ratio
/// ```
pub fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    for regime in [Regime::Streaming, Regime::Full] {
        let these: Vec<&Row> = rows.iter().filter(|r| r.regime == regime).collect();
        let Some(rounds) = these.iter().map(|r| r.rates.len()).max() else {
            continue;
        };
        if !out.is_empty() {
            out += "\n";
        }
        out += match regime {
            Regime::Streaming => {
                "two threads, streaming: the consumer takes messages as fast as it can; \
                 messages/s\n"
            }
            Regime::Full => {
                "two threads, full: the consumer works 1 µs per message, so the producer waits \
                 on a full ring; messages/s\n"
            }
        };
        let mut head = format!("{:<34} {:>5}", "", "size");
        for i in 1..=rounds {
            head += &format!(" {:>8}", format!("r{i}"));
        }
        out += &format!("{head} {:>8} {:>8}\n", "median", "worst");
        for r in these {
            let mut line = format!("{:<34} {:>5}", r.name, r.size);
            for v in &r.rates {
                line += &format!(" {:>8}", rate(*v));
            }
            out += &format!(
                "{line} {:>8} {:>8}\n",
                rate(median(&r.rates)),
                rate(lowest(&r.rates))
            );
            if let Some(ratios) = &r.vs_rtrb {
                let mut line = format!("{:<34} {:>5}", "  shmpipe / rtrb", "");
                for v in ratios {
                    line += &format!(" {:>8}", ratio(*v));
                }
                out += &format!(
                    "{line} {:>8} {:>8}\n",
                    ratio(median(ratios)),
                    ratio(lowest(ratios))
                );
            }
        }
    }
    out
}

/// A number for JSON: `null` if not finite.
fn number(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "null".to_owned()
    }
}

fn numbers(values: &[f64], decimals: usize) -> String {
    let each: Vec<String> = values.iter().map(|v| number(*v, decimals)).collect();
    format!("[{}]", each.join(","))
}

/// The rows as one JSON array of objects with the fields `mode` (`"threads"`), `name`,
/// `api`, `regime`, `msg_size`, `rounds` (messages/s), `median`, `worst`, and
/// `vs_rtrb_rounds`, `vs_rtrb_median`, `vs_rtrb_worst` (shmpipe's rows; `null` in rtrb's).
///
/// ```
/// use shmpipe_bench::threads::{json, Regime, Row};
/// let rows = [Row { name: "rtrb push/pop", api: "per message", regime: Regime::Full,
///                   size: 64, rates: vec![1e6], vs_rtrb: None }];
/// assert!(json(&rows).contains("\"regime\":\"full\",\"msg_size\":64"));
/// ```
pub fn json(rows: &[Row]) -> String {
    let objects: Vec<String> = rows
        .iter()
        .map(|r| {
            let vs = match &r.vs_rtrb {
                Some(v) => format!(
                    "\"vs_rtrb_rounds\":{},\"vs_rtrb_median\":{},\"vs_rtrb_worst\":{}",
                    numbers(v, 3),
                    number(median(v), 3),
                    number(lowest(v), 3)
                ),
                None => "\"vs_rtrb_rounds\":null,\"vs_rtrb_median\":null,\"vs_rtrb_worst\":null"
                    .to_owned(),
            };
            format!(
                "{{\"mode\":\"threads\",\"name\":\"{}\",\"api\":\"{}\",\"regime\":\"{}\",\
                 \"msg_size\":{},\"rounds\":{},\"median\":{},\"worst\":{},{vs}}}",
                r.name,
                r.api,
                r.regime.name(),
                r.size,
                numbers(&r.rates, 1),
                number(median(&r.rates), 1),
                number(lowest(&r.rates), 1)
            )
        })
        .collect();
    format!("[\n  {}\n]\n", objects.join(",\n  "))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Neither thread pinned (tests run beside each other).
    fn unpinned() -> Placement {
        Placement {
            parent: None,
            peer: None,
        }
    }

    fn tiny(sizes: &[usize], regimes: Vec<Regime>) -> Options {
        Options {
            sizes: sizes.to_vec(),
            regimes,
            rounds: 2,
            per_round: Duration::from_millis(2),
            capacity: None,
        }
    }

    #[test]
    fn every_size_runs_every_contender_and_pairs_them() {
        let placement = unpinned();
        let rows = run(
            &tiny(&[8, 4096], vec![Regime::Streaming]),
            &placement,
            |_| {},
        )
        .unwrap();
        assert_eq!(rows.len(), 12);
        for pair in rows.chunks(2) {
            assert!(pair[0].name.starts_with("shmpipe"), "{pair:?}");
            assert!(pair[1].name.starts_with("rtrb"), "{pair:?}");
            assert_eq!(pair[0].api, pair[1].api);
            assert_eq!(pair[0].rates.len(), 2);
            assert!(pair[0].rates.iter().all(|r| *r > 0.0));
            let ratios = pair[0].vs_rtrb.as_ref().unwrap();
            assert_eq!(ratios[0], pair[0].rates[0] / pair[1].rates[0]);
            assert!(pair[1].vs_rtrb.is_none());
        }
        assert_eq!(rows[11].size, 4096);
        // Copies against copies, in place against in place.
        assert_eq!(
            (rows[2].name, rows[3].name),
            ("shmpipe send_values/recv_values", "rtrb chunks, copied")
        );
        assert_eq!(
            (rows[4].name, rows[5].name),
            ("shmpipe values in place", "rtrb write_chunk/read_chunk")
        );
    }

    #[test]
    fn a_small_ring_in_the_full_regime_runs() {
        let placement = unpinned();
        let mut options = tiny(&[64], vec![Regime::Full]);
        options.capacity = Some(256);
        let rows = run(&options, &placement, |_| {}).unwrap();
        assert_eq!(rows.len(), 6);
        assert!(rows.iter().all(|r| r.regime == Regime::Full));
    }

    #[test]
    fn a_message_larger_than_the_ring_is_an_error() {
        let placement = unpinned();
        let mut options = tiny(&[4096], vec![Regime::Streaming]);
        options.capacity = Some(4096);
        let e = run(&options, &placement, |_| {}).unwrap_err();
        assert!(
            e.to_string().contains("does not fit a ring of 4096 bytes"),
            "{e}"
        );
    }

    #[test]
    fn sizes_are_checked_and_named() {
        let e = check_sizes(&[8, 100]).unwrap_err();
        assert!(e.contains("100 is not one of them"), "{e}");
        assert!(
            e.contains("8, 16, 32, 64, 128, 256, 512, 1024, 2048 or 4096"),
            "{e}"
        );
        let placement = unpinned();
        assert!(run(&tiny(&[12], vec![Regime::Full]), &placement, |_| {}).is_err());
    }

    #[test]
    fn a_failing_consumer_ends_the_round_with_its_error_and_no_hang() {
        let placement = unpinned();
        let (mut producer, mut consumer) = rtrb::RingBuffer::<u64>::new(4);
        let mut pair = Pair::start(
            "test",
            &placement,
            Box::new(move |first, n| {
                for seq in first..first + n {
                    while producer.push(seq).is_err() {
                        if producer.is_abandoned() {
                            return Err(consumer_gone("test"));
                        }
                        spin_loop();
                    }
                }
                Ok(())
            }),
            move |first, _| {
                let m = loop {
                    if let Ok(m) = consumer.pop() {
                        break m;
                    }
                    spin_loop();
                };
                // Expects one more than was sent: out of sequence.
                check("test", m, first + 1)
            },
        )
        .unwrap();
        let e = pair.round(100).unwrap_err();
        // The consumer's error, not the producer's "the consumer has stopped".
        assert!(
            e.to_string().contains("expected number 1, received 0"),
            "{e}"
        );
        assert!(pair.round(1).is_err());
    }

    #[test]
    fn tables_and_json_show_every_round_median_and_worst() {
        let rows = [
            Row {
                name: "shmpipe send/recv",
                api: "per message",
                regime: Regime::Streaming,
                size: 8,
                rates: vec![3e8, 1e8, 2e8],
                vs_rtrb: Some(vec![3.0, 0.5, 1.0]),
            },
            Row {
                name: "rtrb push/pop",
                api: "per message",
                regime: Regime::Streaming,
                size: 8,
                rates: vec![1e8, 2e8, 2e8],
                vs_rtrb: None,
            },
        ];
        let text = table(&rows);
        assert!(text.contains("300.0M"), "{text}");
        assert!(text.contains("1.00x    0.50x"), "{text}");
        let json = json(&rows);
        assert!(
            json.contains(
                "\"rounds\":[300000000.0,100000000.0,200000000.0],\"median\":200000000.0,\
             \"worst\":100000000.0,\"vs_rtrb_rounds\":[3.000,0.500,1.000],\
             \"vs_rtrb_median\":1.000,\"vs_rtrb_worst\":0.500"
            ),
            "{json}"
        );
        assert!(json.contains("\"vs_rtrb_rounds\":null"), "{json}");
    }
}
