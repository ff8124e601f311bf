//! Ping-pong latency between two processes: a message goes to the peer and is echoed back,
//! over two shmpipe rings, two pipes, a Unix stream socket pair, or two iceoryx2
//! publish/subscribe services; and the physical floor, a cache line bounced between two
//! threads on the same two CPUs. Criterion reports the mean round trip; after each transport
//! a longer run of individually timed round trips gives p50 / p99 / p99.9, printed and saved
//! to `target/shmpipe-bench/latency.json`. Last, A/B rounds for the targets: the cache-line
//! bounce, shmpipe and iceoryx2 (8 bytes) take turns for seven rounds, and the median of each
//! one's per-round p50 goes to `target/shmpipe-bench/latency-ab.json`.
//!
//! ```text
//! cargo bench --bench latency
//! ```

fn main() {
    imp::main();
}

mod imp {
    use shmpipe_bench::suite as common;

    use shmpipe_bench::cacheline::Bouncer;
    use shmpipe_bench::harness::{self, Mode, Placement};

    /// The message sizes.
    const SIZES: [usize; 3] = [8, 64, 4 << 10];

    /// The transports.
    const TRANSPORTS: &[&str] = &["ring", "pipe", "unix", "iceoryx2"];

    /// Round trips timed one by one for the percentiles.
    fn percentile_round_trips() -> u64 {
        if common::quick() {
            200
        } else {
            200_000
        }
    }

    pub fn main() {
        let placement = common::start("latency");
        let mut c = common::criterion();
        let mut report = Vec::new();
        for size in SIZES {
            let label = common::size_label(size);
            let mut group = c.benchmark_group(format!("latency/{label}"));
            for &transport in TRANSPORTS {
                let mut session = None;
                group.bench_function(transport, |b| {
                    let s = session.get_or_insert_with(|| {
                        common::session(transport, Mode::Latency, size, &placement)
                            .unwrap_or_else(|e| common::fail(transport, e))
                    });
                    b.iter_custom(|iters| {
                        s.round_trips(iters, None)
                            .unwrap_or_else(|e| common::fail(transport, e))
                    });
                });
                if let Some(mut s) = session {
                    let mut samples = Vec::with_capacity(percentile_round_trips() as usize);
                    s.round_trips(percentile_round_trips(), Some(&mut samples))
                        .unwrap_or_else(|e| common::fail(transport, e));
                    s.finish().unwrap_or_else(|e| common::fail(transport, e));
                    report.push(percentiles(transport, size, samples));
                }
            }
            if size == 8 {
                let mut bouncer = None;
                group.bench_function("cacheline", |b| {
                    let p = bouncer.get_or_insert_with(|| {
                        Bouncer::start(&placement).unwrap_or_else(|e| common::fail("cacheline", e))
                    });
                    b.iter_custom(|iters| {
                        p.round_trips(iters, None)
                            .unwrap_or_else(|e| common::fail("cacheline", e))
                    });
                });
                if let Some(mut p) = bouncer {
                    let mut samples = Vec::new();
                    p.round_trips(percentile_round_trips(), Some(&mut samples))
                        .unwrap_or_else(|e| common::fail("cacheline", e));
                    report.push(percentiles("cacheline", 8, samples));
                }
            }
            group.finish();
        }
        c.final_summary();
        if common::listing() {
            return;
        }
        let ab = alternate(&placement);
        if !common::quick() && !report.is_empty() {
            save(&report, &ab);
        }
    }

    /// A/B rounds for the latency targets, whose floor (the cache-line hand-off between the two
    /// vCPUs) moves by several times within minutes on a virtual machine: the cache-line
    /// bounce, shmpipe and iceoryx2 take turns, one round each per turn (only one runs at a
    /// time, as the bouncer and iceoryx2 busy-poll), and the median of the rounds' p50 is
    /// reported.
    fn alternate(placement: &Placement) -> Vec<String> {
        let (rounds, per_round) = if common::quick() {
            (1, 100)
        } else {
            (7, 20_000)
        };
        let names = ["cacheline", "ring", "iceoryx2"];
        let mut p50s: Vec<Vec<u64>> = vec![Vec::new(); names.len()];
        for _ in 0..rounds {
            for (i, &name) in names.iter().enumerate() {
                let mut samples = Vec::with_capacity(per_round as usize);
                if name == "cacheline" {
                    let mut b =
                        Bouncer::start(placement).unwrap_or_else(|e| common::fail("cacheline", e));
                    b.round_trips(per_round / 10, None)
                        .unwrap_or_else(|e| common::fail("cacheline", e));
                    b.round_trips(per_round, Some(&mut samples))
                        .unwrap_or_else(|e| common::fail("cacheline", e));
                } else {
                    let mut s = common::session(name, Mode::Latency, 8, placement)
                        .unwrap_or_else(|e| common::fail(name, e));
                    s.round_trips(per_round / 10, None)
                        .unwrap_or_else(|e| common::fail(name, e));
                    s.round_trips(per_round, Some(&mut samples))
                        .unwrap_or_else(|e| common::fail(name, e));
                    s.finish().unwrap_or_else(|e| common::fail(name, e));
                }
                samples.sort_unstable();
                p50s[i].push(samples[samples.len() / 2]);
            }
        }
        let mut out = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let mut v = p50s[i].clone();
            v.sort_unstable();
            let median = v[v.len() / 2];
            println!(
                "latency/ab/8B/{name}: median of {rounds} alternating rounds' p50 round trip {median} ns (rounds: {:?})",
                p50s[i]
            );
            out.push(format!(
                "{{\"transport\":\"{name}\",\"msg_size\":8,\"rounds\":{rounds},\"round_trips_per_round\":{per_round},\"median_p50_ns\":{median},\"p50_ns_by_round\":{:?}}}",
                p50s[i]
            ));
        }
        out
    }

    /// Prints one transport's round-trip percentiles and returns them as a JSON object.
    fn percentiles(transport: &str, size: usize, mut samples: Vec<u64>) -> String {
        samples.sort_unstable();
        let l = harness::Latency {
            round_trips: samples.len() as u64,
            seconds: samples.iter().sum::<u64>() as f64 / 1e9,
            sorted_ns: samples,
        };
        let (p50, p99, p999) = (l.quantile(0.5), l.quantile(0.99), l.quantile(0.999));
        println!(
            "latency/{}/{transport}: round trip p50 {p50} ns, p99 {p99} ns, p99.9 {p999} ns ({} round trips)",
            common::size_label(size),
            l.round_trips
        );
        format!(
            "{{\"transport\":\"{transport}\",\"msg_size\":{size},\"round_trips\":{},\"p50_ns\":{p50},\"p99_ns\":{p99},\"p999_ns\":{p999}}}",
            l.round_trips
        )
    }

    fn save(report: &[String], ab: &[String]) {
        let dir = std::path::Path::new("target/shmpipe-bench");
        let text = format!("[\n  {}\n]\n", report.join(",\n  "));
        let ab = format!("[\n  {}\n]\n", ab.join(",\n  "));
        if std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(dir.join("latency.json"), text))
            .and_then(|()| std::fs::write(dir.join("latency-ab.json"), ab))
            .is_err()
        {
            eprintln!("latency: could not save target/shmpipe-bench/latency.json");
        }
    }
}
