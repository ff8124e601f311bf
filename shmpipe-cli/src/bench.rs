//! `shmpipe bench`: the quick side-by-side of shmpipe, pipes and Unix sockets between two
//! processes, as a table or as JSON.
//!
//! Each transport, message size and mode runs in a fresh peer: this program started again with
//! the hidden `bench-peer` subcommand (see [`harness`]). Throughput is messages per second one
//! way, acknowledged per round; latency is the ping-pong round trip, with percentiles.

use std::io::{IsTerminal, Write};
use std::process::Command;
use std::time::Duration;

use shmpipe_bench::harness::{self, Mode, Placement, Session, Spec};

use crate::args::{BenchArgs, BenchMode, BenchPeerArgs};
use crate::{say, Failure, Outcome};

/// One measured row, with the fields of the JSON output.
#[derive(Debug, Clone)]
struct Row {
    transport: String,
    mode: Mode,
    msg_size: usize,
    messages: u64,
    seconds: f64,
    /// Round-trip percentiles, in nanoseconds (latency rows).
    percentiles: Option<[u64; 3]>,
}

impl Row {
    fn msgs_per_sec(&self) -> f64 {
        self.messages as f64 / self.seconds.max(1e-12)
    }

    fn bytes_per_sec(&self) -> f64 {
        self.msgs_per_sec() * self.msg_size as f64
    }
}

/// Runs `shmpipe bench`.
pub(crate) fn run(args: BenchArgs) -> Outcome {
    let placement = harness::place();
    let machine = harness::describe_machine(&placement);
    let modes: &[Mode] = match args.mode {
        BenchMode::Both => &[Mode::Throughput, Mode::Latency],
        BenchMode::Throughput => &[Mode::Throughput],
        BenchMode::Latency => &[Mode::Latency],
    };
    let progress = std::io::stderr().is_terminal() && !args.json;
    if !args.json {
        println!("shmpipe bench: {machine}");
        println!(
            "{} per measurement; each transport between two processes\n",
            seconds_text(args.seconds)
        );
    }
    let mut rows = Vec::new();
    let mut failed = 0;
    for &mode in modes {
        for &size in &args.sizes {
            for transport in &args.transports {
                let name = transport.name();
                if progress {
                    eprint!("\r\x1b[K  {name} {} {}...", mode.name(), size_text(size));
                }
                match measure(name, mode, size, args.capacity, args.seconds, &placement) {
                    Ok(row) => rows.push(row),
                    Err(e) => {
                        if progress {
                            eprint!("\r\x1b[K");
                        }
                        say(&format!(
                            "bench: {name} {} of {size}-byte messages failed: {e}",
                            mode.name()
                        ));
                        failed += 1;
                    }
                }
            }
        }
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    let text = if args.json { json(&rows) } else { table(&rows) };
    let mut out = std::io::stdout().lock();
    if out
        .write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return Err(Failure::runtime("cannot write the results to stdout"));
    }
    if failed > 0 {
        return Err(Failure::runtime(format!(
            "bench: {failed} measurement(s) failed (see above)"
        )));
    }
    Ok(())
}

/// One measurement in a fresh peer.
fn measure(
    transport: &str,
    mode: Mode,
    size: usize,
    capacity: Option<u64>,
    budget: Duration,
    placement: &Placement,
) -> std::io::Result<Row> {
    let capacity = capacity.unwrap_or_else(|| harness::default_capacity(size));
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
    let row = match mode {
        Mode::Throughput => {
            let t = harness::measure_throughput(&mut session, size, budget)?;
            Row {
                transport: transport.to_owned(),
                mode,
                msg_size: size,
                messages: t.messages,
                seconds: t.seconds,
                percentiles: None,
            }
        }
        Mode::Latency => {
            let l = harness::measure_latency(&mut session, budget)?;
            Row {
                transport: transport.to_owned(),
                mode,
                msg_size: size,
                messages: l.round_trips,
                seconds: l.seconds,
                percentiles: Some([l.quantile(0.5), l.quantile(0.99), l.quantile(0.999)]),
            }
        }
    };
    session.finish()?;
    Ok(row)
}

/// Runs the hidden `bench-peer` subcommand: the other process of a measurement.
pub(crate) fn peer(args: BenchPeerArgs) -> Outcome {
    harness::run_peer(&args.spec, harness::builtin_peer)
        .map_err(|e| Failure::runtime(format!("bench peer ({}): {e}", args.spec)))
}

/// The results as one JSON array (the fields `transport, mode, msg_size, messages, seconds, msgs_per_sec, bytes_per_sec, p50_ns, p99_ns, p999_ns`).
fn json(rows: &[Row]) -> String {
    let objects: Vec<String> = rows
        .iter()
        .map(|r| {
            let [p50, p99, p999] = match r.percentiles {
                Some(p) => p.map(|v| v.to_string()),
                None => ["null".to_owned(), "null".to_owned(), "null".to_owned()],
            };
            format!(
                "{{\"transport\":\"{}\",\"mode\":\"{}\",\"msg_size\":{},\"messages\":{},\
                 \"seconds\":{:.6},\"msgs_per_sec\":{:.1},\"bytes_per_sec\":{:.1},\
                 \"p50_ns\":{p50},\"p99_ns\":{p99},\"p999_ns\":{p999}}}",
                r.transport,
                r.mode.name(),
                r.msg_size,
                r.messages,
                r.seconds,
                r.msgs_per_sec(),
                r.bytes_per_sec(),
            )
        })
        .collect();
    format!("[\n  {}\n]\n", objects.join(",\n  "))
}

/// The results as two tables: throughput (with the ratio to `pipe` of the same size, when
/// measured) and round-trip latency.
fn table(rows: &[Row]) -> String {
    let mut out = String::new();
    let throughput: Vec<&Row> = rows.iter().filter(|r| r.mode == Mode::Throughput).collect();
    if !throughput.is_empty() {
        out += "throughput (one way)\n";
        out += &format!(
            "{:<14} {:>8} {:>14} {:>12} {:>9}\n",
            "transport", "size", "msgs/s", "MB/s", "vs pipe"
        );
        for r in &throughput {
            let pipe = throughput
                .iter()
                .find(|p| p.transport == "pipe" && p.msg_size == r.msg_size);
            let ratio = pipe.map_or(String::from("-"), |p| {
                format!("{:.1}x", r.msgs_per_sec() / p.msgs_per_sec())
            });
            out += &format!(
                "{:<14} {:>8} {:>14} {:>12.1} {:>9}\n",
                r.transport,
                size_text(r.msg_size),
                group_thousands(r.msgs_per_sec() as u64),
                r.bytes_per_sec() / 1e6,
                ratio
            );
        }
    }
    let latency: Vec<&Row> = rows.iter().filter(|r| r.mode == Mode::Latency).collect();
    if !latency.is_empty() {
        if !out.is_empty() {
            out += "\n";
        }
        out += "latency (ping-pong round trip; one way is about half)\n";
        out += &format!(
            "{:<14} {:>8} {:>12} {:>10} {:>10} {:>10}\n",
            "transport", "size", "round trips", "p50", "p99", "p99.9"
        );
        for r in &latency {
            let [p50, p99, p999] = r.percentiles.unwrap_or([0; 3]);
            out += &format!(
                "{:<14} {:>8} {:>12} {:>10} {:>10} {:>10}\n",
                r.transport,
                size_text(r.msg_size),
                group_thousands(r.messages),
                nanos_text(p50),
                nanos_text(p99),
                nanos_text(p999)
            );
        }
    }
    out
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

/// Nanoseconds as `850 ns`, `12.3 µs` or `4.1 ms`.
fn nanos_text(ns: u64) -> String {
    if ns < 10_000 {
        format!("{ns} ns")
    } else if ns < 10_000_000 {
        format!("{:.1} µs", ns as f64 / 1e3)
    } else {
        format!("{:.1} ms", ns as f64 / 1e6)
    }
}

fn seconds_text(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// `12345678` as `12,345,678`.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mode: Mode, percentiles: Option<[u64; 3]>) -> Row {
        Row {
            transport: "ring".into(),
            mode,
            msg_size: 64,
            messages: 1000,
            seconds: 0.5,
            percentiles,
        }
    }

    #[test]
    fn json_has_the_design_fields_and_nulls_for_throughput() {
        let text = json(&[
            row(Mode::Throughput, None),
            row(Mode::Latency, Some([1, 2, 3])),
        ]);
        assert!(text.contains(
            "{\"transport\":\"ring\",\"mode\":\"throughput\",\"msg_size\":64,\"messages\":1000,\
             \"seconds\":0.500000,\"msgs_per_sec\":2000.0,\"bytes_per_sec\":128000.0,\
             \"p50_ns\":null,\"p99_ns\":null,\"p999_ns\":null}"
        ));
        assert!(text.contains("\"p50_ns\":1,\"p99_ns\":2,\"p999_ns\":3}"));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(group_thousands(1234567), "1,234,567");
        assert_eq!(group_thousands(999), "999");
        assert_eq!(size_text(65536), "64K");
        assert_eq!(size_text(1 << 20), "1M");
        assert_eq!(size_text(100), "100");
        assert_eq!(nanos_text(850), "850 ns");
        assert_eq!(nanos_text(12_345), "12.3 µs");
    }

    #[test]
    fn specs_round_trip() {
        let spec = Spec {
            transport: "ring".into(),
            mode: Mode::Latency,
            size: 64,
            capacity: 1 << 18,
            args: vec!["a".into(), "b".into()],
        };
        assert_eq!(Spec::decode(&spec.encode()).unwrap(), spec);
        assert!(Spec::decode("ring sideways 8 16").is_err());
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
