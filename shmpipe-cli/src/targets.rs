//! `shmpipe bench --mode targets`: issue 13's per-message targets measured in one run, each
//! shown with what it asks for, its median and worst round, and whether it is met.
//!
//! The measurements are the command's own, with the sizes and capacities the targets name:
//! ring against pipe between two processes ([`bench::measure`]: streaming, 8 B, 64 B and
//! 4 KiB on 4 MiB rings, 64 B on 1 MiB rings), the 8-byte round trip through two rings
//! against a cache line bounced between the same two CPUs ([`Bouncer`], a round of each in
//! turn), and shmpipe against rtrb between two threads ([`threads::run`]: 8 and 64 B, both
//! regimes). Every ratio is taken round by round, as everywhere in `shmpipe bench`. The idle
//! reader's CPU, death detection and the wake-up of a sleeping reader are measured by other
//! tools (named in the output), not here.

use std::io::IsTerminal;
use std::time::Duration;

use shmpipe_bench::cacheline::Bouncer;
use shmpipe_bench::harness::{self, lowest, median, Mode, Placement};
use shmpipe_bench::threads::{self, Regime};

use crate::args::BenchArgs;
use crate::bench::{self, json_number, nanos_text, seconds_text, Plan};
use crate::show::quote;
use crate::{Failure, Outcome};

/// One target and what the run found.
#[derive(Debug, Clone)]
struct Verdict {
    /// What is measured, in words.
    target: String,
    /// The median must be at least this (`Above`) or at most this (`Below`).
    wanted: Wanted,
    /// Where the target also bounds the worst round: at least this.
    worst_wanted: Option<f64>,
    /// The figure of each round (a ratio).
    rounds: Vec<f64>,
    /// Why it could not be measured, if it could not.
    error: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Wanted {
    /// A ratio of at least this: more is better.
    Above(f64),
    /// A ratio of at most this: less is better.
    Below(f64),
}

impl Verdict {
    fn new(target: impl Into<String>, wanted: Wanted, rounds: Vec<f64>) -> Verdict {
        Verdict {
            target: target.into(),
            wanted,
            worst_wanted: None,
            rounds,
            error: None,
        }
    }

    fn failed(target: impl Into<String>, wanted: Wanted, error: String) -> Verdict {
        Verdict {
            error: Some(error),
            ..Verdict::new(target, wanted, Vec::new())
        }
    }

    fn median(&self) -> f64 {
        median(&self.rounds)
    }

    /// The worst round: the lowest ratio, or the highest where less is better.
    fn worst(&self) -> f64 {
        match self.wanted {
            Wanted::Above(_) => lowest(&self.rounds),
            Wanted::Below(_) => self.rounds.iter().copied().fold(f64::NAN, f64::max),
        }
    }

    /// Met in the median (and, where the target bounds it, in the worst round)?
    fn met(&self) -> bool {
        if self.rounds.is_empty() || self.error.is_some() {
            return false;
        }
        let median_ok = match self.wanted {
            Wanted::Above(w) => self.median() >= w,
            Wanted::Below(w) => self.median() <= w,
        };
        median_ok && self.worst_wanted.is_none_or(|w| self.worst() >= w)
    }

    fn wanted_text(&self) -> String {
        let median = match self.wanted {
            Wanted::Above(w) => format!(">= {}", ratio_text(w)),
            Wanted::Below(w) => format!("<= {}", ratio_text(w)),
        };
        match self.worst_wanted {
            Some(w) => format!("{median}, worst >= {}", ratio_text(w)),
            None => median,
        }
    }
}

/// Decimals of a measured ratio in the JSON.
const RATIO_DECIMALS: usize = 6;

/// A ratio as `71.0x` or `0.997x`: three decimals under 10, so a median a hair under 1.0x
/// does not print as `1.00x` beside "MISSED".
fn ratio_text(v: f64) -> String {
    if v >= 10.0 {
        format!("{v:.1}x")
    } else {
        format!("{v:.3}x")
    }
}

/// `v` as [`ratio_text`] writes it, with more decimals (up to six) where that would read the
/// same as `bound`, the figure it is judged against, without being it: a median of 0.9996
/// beside "MISSED" prints as `0.9996x`, not `1.000x`.
fn ratio_beside(v: f64, bound: f64) -> String {
    let text = ratio_text(v);
    if v == bound || text != ratio_text(bound) {
        return text;
    }
    for decimals in 4..=6 {
        let (ours, theirs) = (format!("{v:.decimals$}x"), format!("{bound:.decimals$}x"));
        if ours != theirs {
            return ours;
        }
    }
    format!("{v:.6}x")
}

/// Runs `shmpipe bench --mode targets`.
pub(crate) fn run(args: BenchArgs) -> Outcome {
    for (given, what) in [
        (args.sizes.is_some(), "--sizes"),
        (args.transports.is_some(), "--transports"),
        (args.capacity.is_some(), "--capacity"),
    ] {
        if given {
            return Err(Failure::usage(format!(
                "bench: {what} does not apply to --mode targets, which measures the sizes, \
                 transports and ring capacities the targets name (leave it out, or pick \
                 another --mode)"
            )));
        }
    }
    let rounds = args.rounds.max(1);
    let per_round = args.seconds / rounds;
    let placement = harness::place();
    let progress = std::io::stderr().is_terminal() && !args.json;
    if !args.json {
        println!("shmpipe bench: {}", harness::describe_machine(&placement));
        println!(
            "the per-message targets (docs/BENCHMARKS.md, \"Targets\"): {rounds} round(s) of {} \
             per contender, the contenders taking turns; every ratio taken round by round; \
             every message numbered and checked\n",
            seconds_text(per_round)
        );
    }
    let mut verdicts = Vec::new();
    let mut failed = 0;

    // Between two processes, streaming: 8 B, 64 B and 4 KiB on the default 4 MiB rings.
    let plan = Plan {
        modes: &[Mode::Throughput],
        sizes: &[8, 64, 4 << 10],
        transports: &["ring", "pipe"],
        capacity: None,
        rounds,
        per_round,
        progress,
    };
    let (rows, n) = bench::measure(&plan, &placement);
    failed += n;
    let ratio = |rows: &[bench::Row], size: usize| {
        rows.iter()
            .find(|r| r.transport == "ring" && r.msg_size == size && !r.vs_pipe.is_empty())
            .map(|r| r.vs_pipe.clone())
    };
    let mut processes = |target: &str, wanted: f64, worst: Option<f64>, found: Option<Vec<f64>>| {
        let mut v = match found {
            Some(rounds) => Verdict::new(target, Wanted::Above(wanted), rounds),
            None => Verdict::failed(
                target,
                Wanted::Above(wanted),
                "not measured (see the error above)".to_owned(),
            ),
        };
        v.worst_wanted = worst;
        verdicts.push(v);
    };
    processes(
        "two processes, send/recv, 8 B, 4 MiB ring: ring / pipe",
        50.0,
        None,
        ratio(&rows, 8),
    );
    processes(
        "two processes, send/recv, 64 B, 4 MiB ring: ring / pipe",
        30.0,
        Some(15.0),
        ratio(&rows, 64),
    );
    processes(
        "two processes, send/recv, 4 KiB, 4 MiB ring (the CLI's default): ring / pipe",
        4.0,
        None,
        ratio(&rows, 4 << 10),
    );
    // 64 B on 1 MiB rings.
    let plan = Plan {
        sizes: &[64],
        capacity: Some(1 << 20),
        ..plan
    };
    let (rows, n) = bench::measure(&plan, &placement);
    failed += n;
    processes(
        "two processes, send/recv, 64 B, 1 MiB ring: ring / pipe",
        30.0,
        Some(15.0),
        ratio(&rows, 64),
    );

    // The 8-byte round trip against the cache line.
    let latency = "8 B round trip, ring / the cache line bounced between the same CPUs";
    let measured = if placement.peer.is_none() {
        // Unpinned, the bouncing threads would share whatever CPU the scheduler gives them:
        // no floor to judge by.
        Err(std::io::Error::other(
            "needs two CPUs to pin a sender and its peer to (this process may use one)",
        ))
    } else {
        round_trip_against_cache_line(rounds, per_round, &placement, progress)
    };
    match measured {
        Ok(rounds) => verdicts.push(Verdict::new(latency, Wanted::Below(1.6), rounds)),
        Err(e) => {
            eprintln!("bench: targets: the round trip against the cache line: {e}");
            failed += 1;
            verdicts.push(Verdict::failed(latency, Wanted::Below(1.6), e.to_string()));
        }
    }

    // Between two threads: shmpipe against rtrb.
    let options = threads::Options {
        sizes: vec![8, 64],
        regimes: vec![Regime::Streaming, Regime::Full],
        rounds: rounds as usize,
        per_round,
        capacity: None,
    };
    let result = threads::run(&options, &placement, |what| {
        if progress {
            eprint!("\r\x1b[K  threads {what}");
        }
    });
    if progress {
        eprint!("\r\x1b[K");
    }
    match result {
        Ok(rows) => {
            for row in &rows {
                let Some(vs) = &row.vs_rtrb else { continue };
                let partner = match row.api {
                    "per message" => "rtrb push/pop",
                    "chunks" => "rtrb chunks, copied",
                    _ => "rtrb chunks",
                };
                verdicts.push(Verdict::new(
                    format!(
                        "two threads, {}, {} B, {}: {} / {partner}",
                        row.regime.name(),
                        row.size,
                        row.api,
                        row.name
                    ),
                    Wanted::Above(1.0),
                    vs.clone(),
                ));
            }
        }
        Err(e) => {
            eprintln!("bench: targets: threads: {e}");
            failed += 1;
            verdicts.push(Verdict::failed(
                "two threads, shmpipe / rtrb",
                Wanted::Above(1.0),
                e.to_string(),
            ));
        }
    }

    let text = if args.json {
        json(&verdicts)
    } else {
        table(&verdicts)
    };
    bench::print_results(&text)?;
    if failed > 0 {
        return Err(Failure::runtime(format!(
            "bench: {failed} measurement(s) failed (see above)"
        )));
    }
    Ok(())
}

/// Rounds of 8-byte round trips through two rings (a peer process echoing) and of a cache line
/// bounced between two threads on the same two CPUs, in turn (one at a time: the bouncer spins
/// on the peer's CPU while it runs); each round's ring p50 over the cache line's p50.
fn round_trip_against_cache_line(
    rounds: u32,
    per_round: Duration,
    placement: &Placement,
    progress: bool,
) -> std::io::Result<Vec<f64>> {
    let (mut session, _) = bench::start("ring", Mode::Latency, 8, None, per_round, placement)?;
    let mut ratios = Vec::new();
    for round in 0..rounds {
        if progress {
            eprint!(
                "\r\x1b[K  ring and cache line, round trips: round {}/{rounds}...",
                round + 1
            );
        }
        let mut bouncer = Bouncer::start(placement)?;
        bouncer.latency_for(per_round / 10)?;
        let line = bouncer.latency_for(per_round)?.quantile(0.5);
        drop(bouncer);
        // The peer slept while the line bounced: wake it before timing.
        harness::warm_up_latency(&mut session, per_round / 10)?;
        let ring = harness::latency_for(&mut session, per_round)?.quantile(0.5);
        ratios.push(ring as f64 / line.max(1) as f64);
        if progress {
            eprint!(
                "\r\x1b[K  round {}: ring {} against {}",
                round + 1,
                nanos_text(ring),
                nanos_text(line)
            );
        }
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    session.finish()?;
    Ok(ratios)
}

/// The targets as a table, with a line saying how many are met.
fn table(verdicts: &[Verdict]) -> String {
    let width = verdicts
        .iter()
        .map(|v| v.target.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = format!(
        "{:<width$}  {:>22}  {:>8}  {:>8}  {}\n",
        "target", "wanted", "median", "worst", "rounds"
    );
    for v in verdicts {
        let (median, worst, verdict) = match &v.error {
            Some(_) => ("-".to_owned(), "-".to_owned(), "not measured"),
            None => {
                let bound = match v.wanted {
                    Wanted::Above(w) | Wanted::Below(w) => w,
                };
                (
                    ratio_beside(v.median(), bound),
                    ratio_beside(v.worst(), v.worst_wanted.unwrap_or(bound)),
                    if v.met() { "met" } else { "MISSED" },
                )
            }
        };
        let rounds: Vec<String> = v.rounds.iter().map(|&r| ratio_text(r)).collect();
        out.push_str(&format!(
            "{:<width$}  {:>22}  {median:>8}  {worst:>8}  {verdict}  ({})\n",
            v.target,
            v.wanted_text(),
            rounds.join(" ")
        ));
    }
    let met = verdicts.iter().filter(|v| v.met()).count();
    out.push_str(&format!(
        "\n{met} of {} targets met (the median, and the worst round where a target bounds it).\n\
         Measured elsewhere: an idle reader's CPU and how soon it hears a death \
         (cargo run --release -p shmpipe --example idle_cpu), a sleeping reader's wake-up \
         against a pipe's (cargo bench -p shmpipe-bench --bench wakeup).\n",
        verdicts.len()
    ));
    out
}

/// The targets as one JSON array.
fn json(verdicts: &[Verdict]) -> String {
    let items: Vec<String> = verdicts
        .iter()
        .map(|v| {
            let (kind, wanted) = match v.wanted {
                Wanted::Above(w) => ("at_least", w),
                Wanted::Below(w) => ("at_most", w),
            };
            // Six decimals: a median of 0.9996 is not `1.000` beside `"met":false` (the
            // verdict taken from the rounds as printed must be the one printed).
            let rounds: Vec<String> = v
                .rounds
                .iter()
                .map(|&r| json_number(r, RATIO_DECIMALS))
                .collect();
            format!(
                "{{\"mode\":\"targets\",\"target\":{},\"wanted\":{{\"median_{kind}\":{},\
                 \"worst_at_least\":{}}},\"rounds\":[{}],\"median\":{},\"worst\":{},\"met\":{},\
                 \"error\":{}}}",
                quote(&v.target),
                json_number(wanted, 3),
                v.worst_wanted
                    .map_or("null".to_owned(), |w| json_number(w, 3)),
                rounds.join(","),
                if v.rounds.is_empty() {
                    "null".to_owned()
                } else {
                    json_number(v.median(), RATIO_DECIMALS)
                },
                if v.rounds.is_empty() {
                    "null".to_owned()
                } else {
                    json_number(v.worst(), RATIO_DECIMALS)
                },
                v.met(),
                v.error.as_deref().map_or("null".to_owned(), quote),
            )
        })
        .collect();
    format!("[\n  {}\n]\n", items.join(",\n  "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_met_in_the_median_and_where_it_says_so_in_the_worst_round() {
        let mut v = Verdict::new("t", Wanted::Above(30.0), vec![40.0, 31.0, 10.0, 50.0, 35.0]);
        assert_eq!(v.median(), 35.0);
        assert_eq!(v.worst(), 10.0);
        assert!(v.met());
        v.worst_wanted = Some(15.0);
        assert!(!v.met(), "the worst round (10x) is under 15x");
        let low = Verdict::new("l", Wanted::Below(1.6), vec![1.7, 1.5, 1.5]);
        assert_eq!(low.worst(), 1.7);
        assert!(low.met());
        assert!(!Verdict::new("h", Wanted::Below(1.6), vec![1.7, 1.69, 1.5]).met());
        assert!(!Verdict::failed("f", Wanted::Above(1.0), "boom".into()).met());
    }

    #[test]
    fn table_and_json_say_what_was_met() {
        let mut ok = Verdict::new("ok \"quoted\"", Wanted::Above(1.0), vec![1.2, 1.1]);
        ok.worst_wanted = Some(1.0);
        let missed = Verdict::new("missed", Wanted::Below(1.6), vec![2.0]);
        let gone = Verdict::failed("gone", Wanted::Above(4.0), "no peer".into());
        let all = [ok, missed, gone];
        let t = table(&all);
        assert!(t.contains("1 of 3 targets met"), "{t}");
        assert!(t.contains("MISSED") && t.contains("not measured"), "{t}");
        let j = json(&all);
        assert!(j.contains("\"target\":\"ok \\\"quoted\\\"\""), "{j}");
        assert!(
            j.contains("\"met\":true") && j.contains("\"met\":false"),
            "{j}"
        );
        assert!(j.contains("\"median_at_most\":1.600"), "{j}");
        assert!(j.contains("\"error\":\"no peer\""), "{j}");
        assert!(j.contains("\"median\":null"), "{j}");
        // A median a hair under its bound reads as under it, in the table and in the JSON.
        let hair = Verdict::new("hair", Wanted::Above(1.0), vec![0.9996]);
        let t = table(std::slice::from_ref(&hair));
        assert!(t.contains("0.9996x") && t.contains("MISSED"), "{t}");
        let j = json(&[hair]);
        assert!(j.contains("\"median\":0.999600"), "{j}");
        assert_eq!(ratio_beside(1.02, 1.0), "1.020x");
        assert_eq!(ratio_beside(49.97, 50.0), "49.9700x");
        assert_eq!(ratio_beside(1.0, 1.0), "1.000x");
    }
}
