//! `shmpipe bench`: the quick side-by-side of shmpipe, pipes and Unix sockets between two
//! processes, as tables or as JSON; with `--mode threads`, shmpipe against rtrb between two
//! threads ([`shmpipe_bench::threads`]).
//!
//! Each transport, message size and mode runs in a fresh peer: this program started again with
//! the hidden `bench-peer` subcommand (see [`harness`]). The peers of every transport of one
//! size and mode are started together, and the measurement is made in rounds that alternate
//! between them (round 1 of each, then round 2 of each, ...), each round's figure kept.
//! Throughput is messages per second one way, acknowledged per batch, in two regimes
//! (streaming, full); latency is the ping-pong round trip, with percentiles. Every message is
//! numbered, and the receiver checks the numbers.

use std::io::{IsTerminal, Write};
use std::process::Command;
use std::time::Duration;

use shmpipe_bench::harness::{self, lowest, median, Mode, Placement, Session, Spec};
use shmpipe_bench::threads;

use crate::args::{BenchArgs, BenchMode, BenchPeerArgs, TransportArg};
use crate::{say, Failure, Outcome};

/// One round of one transport.
#[derive(Debug, Clone, PartialEq)]
struct Round {
    messages: u64,
    seconds: f64,
    /// Round-trip percentiles p50, p99, p99.9 in nanoseconds (latency rounds).
    percentiles: Option<[u64; 3]>,
}

impl Round {
    fn msgs_per_sec(&self) -> f64 {
        self.messages as f64 / self.seconds.max(1e-12)
    }

    /// The figure the rounds are compared by: messages/s, or the p50 round trip.
    fn figure(&self) -> f64 {
        match self.percentiles {
            Some([p50, _, _]) => p50 as f64,
            None => self.msgs_per_sec(),
        }
    }
}

/// One measured row (transport, mode, size): its rounds, with the fields of the JSON output.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    pub(crate) transport: String,
    mode: Mode,
    pub(crate) msg_size: usize,
    rounds: Vec<Round>,
    /// Percentiles of every round trip of every round (latency rows).
    percentiles: Option<[u64; 3]>,
    /// This row's figure over the pipe's, round by round (how many times better: more
    /// messages/s, or a shorter p50); empty without a pipe row of the same size and mode.
    pub(crate) vs_pipe: Vec<f64>,
}

impl Row {
    fn messages(&self) -> u64 {
        self.rounds.iter().map(|r| r.messages).sum()
    }

    fn seconds(&self) -> f64 {
        self.rounds.iter().map(|r| r.seconds).sum()
    }

    fn msgs_per_sec(&self) -> f64 {
        self.messages() as f64 / self.seconds().max(1e-12)
    }

    fn bytes_per_sec(&self) -> f64 {
        self.msgs_per_sec() * self.msg_size as f64
    }

    /// Each round's figure: messages/s, or the p50 round trip in nanoseconds.
    fn figures(&self) -> Vec<f64> {
        self.rounds.iter().map(Round::figure).collect()
    }

    /// The median round's figure.
    fn median(&self) -> f64 {
        median(&self.figures())
    }

    /// The worst round's figure: the fewest messages/s, or the longest p50.
    fn worst(&self) -> f64 {
        let figures = self.figures();
        if self.mode == Mode::Latency {
            figures.iter().copied().fold(f64::NAN, f64::max)
        } else {
            figures.iter().copied().fold(f64::NAN, f64::min)
        }
    }
}

/// A transport's live peer during one size and mode.
struct Live {
    name: &'static str,
    session: Option<Session>,
    /// Messages per throughput batch, from the calibration.
    batch: u64,
    row: Row,
    /// Every round trip's time of every round (latency).
    samples: Vec<u64>,
}

/// The sizes measured between processes unless `--sizes` says otherwise.
const DEFAULT_SIZES: &[usize] = &[8, 64, 4 << 10, 64 << 10];

/// The transports measured unless `--transports` says otherwise.
const DEFAULT_TRANSPORTS: &[TransportArg] =
    &[TransportArg::Ring, TransportArg::Pipe, TransportArg::Unix];

/// Runs `shmpipe bench`.
pub(crate) fn run(args: BenchArgs) -> Outcome {
    let modes: &[Mode] = match args.mode {
        BenchMode::Both => &[Mode::Throughput, Mode::Full, Mode::Latency],
        BenchMode::Throughput => &[Mode::Throughput, Mode::Full],
        BenchMode::Streaming => &[Mode::Throughput],
        BenchMode::Full => &[Mode::Full],
        BenchMode::Latency => &[Mode::Latency],
        BenchMode::Threads => return run_threads(args),
        BenchMode::Targets => return crate::targets::run(args),
    };
    let sizes = args.sizes.unwrap_or_else(|| DEFAULT_SIZES.to_vec());
    let transports = args
        .transports
        .unwrap_or_else(|| DEFAULT_TRANSPORTS.to_vec());
    let placement = harness::place();
    let machine = harness::describe_machine(&placement);
    let rounds = args.rounds.max(1);
    let per_round = args.seconds / rounds;
    let progress = std::io::stderr().is_terminal() && !args.json;
    if !args.json {
        println!("shmpipe bench: {machine}");
        println!(
            "{rounds} round(s) of {} per transport, size and mode, the transports taking turns \
             (round 1 of each, then round 2 of each, ...);\neach transport between two \
             processes; every message numbered, and the numbers checked by the receiver\n",
            seconds_text(per_round)
        );
    }
    let names: Vec<&'static str> = transports.iter().map(|t| t.name()).collect();
    let plan = Plan {
        modes,
        sizes: &sizes,
        transports: &names,
        capacity: args.capacity,
        rounds,
        per_round,
        progress,
    };
    let (rows, failed) = measure(&plan, &placement);
    // What the full regime's receiver work costs here (this CPU, now): its ceiling.
    let full_cost = modes
        .contains(&Mode::Full)
        .then(|| harness::full_work().cost());
    let text = if args.json {
        json(&rows)
    } else {
        table(&rows, full_cost)
    };
    print_results(&text)?;
    if failed > 0 {
        return Err(Failure::runtime(format!(
            "bench: {failed} measurement(s) failed (see above)"
        )));
    }
    Ok(())
}

/// What one comparison between two processes covers: every transport at every size in every
/// mode, in rounds that alternate between the transports.
#[derive(Clone, Copy)]
pub(crate) struct Plan<'a> {
    pub(crate) modes: &'a [Mode],
    pub(crate) sizes: &'a [usize],
    pub(crate) transports: &'a [&'static str],
    /// The ring capacity; `None`: the harness's default for the mode and size.
    pub(crate) capacity: Option<u64>,
    pub(crate) rounds: u32,
    pub(crate) per_round: Duration,
    /// Show which measurement runs on stderr (a terminal).
    pub(crate) progress: bool,
}

/// Measures `plan`: its rows (each with its ratio to the pipe's row of the same size and mode,
/// if measured), and how many measurements failed (each reported on stderr as it failed; its
/// rows are left out).
pub(crate) fn measure(plan: &Plan<'_>, placement: &Placement) -> (Vec<Row>, usize) {
    let Plan {
        modes,
        sizes,
        transports,
        capacity,
        rounds,
        per_round,
        progress,
    } = *plan;
    let mut rows = Vec::new();
    let mut failed = 0;
    for &mode in modes {
        for &size in sizes {
            let mut live = Vec::new();
            for &name in transports {
                if progress {
                    eprint!(
                        "\r\x1b[K  {name} {} {}: starting...",
                        mode_text(mode),
                        size_text(size)
                    );
                }
                match start(name, mode, size, capacity, per_round, placement) {
                    Ok((session, batch)) => live.push(Live {
                        name,
                        session: Some(session),
                        batch,
                        row: Row {
                            transport: name.to_owned(),
                            mode,
                            msg_size: size,
                            rounds: Vec::new(),
                            percentiles: None,
                            vs_pipe: Vec::new(),
                        },
                        samples: Vec::new(),
                    }),
                    Err(e) => {
                        failure(progress, name, mode, size, &e);
                        failed += 1;
                    }
                }
            }
            for round in 0..rounds as usize {
                // Each round starts one transport later, so none is always first.
                let count = live.len();
                for k in 0..count {
                    let t = &mut live[(round + k) % count];
                    let Some(session) = t.session.as_mut() else {
                        continue;
                    };
                    if progress {
                        eprint!(
                            "\r\x1b[K  {} {} {}: round {}/{rounds}...",
                            t.name,
                            mode_text(mode),
                            size_text(size),
                            round + 1
                        );
                    }
                    let measured = if mode.is_throughput() {
                        harness::throughput_for(session, t.batch, per_round).map(|m| Round {
                            messages: m.messages,
                            seconds: m.seconds,
                            percentiles: None,
                        })
                    } else {
                        harness::latency_for(session, per_round).map(|l| {
                            t.samples.extend_from_slice(&l.sorted_ns);
                            Round {
                                messages: l.round_trips,
                                seconds: l.seconds,
                                percentiles: Some(percentiles(&l)),
                            }
                        })
                    };
                    match measured {
                        Ok(r) => t.row.rounds.push(r),
                        Err(e) => {
                            failure(progress, t.name, mode, size, &e);
                            failed += 1;
                            t.session = None; // its rounds are dropped below
                        }
                    }
                }
            }
            let mut done = Vec::new();
            for mut t in live {
                let Some(session) = t.session.take() else {
                    continue;
                };
                if let Err(e) = session.finish() {
                    failure(progress, t.name, mode, size, &e);
                    failed += 1;
                    continue;
                }
                if mode == Mode::Latency {
                    t.samples.sort_unstable();
                    let all = harness::Latency {
                        round_trips: t.samples.len() as u64,
                        seconds: 0.0,
                        sorted_ns: std::mem::take(&mut t.samples),
                    };
                    t.row.percentiles = Some(percentiles(&all));
                }
                done.push(t.row);
            }
            compare_with_pipe(&mut done);
            rows.extend(done);
        }
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    (rows, failed)
}

/// Runs `shmpipe bench --mode threads`: shmpipe against rtrb between two threads of this
/// process ([`threads`]), in both regimes, `--seconds` per contender split over the rounds.
fn run_threads(args: BenchArgs) -> Outcome {
    if args.transports.is_some() {
        return Err(Failure::usage(
            "bench: --transports does not apply to --mode threads, which compares shmpipe \
             with rtrb between two threads (leave it out, or pick another --mode)",
        ));
    }
    let sizes = args
        .sizes
        .unwrap_or_else(|| threads::DEFAULT_SIZES.to_vec());
    threads::check_sizes(&sizes).map_err(|e| Failure::usage(format!("bench: {e}")))?;
    if let (Some(capacity), Some(&largest)) = (args.capacity, sizes.iter().max()) {
        if largest as u64 + 8 > capacity {
            return Err(Failure::usage(format!(
                "bench: a {largest}-byte message does not fit a ring of {} bytes; raise \
                 --capacity",
                size_text(capacity as usize)
            )));
        }
    }
    let rounds = args.rounds.max(1);
    let options = threads::Options {
        sizes,
        regimes: vec![threads::Regime::Streaming, threads::Regime::Full],
        rounds: rounds as usize,
        per_round: args.seconds / rounds,
        capacity: args.capacity,
    };
    let placement = harness::place();
    let progress = std::io::stderr().is_terminal() && !args.json;
    if !args.json {
        println!("shmpipe bench: {}", harness::describe_machine(&placement));
        println!(
            "two threads of this process, shmpipe against rtrb, like for like; {rounds} \
             round(s) of {} per contender, the contenders taking turns;\nshmpipe rings of {} \
             (rtrb: as many messages); every message numbered, and the numbers checked by the \
             consumer\n",
            seconds_text(options.per_round),
            args.capacity
                .map_or("4 MiB streaming, 64 KiB full".to_owned(), |c| {
                    format!("{} bytes", size_text(c as usize))
                }),
        );
    }
    let result = threads::run(&options, &placement, |what| {
        if progress {
            eprint!("\r\x1b[K  threads {what}");
        }
    });
    if progress {
        eprint!("\r\x1b[K");
    }
    let rows = result.map_err(|e| Failure::runtime(format!("bench: threads: {e}")))?;
    let text = if args.json {
        threads::json(&rows)
    } else {
        threads::table(&rows)
    };
    print_results(&text)
}

/// Writes the results (tables or JSON) to stdout.
pub(crate) fn print_results(text: &str) -> Outcome {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .map_err(|_| Failure::runtime("cannot write the results to stdout"))
}

fn failure(progress: bool, name: &str, mode: Mode, size: usize, e: &std::io::Error) {
    if progress {
        eprint!("\r\x1b[K");
    }
    say(&format!(
        "bench: {name} {} of {size}-byte messages failed: {e}",
        mode_text(mode)
    ));
}

fn percentiles(l: &harness::Latency) -> [u64; 3] {
    [l.quantile(0.5), l.quantile(0.99), l.quantile(0.999)]
}

/// Sets each row's ratio to the pipe of its size and mode, round by round.
fn compare_with_pipe(rows: &mut [Row]) {
    let Some(pipe) = rows.iter().find(|r| r.transport == "pipe").cloned() else {
        return;
    };
    for row in rows.iter_mut() {
        row.vs_pipe = row
            .rounds
            .iter()
            .zip(&pipe.rounds)
            .map(|(r, p)| match row.mode {
                Mode::Latency => p.figure() / r.figure().max(1.0),
                _ => r.figure() / p.figure().max(1e-12),
            })
            .collect();
    }
}

/// Starts a transport's peer and warms it up: calibrates the throughput batch (returned), or
/// runs round trips for a tenth of a round.
pub(crate) fn start(
    transport: &str,
    mode: Mode,
    size: usize,
    capacity: Option<u64>,
    per_round: Duration,
    placement: &Placement,
) -> std::io::Result<(Session, u64)> {
    let capacity = capacity.unwrap_or_else(|| harness::capacity_for(mode, size));
    if transport.starts_with("ring") && (size as u64).saturating_add(8) > capacity {
        return Err(std::io::Error::other(format!(
            "a {size}-byte message does not fit a ring of {capacity} bytes; raise --capacity"
        )));
    }
    let setup = harness::builtin_setup(transport, mode, size, capacity)?
        .ok_or_else(|| std::io::Error::other(format!("unknown transport {transport}")))?;
    let exe = std::env::current_exe()?;
    let spec = Spec::new(transport, mode, size, capacity);
    let mut session = Session::start(
        Command::new(exe),
        |command, spec| {
            command.arg("bench-peer").arg(spec);
        },
        spec,
        setup,
        placement,
    )?;
    let batch = if mode.is_throughput() {
        harness::calibrate_throughput(&mut session, size, per_round)?
    } else {
        harness::warm_up_latency(&mut session, per_round / 10)?;
        0
    };
    Ok((session, batch))
}

/// Runs the hidden `bench-peer` subcommand: the other process of a measurement.
pub(crate) fn peer(args: BenchPeerArgs) -> Outcome {
    harness::run_peer(&args.spec, harness::builtin_peer)
        .map_err(|e| Failure::runtime(format!("bench peer ({}): {e}", args.spec)))
}

/// A number for JSON: `null` if not finite.
pub(crate) fn json_number(v: f64, decimals: usize) -> String {
    if v.is_finite() {
        format!("{v:.decimals$}")
    } else {
        "null".to_owned()
    }
}

fn json_percentiles(p: Option<[u64; 3]>) -> [String; 3] {
    match p {
        Some(p) => p.map(|v| v.to_string()),
        None => ["null".to_owned(), "null".to_owned(), "null".to_owned()],
    }
}

/// The results as one JSON array (the fields are listed in `shmpipe bench --help`).
fn json(rows: &[Row]) -> String {
    let objects: Vec<String> = rows
        .iter()
        .map(|r| {
            let [p50, p99, p999] = json_percentiles(r.percentiles);
            let rounds: Vec<String> = r
                .rounds
                .iter()
                .map(|x| {
                    let [p50, p99, p999] = json_percentiles(x.percentiles);
                    format!(
                        "{{\"messages\":{},\"seconds\":{:.6},\"msgs_per_sec\":{:.1},\
                         \"p50_ns\":{p50},\"p99_ns\":{p99},\"p999_ns\":{p999}}}",
                        x.messages,
                        x.seconds,
                        x.msgs_per_sec()
                    )
                })
                .collect();
            let regime = r
                .mode
                .regime()
                .map_or("null".to_owned(), |g| format!("\"{g}\""));
            let (vs_rounds, vs_median, vs_worst) = if r.vs_pipe.is_empty() {
                ("null".to_owned(), "null".to_owned(), "null".to_owned())
            } else {
                let each: Vec<String> = r.vs_pipe.iter().map(|v| json_number(*v, 3)).collect();
                (
                    format!("[{}]", each.join(",")),
                    json_number(median(&r.vs_pipe), 3),
                    json_number(lowest(&r.vs_pipe), 3),
                )
            };
            let mode = if r.mode.is_throughput() {
                "throughput"
            } else {
                "latency"
            };
            format!(
                "{{\"transport\":\"{}\",\"mode\":\"{mode}\",\"regime\":{regime},\"msg_size\":{},\
                 \"messages\":{},\"seconds\":{:.6},\"msgs_per_sec\":{:.1},\"bytes_per_sec\":{:.1},\
                 \"p50_ns\":{p50},\"p99_ns\":{p99},\"p999_ns\":{p999},\
                 \"rounds\":[{}],\"median\":{},\"worst\":{},\
                 \"vs_pipe_rounds\":{vs_rounds},\"vs_pipe_median\":{vs_median},\
                 \"vs_pipe_worst\":{vs_worst}}}",
                r.transport,
                r.msg_size,
                r.messages(),
                r.seconds(),
                r.msgs_per_sec(),
                r.bytes_per_sec(),
                rounds.join(","),
                json_number(r.median(), 1),
                json_number(r.worst(), 1),
            )
        })
        .collect();
    format!("[\n  {}\n]\n", objects.join(",\n  "))
}

/// How a mode is named in the output.
fn mode_text(mode: Mode) -> &'static str {
    match mode {
        Mode::Throughput => "throughput (streaming)",
        Mode::Full => "throughput (full)",
        Mode::Latency => "latency",
    }
}

/// The results as tables, one per mode: every round, the median and the worst, and under each
/// transport its ratio to the pipe of the same size, round by round.
fn table(rows: &[Row], full_cost: Option<Duration>) -> String {
    let mut out = String::new();
    for mode in [Mode::Throughput, Mode::Full, Mode::Latency] {
        let these: Vec<&Row> = rows.iter().filter(|r| r.mode == mode).collect();
        let Some(rounds) = these.iter().map(|r| r.rounds.len()).max() else {
            continue;
        };
        if !out.is_empty() {
            out += "\n";
        }
        out += &match mode {
            Mode::Throughput => "throughput (one way), streaming: the receiver takes messages as \
                                 fast as it can; messages/s\n"
                .to_owned(),
            Mode::Full => {
                let cost = full_cost.map_or(String::new(), |c| {
                    format!(
                        " (measured {} ns here: at most {}/s)",
                        c.as_nanos(),
                        rate_text(1e9 / c.as_nanos().max(1) as f64)
                    )
                });
                format!(
                    "throughput (one way), full: the receiver works 1 µs per message{cost} and \
                     rings are 64 KiB, so the sender waits for room; messages/s\n"
                )
            }
            Mode::Latency => "latency (ping-pong round trip; one way is about half): p50 of each \
                              round; p99 and p99.9 of all rounds\n"
                .to_owned(),
        };
        let mut head = format!("{:<14} {:>5}", "transport", "size");
        for i in 1..=rounds {
            head += &format!(" {:>8}", format!("r{i}"));
        }
        head += &format!(" {:>8} {:>8}", "median", "worst");
        head += if mode == Mode::Latency {
            "      p99    p99.9"
        } else {
            "  MB/s (median)"
        };
        out += head.trim_end();
        out += "\n";
        for r in these {
            let cell = |v: f64| {
                if mode == Mode::Latency {
                    nanos_text(v as u64)
                } else {
                    rate_text(v)
                }
            };
            let mut line = format!("{:<14} {:>5}", r.transport, size_text(r.msg_size));
            for x in &r.rounds {
                line += &format!(" {:>8}", cell(x.figure()));
            }
            for _ in r.rounds.len()..rounds {
                line += &format!(" {:>8}", "-");
            }
            line += &format!(" {:>8} {:>8}", cell(r.median()), cell(r.worst()));
            match r.percentiles {
                Some([_, p99, p999]) => {
                    line += &format!(" {:>8} {:>8}", nanos_text(p99), nanos_text(p999));
                }
                None => {
                    line += &format!(" {:>9.1}", r.median() * r.msg_size as f64 / 1e6);
                }
            }
            out += &line;
            out += "\n";
            if r.transport != "pipe" && !r.vs_pipe.is_empty() {
                let mut line = format!("{:<14} {:>5}", "  vs pipe", "");
                for v in &r.vs_pipe {
                    line += &format!(" {:>8}", ratio_text(*v));
                }
                for _ in r.vs_pipe.len()..rounds {
                    line += &format!(" {:>8}", "-");
                }
                line += &format!(
                    " {:>8} {:>8}",
                    ratio_text(median(&r.vs_pipe)),
                    ratio_text(lowest(&r.vs_pipe))
                );
                out += &line;
                out += "\n";
            }
        }
    }
    out
}

/// A ratio as `41.2x` (`0.93x` below 10).
fn ratio_text(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.1}x")
    } else {
        format!("{v:.2}x")
    }
}

/// Messages per second as `152.3M`, `15.2k` or `950`.
fn rate_text(v: f64) -> String {
    if v >= 1e9 {
        format!("{:.2}G", v / 1e9)
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// `4096` as `4K`, `1048576` as `1M`, other sizes in bytes.
fn size_text(size: usize) -> String {
    if size >= 1 << 20 && size % (1 << 20) == 0 {
        format!("{}M", size >> 20)
    } else if size >= 1 << 10 && size % (1 << 10) == 0 {
        format!("{}K", size >> 10)
    } else {
        format!("{size}")
    }
}

/// Nanoseconds as `850 ns`, `12.3 µs` or `4.12 ms`.
pub(crate) fn nanos_text(ns: u64) -> String {
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 1_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.2} ms", ns as f64 / 1e6)
    }
}

pub(crate) fn seconds_text(d: Duration) -> String {
    let text = format!("{:.3}", d.as_secs_f64());
    let text = text.trim_end_matches('0').trim_end_matches('.');
    format!("{text} s")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(messages: u64, percentiles: Option<[u64; 3]>) -> Round {
        Round {
            messages,
            seconds: 0.5,
            percentiles,
        }
    }

    fn row(transport: &str, mode: Mode, rounds: Vec<Round>) -> Row {
        Row {
            transport: transport.into(),
            mode,
            msg_size: 64,
            rounds,
            percentiles: None,
            vs_pipe: Vec::new(),
        }
    }

    #[test]
    fn json_has_the_design_fields_and_nulls_for_throughput() {
        let mut latency = row(
            "ring",
            Mode::Latency,
            vec![round(100, Some([1, 2, 3])), round(100, Some([3, 4, 5]))],
        );
        latency.percentiles = Some([2, 4, 5]);
        let text = json(&[
            row("ring", Mode::Throughput, vec![round(1000, None)]),
            latency,
        ]);
        assert!(text.contains(
            "{\"transport\":\"ring\",\"mode\":\"throughput\",\"regime\":\"streaming\",\
             \"msg_size\":64,\"messages\":1000,\
             \"seconds\":0.500000,\"msgs_per_sec\":2000.0,\"bytes_per_sec\":128000.0,\
             \"p50_ns\":null,\"p99_ns\":null,\"p999_ns\":null,\
             \"rounds\":[{\"messages\":1000,\"seconds\":0.500000,\"msgs_per_sec\":2000.0,\
             \"p50_ns\":null,\"p99_ns\":null,\"p999_ns\":null}],\"median\":2000.0,\
             \"worst\":2000.0,\"vs_pipe_rounds\":null,\"vs_pipe_median\":null,\
             \"vs_pipe_worst\":null}"
        ));
        assert!(text.contains("\"regime\":null"));
        assert!(text.contains("\"p50_ns\":2,\"p99_ns\":4,\"p999_ns\":5,\"rounds\""));
        assert!(text.contains("\"median\":2.0,\"worst\":3.0"));
    }

    #[test]
    fn ratios_to_the_pipe_pair_rounds_by_index() {
        let mut rows = vec![
            row(
                "ring",
                Mode::Full,
                vec![round(100, None), round(300, None), round(50, None)],
            ),
            row(
                "pipe",
                Mode::Full,
                vec![round(10, None), round(100, None), round(25, None)],
            ),
        ];
        compare_with_pipe(&mut rows);
        assert_eq!(rows[0].vs_pipe, vec![10.0, 3.0, 2.0]);
        assert_eq!(median(&rows[0].vs_pipe), 3.0);
        assert_eq!(lowest(&rows[0].vs_pipe), 2.0);
        assert_eq!(rows[0].median(), 200.0);
        assert_eq!(rows[0].worst(), 100.0);
        assert_eq!(rows[1].vs_pipe, vec![1.0, 1.0, 1.0]);
        let text = table(&rows, Some(Duration::from_nanos(125)));
        assert!(text.contains("  vs pipe"), "{text}");
        assert!(text.contains("10.0x"), "{text}");
        assert!(
            text.contains("(measured 125 ns here: at most 8.0M/s)"),
            "{text}"
        );

        // Latency: a shorter p50 is better; the worst round is the longest.
        let mut rows = vec![
            row(
                "ring",
                Mode::Latency,
                vec![round(1, Some([200, 0, 0])), round(1, Some([400, 0, 0]))],
            ),
            row(
                "pipe",
                Mode::Latency,
                vec![
                    round(1, Some([20_000, 0, 0])),
                    round(1, Some([20_000, 0, 0])),
                ],
            ),
        ];
        compare_with_pipe(&mut rows);
        assert_eq!(rows[0].vs_pipe, vec![100.0, 50.0]);
        assert_eq!(rows[0].worst(), 400.0);
        assert_eq!(median(&[1.0, 2.0, 3.0, 4.0]), 2.5);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(rate_text(152_345_678.0), "152.3M");
        assert_eq!(rate_text(15_234.0), "15.2k");
        assert_eq!(rate_text(1_520_000_000.0), "1.52G");
        assert_eq!(ratio_text(41.23), "41.2x");
        assert_eq!(ratio_text(0.934), "0.93x");
        assert_eq!(seconds_text(Duration::from_millis(200)), "0.2 s");
        assert_eq!(seconds_text(Duration::from_secs(1) / 3), "0.333 s");
        assert_eq!(size_text(65536), "64K");
        assert_eq!(size_text(1 << 20), "1M");
        assert_eq!(size_text(100), "100");
        assert_eq!(nanos_text(850), "850 ns");
        assert_eq!(nanos_text(12_345), "12.3 µs");
        assert_eq!(nanos_text(1_442_800), "1.44 ms");
    }

    #[test]
    fn specs_round_trip() {
        for mode in [Mode::Throughput, Mode::Full, Mode::Latency] {
            let spec = Spec {
                transport: "ring".into(),
                mode,
                size: 64,
                capacity: 1 << 18,
                args: vec!["a".into(), "b".into()],
            };
            assert_eq!(Spec::decode(&spec.encode()).unwrap(), spec);
        }
        assert!(Spec::decode("ring sideways 8 16").is_err());
    }

    #[test]
    fn sequence_numbers_are_checked() {
        let mut msg = vec![0u8; 64];
        harness::stamp(&mut msg, 41);
        assert!(harness::check_seq(&msg, 41).is_ok());
        let e = harness::check_seq(&msg, 42).unwrap_err();
        assert!(
            e.to_string().contains("expected number 42, received 41"),
            "{e}"
        );
        let mut short = vec![0u8; 2];
        harness::stamp(&mut short, 0x1_0203);
        assert!(harness::check_seq(&short, 0x1_0203).is_ok());
        assert!(harness::check_seq(&short, 0x1_0204).is_err());
    }

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let l = harness::Latency {
            round_trips: 1000,
            seconds: 1.0,
            sorted_ns: (1..=1000).collect(),
        };
        assert_eq!(l.quantile(0.5), 500);
        assert_eq!(l.quantile(0.99), 990);
        assert_eq!(l.quantile(0.999), 999);
    }
}
