//! `shmpipe bench`, run as the real binary with tiny measurements: the JSON carries exactly
//! the documented JSON fields with sane values, the table has both sections, and bad
//! arguments exit 2 with one line. Every run is bounded by a deadline.
#![cfg(not(loom))]

use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::Value;

mod support;

use support::{collect, Proc};

/// A bench run with tiny measurements still starts many peers: give it longer than one step.
const DEADLINE: Duration = Duration::from_secs(120);

/// Runs `shmpipe ARGS`, killing it if it outlives the deadline.
fn run(args: &[&str]) -> Output {
    run_with_pid(args).0
}

/// Runs `shmpipe ARGS` like [`run`], and also returns its pid.
fn run_with_pid(args: &[&str]) -> (Output, u32) {
    let mut proc = Proc::spawn(args, Stdio::null(), Stdio::piped());
    let pid = proc.pid();
    let stdout = collect(proc.stdout());
    let ended = proc.wait_for(DEADLINE);
    let output = Output {
        status: ended.status,
        stdout: stdout.finish(),
        stderr: ended.stderr.into_bytes(),
    };
    (output, pid)
}

/// Runs `shmpipe ARGS`, which must succeed: its stdout.
fn stdout_of_success(args: &[&str]) -> Vec<u8> {
    let out = run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    out.stdout
}

/// `object`'s fields are exactly `want`, in any order.
fn assert_fields(object: &Value, want: &[&str]) {
    let mut keys: Vec<&str> = object
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    let mut want = want.to_vec();
    want.sort_unstable();
    assert_eq!(keys, want, "{object}");
}

const FIELDS: [&str; 17] = [
    "transport",
    "mode",
    "regime",
    "msg_size",
    "messages",
    "seconds",
    "msgs_per_sec",
    "bytes_per_sec",
    "p50_ns",
    "p99_ns",
    "p999_ns",
    "rounds",
    "median",
    "worst",
    "vs_pipe_rounds",
    "vs_pipe_median",
    "vs_pipe_worst",
];

const ROUND_FIELDS: [&str; 6] = [
    "messages",
    "seconds",
    "msgs_per_sec",
    "p50_ns",
    "p99_ns",
    "p999_ns",
];

#[test]
fn json_rows_have_exactly_the_design_fields() {
    let (out, pid) = run_with_pid(&[
        "bench",
        "--seconds",
        "0.05",
        "--sizes",
        "64",
        "--transports",
        "ring,pipe,unix",
        "--rounds",
        "3",
        "--json",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "exit {:?}: {stderr}", out.status);
    let rows: Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON value");
    let rows = rows.as_array().expect("an array");
    assert_eq!(
        rows.len(),
        9,
        "three transports; streaming, full and latency: {rows:?}"
    );
    for row in rows {
        assert_fields(row, &FIELDS);
        assert_eq!(row["msg_size"], 64);
        let messages = row["messages"].as_u64().expect("an integer count");
        let seconds = row["seconds"].as_f64().unwrap();
        let rate = row["msgs_per_sec"].as_f64().unwrap();
        let bytes = row["bytes_per_sec"].as_f64().unwrap();
        assert!(messages > 0 && seconds > 0.0 && rate > 0.0, "{row}");
        let expected = messages as f64 / seconds;
        assert!((rate - expected).abs() <= expected * 1e-3 + 1.0, "{row}");
        assert!((bytes - rate * 64.0).abs() <= bytes * 1e-3 + 64.0, "{row}");
        // Every round, adding up to the totals.
        let rounds = row["rounds"].as_array().expect("rounds");
        assert_eq!(rounds.len(), 3, "{row}");
        let mut sum = 0;
        for r in rounds {
            assert_fields(r, &ROUND_FIELDS);
            sum += r["messages"].as_u64().unwrap();
        }
        assert_eq!(sum, messages, "{row}");
        let median = row["median"].as_f64().expect("a median");
        let worst = row["worst"].as_f64().expect("a worst round");
        let per_round =
            |key: &str| -> Vec<f64> { rounds.iter().map(|r| r[key].as_f64().unwrap()).collect() };
        // Against the pipe: round by round, every row but the pipe's own is compared.
        let ratios = row["vs_pipe_rounds"]
            .as_array()
            .expect("ratios to the pipe");
        assert_eq!(ratios.len(), 3, "{row}");
        let ratio_median = row["vs_pipe_median"].as_f64().unwrap();
        let ratio_worst = row["vs_pipe_worst"].as_f64().unwrap();
        assert!(0.0 < ratio_worst && ratio_worst <= ratio_median, "{row}");
        if row["transport"] == "pipe" {
            assert!(ratios.iter().all(|r| r.as_f64() == Some(1.0)), "{row}");
        }
        match row["mode"].as_str() {
            Some("throughput") => {
                assert!(
                    matches!(row["regime"].as_str(), Some("streaming" | "full")),
                    "{row}"
                );
                for p in ["p50_ns", "p99_ns", "p999_ns"] {
                    assert!(row[p].is_null(), "{p} in {row}");
                }
                let rates = per_round("msgs_per_sec");
                let least = rates.iter().copied().fold(f64::INFINITY, f64::min);
                assert!((worst - least).abs() <= least * 1e-3 + 0.1, "{row}");
                assert!(worst <= median, "{row}");
            }
            Some("latency") => {
                assert!(row["regime"].is_null(), "{row}");
                let p50 = row["p50_ns"].as_u64().expect("p50");
                let p99 = row["p99_ns"].as_u64().expect("p99");
                let p999 = row["p999_ns"].as_u64().expect("p99.9");
                assert!(0 < p50 && p50 <= p99 && p99 <= p999, "{row}");
                let p50s = per_round("p50_ns");
                let longest = p50s.iter().copied().fold(0.0, f64::max);
                assert_eq!(worst, longest, "{row}");
                assert!(worst >= median, "{row}");
            }
            other => panic!("mode {other:?}"),
        }
    }
    let transports: Vec<&str> = rows
        .iter()
        .map(|r| r["transport"].as_str().unwrap())
        .collect();
    for t in ["ring", "pipe", "unix"] {
        assert_eq!(transports.iter().filter(|&&x| x == t).count(), 3, "{t}");
    }
    // Nothing left behind in /dev/shm: the bench's ring names carry its pid.
    let prefix = format!("shmpipe-bench-{pid}-");
    let leftovers: Vec<String> = std::fs::read_dir("/dev/shm")
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn the_table_has_throughput_and_latency_sections() {
    let out = run(&[
        "bench",
        "--seconds",
        "0.05",
        "--sizes",
        "8,4K",
        "--transports",
        "ring,ring-batch,ring-zerocopy,pipe-1m,seqpacket",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("shmpipe bench: "), "{stdout}");
    assert!(
        stdout.contains("throughput (one way), streaming"),
        "{stdout}"
    );
    assert!(stdout.contains("throughput (one way), full"), "{stdout}");
    assert!(stdout.contains("latency (ping-pong round trip"), "{stdout}");
    // Two sizes in three modes; no pipe row, so no ratios.
    for t in ["ring-batch", "ring-zerocopy", "pipe-1m", "seqpacket"] {
        assert_eq!(
            stdout.matches(&format!("\n{t} ")).count(),
            6,
            "{t}: {stdout}"
        );
    }
    assert!(!stdout.contains("vs pipe"), "{stdout}");
    // Five rounds by default, each shown, with the median and the worst.
    assert!(
        stdout.contains(" r1 ") && stdout.contains(" r5 ") && !stdout.contains(" r6 "),
        "{stdout}"
    );
    assert!(
        stdout.contains(" median ") && stdout.contains(" worst "),
        "{stdout}"
    );
}

#[test]
fn rounds_alternate_and_each_is_compared_with_the_pipe() {
    let out = run(&[
        "bench",
        "--seconds",
        "0.05",
        "--sizes",
        "8",
        "--transports",
        "ring,pipe",
        "--mode",
        "streaming",
        "--rounds",
        "2",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("2 round(s) of 0.025 s"), "{stdout}");
    assert!(!stdout.contains(" r3 "), "{stdout}");
    assert!(!stdout.contains(", full"), "{stdout}");
    assert!(!stdout.contains("latency"), "{stdout}");
    let ratio = stdout
        .lines()
        .find(|l| l.starts_with("  vs pipe"))
        .unwrap_or_else(|| panic!("a ratio line: {stdout}"));
    // Two rounds, the median and the worst.
    assert_eq!(
        ratio
            .split_whitespace()
            .filter(|w| w.ends_with('x'))
            .count(),
        4,
        "{ratio}"
    );
}

#[test]
fn bad_arguments_exit_2_with_one_line() {
    for args in [
        &["bench", "--sizes", "0"][..],
        &["bench", "--sizes", "64,huge"],
        &["bench", "--sizes", "32M"],
        &["bench", "--transports", "carrier-pigeon"],
        &["bench", "--seconds", "-1"],
        &["bench", "--seconds", "soon"],
        &["bench", "--mode", "sideways"],
        &["bench", "--rounds", "0"],
        &["bench", "--rounds", "many"],
        &["bench", "--capacity", "100K"],
        &["bench", "extra"],
        &["bench", "--mode", "threads", "--transports", "pipe"],
        &["bench", "--mode", "threads", "--sizes", "24"],
        &["bench", "--mode", "threads", "--sizes", "64K"],
        &[
            "bench",
            "--mode",
            "threads",
            "--sizes",
            "4K",
            "--capacity",
            "4K",
        ],
        &["bench", "--mode", "targets", "--sizes", "8"],
        &["bench", "--mode", "targets", "--transports", "ring,pipe"],
        &["bench", "--mode", "targets", "--capacity", "1M"],
    ] {
        let out = run(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("shmpipe: "), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn a_message_larger_than_the_ring_fails_with_a_clear_line() {
    let out = run(&[
        "bench",
        "--seconds",
        "0.05",
        "--sizes",
        "64K",
        "--capacity",
        "16K",
        "--transports",
        "ring",
        "--mode",
        "throughput",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("does not fit a ring of 16384 bytes"),
        "{stderr}"
    );
}

#[test]
fn help_lists_bench_but_not_the_peer() {
    let out = run(&["--help"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("bench"), "{stdout}");
    assert!(!stdout.contains("bench-peer"), "{stdout}");
}

const THREADS_FIELDS: [&str; 11] = [
    "mode",
    "name",
    "api",
    "regime",
    "msg_size",
    "rounds",
    "median",
    "worst",
    "vs_rtrb_rounds",
    "vs_rtrb_median",
    "vs_rtrb_worst",
];

#[test]
fn threads_mode_compares_with_rtrb_like_for_like_in_json() {
    let stdout = stdout_of_success(&[
        "bench",
        "--mode",
        "threads",
        "--seconds",
        "0.02",
        "--rounds",
        "2",
        "--sizes",
        "8,128",
        "--json",
    ]);
    let rows: Vec<Value> = serde_json::from_slice(&stdout).expect("one JSON array");
    // Two regimes, two sizes, three pairs each.
    assert_eq!(rows.len(), 24, "{rows:?}");
    for pair in rows.chunks(2) {
        let (shm, rb) = (&pair[0], &pair[1]);
        for row in [shm, rb] {
            assert_fields(row, &THREADS_FIELDS);
            assert_eq!(row["mode"], "threads");
            let rounds = row["rounds"].as_array().unwrap();
            assert_eq!(rounds.len(), 2, "{row}");
            assert!(rounds.iter().all(|r| r.as_f64().unwrap() > 0.0), "{row}");
            let (median, worst) = (
                row["median"].as_f64().unwrap(),
                row["worst"].as_f64().unwrap(),
            );
            assert!(worst <= median, "{row}");
        }
        assert!(
            shm["name"].as_str().unwrap().starts_with("shmpipe"),
            "{shm}"
        );
        assert!(rb["name"].as_str().unwrap().starts_with("rtrb"), "{rb}");
        assert_eq!(shm["api"], rb["api"]);
        assert_eq!(shm["msg_size"], rb["msg_size"]);
        assert_eq!(shm["regime"], rb["regime"]);
        // The ratio is taken round by round.
        let ratios = shm["vs_rtrb_rounds"].as_array().unwrap();
        for (i, ratio) in ratios.iter().enumerate() {
            let want = shm["rounds"][i].as_f64().unwrap() / rb["rounds"][i].as_f64().unwrap();
            let got = ratio.as_f64().unwrap();
            assert!((got - want).abs() <= 0.002 * want.max(1.0), "{shm} {rb}");
        }
        assert!(rb["vs_rtrb_rounds"].is_null(), "{rb}");
    }
    let apis: Vec<&str> = rows.iter().filter_map(|r| r["api"].as_str()).collect();
    for api in ["per message", "chunks", "chunks in place"] {
        assert_eq!(apis.iter().filter(|a| **a == api).count(), 8, "{api}");
    }
    for regime in ["streaming", "full"] {
        assert_eq!(rows.iter().filter(|r| r["regime"] == regime).count(), 12);
    }
}

#[test]
fn threads_mode_prints_every_round_median_worst_and_the_ratio() {
    let out = run(&[
        "bench",
        "--mode",
        "threads",
        "--seconds",
        "0.02",
        "--rounds",
        "3",
        "--sizes",
        "64",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("shmpipe bench: "), "{stdout}");
    for want in [
        "two threads, streaming",
        "two threads, full",
        "r1",
        "r3",
        "median",
        "worst",
        "shmpipe send/recv",
        "rtrb push/pop",
        "shmpipe send_values/recv_values",
        "shmpipe values in place",
        "rtrb write_chunk/read_chunk",
        "rtrb chunks, copied",
    ] {
        assert!(stdout.contains(want), "{want}: {stdout}");
    }
    let ratio_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("shmpipe / rtrb"))
        .collect();
    assert_eq!(ratio_lines.len(), 6, "{stdout}");
    for line in ratio_lines {
        // Three rounds, the median and the worst.
        assert_eq!(
            line.split_whitespace().filter(|w| w.ends_with('x')).count(),
            5,
            "{line}"
        );
    }
}

/// `--mode targets` in JSON: every target of issue 13 that the command measures, each with
/// its rounds, median and worst (ratios taken round by round), what it asks for, and whether
/// it is met, consistent with those figures.
#[test]
fn targets_mode_judges_every_target_from_its_rounds() {
    let stdout = stdout_of_success(&[
        "bench",
        "--mode",
        "targets",
        "--seconds",
        "0.04",
        "--rounds",
        "3",
        "--json",
    ]);
    let rows: Vec<Value> = serde_json::from_slice(&stdout).expect("one JSON array");
    // Four between processes, the round trip, twelve between threads.
    assert_eq!(rows.len(), 17, "{rows:?}");
    assert_fields(
        &rows[0],
        &[
            "error", "median", "met", "mode", "rounds", "target", "wanted", "worst",
        ],
    );
    for row in &rows {
        assert_eq!(row["mode"], "targets");
        assert!(row["error"].is_null(), "{row}");
        let rounds: Vec<f64> = row["rounds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_f64().unwrap())
            .collect();
        assert_eq!(rounds.len(), 3, "{row}");
        assert!(rounds.iter().all(|&r| r > 0.0 && r.is_finite()), "{row}");
        let mut sorted = rounds.clone();
        sorted.sort_by(f64::total_cmp);
        let (median, worst) = (
            row["median"].as_f64().unwrap(),
            row["worst"].as_f64().unwrap(),
        );
        assert!((median - sorted[1]).abs() < 0.001, "{row}");
        let wanted = &row["wanted"];
        let met = if let Some(at_most) = wanted["median_at_most"].as_f64() {
            assert!((worst - sorted[2]).abs() < 0.001, "{row}");
            median <= at_most
        } else {
            assert!((worst - sorted[0]).abs() < 0.001, "{row}");
            let at_least = wanted["median_at_least"].as_f64().unwrap();
            median >= at_least && wanted["worst_at_least"].as_f64().is_none_or(|w| worst >= w)
        };
        assert_eq!(row["met"].as_bool(), Some(met), "{row}");
    }
    let targets: Vec<&str> = rows.iter().map(|r| r["target"].as_str().unwrap()).collect();
    for want in [
        "two processes, send/recv, 8 B, 4 MiB ring: ring / pipe",
        "two processes, send/recv, 64 B, 4 MiB ring: ring / pipe",
        "two processes, send/recv, 64 B, 1 MiB ring: ring / pipe",
        "two processes, send/recv, 4 KiB, 4 MiB ring (the CLI's default): ring / pipe",
        "8 B round trip, ring / the cache line bounced between the same CPUs",
        "two threads, streaming, 8 B, per message: shmpipe send/recv / rtrb push/pop",
        "two threads, full, 64 B, chunks in place: shmpipe values in place / rtrb chunks",
        "two threads, streaming, 8 B, chunks: shmpipe send_values/recv_values / rtrb chunks, copied",
    ] {
        assert!(targets.contains(&want), "{want} not in {targets:?}");
    }
    let at = |t: &str| rows.iter().find(|r| r["target"] == t).unwrap();
    let r = at("two processes, send/recv, 8 B, 4 MiB ring: ring / pipe");
    assert_eq!(r["wanted"]["median_at_least"].as_f64(), Some(50.0));
    let r = at("two processes, send/recv, 64 B, 1 MiB ring: ring / pipe");
    assert_eq!(r["wanted"]["worst_at_least"].as_f64(), Some(15.0));
    let r = at("8 B round trip, ring / the cache line bounced between the same CPUs");
    assert_eq!(r["wanted"]["median_at_most"].as_f64(), Some(1.6));
}

/// `--mode targets` as a table: one line per target with its verdict, and the count.
#[test]
fn targets_mode_prints_a_verdict_per_target() {
    let stdout = stdout_of_success(&[
        "bench",
        "--mode",
        "targets",
        "--seconds",
        "0.04",
        "--rounds",
        "2",
    ]);
    let text = String::from_utf8(stdout).unwrap();
    let verdicts = text
        .lines()
        .filter(|l| l.contains(" met  (") || l.contains(" MISSED  ("))
        .count();
    assert_eq!(verdicts, 17, "{text}");
    assert!(text.contains(" of 17 targets met"), "{text}");
    assert!(
        text.contains("examples/idle_cpu") || text.contains("--example idle_cpu"),
        "{text}"
    );
}
