#!/usr/bin/env python3
"""Runs `shmpipe bench --json` several times (rounds alternate over every transport and size,
so a slow minute of a noisy machine touches all of them alike) and prints the median of each
row as a Markdown table, with the spread (min-max) of the rounds.

    python3 scripts/bench_cli_rounds.py ROUNDS -- [shmpipe bench arguments]

`shmpipe bench` now runs alternating rounds itself (`--rounds`, every round printed with the
median and the worst); this script repeats whole invocations, for runs longer than one.
Rows are keyed by regime (streaming, full) or latency.
"""

import json
import statistics
import subprocess
import sys


def main():
    args = sys.argv[1:]
    rounds = int(args[0]) if args and args[0].isdigit() else 3
    extra = args[args.index("--") + 1:] if "--" in args else []
    runs = []
    for i in range(rounds):
        out = subprocess.run(["target/release/shmpipe", "bench", "--json", *extra],
                             check=True, capture_output=True, text=True, timeout=1800)
        runs.append(json.loads(out.stdout))
        print(f"round {i + 1}/{rounds} done", file=sys.stderr)
    def kind(r):
        return r.get("regime") or r["mode"]

    keys = [(r["transport"], kind(r), r["msg_size"]) for r in runs[0]]
    table = {}
    for run in runs:
        for r in run:
            table.setdefault((r["transport"], kind(r), r["msg_size"]), []).append(r)
    pipe = {}
    for (t, mode, size), rows in table.items():
        if t == "pipe" and mode != "latency":
            pipe[(mode, size)] = statistics.median(r["msgs_per_sec"] for r in rows)
    print(f"Throughput, median of {rounds} rounds (min-max):\n")
    print("| regime | size | transport | msgs/s | MB/s | vs pipe |")
    print("|---|---:|---|---:|---:|---:|")
    for key in keys:
        t, mode, size = key
        if mode == "latency":
            continue
        rates = [r["msgs_per_sec"] for r in table[key]]
        med = statistics.median(rates)
        ratio = f"{med / pipe[(mode, size)]:.1f}×" if (mode, size) in pipe else "–"
        print(f"| {mode} | {size} | {t} | {med / 1e6:.2f} M ({min(rates) / 1e6:.2f}-{max(rates) / 1e6:.2f}) "
              f"| {med * size / 1e6:.0f} | {ratio} |")
    print(f"\nLatency (round trip), median over {rounds} rounds of each percentile:\n")
    print("| size | transport | p50 | p99 | p99.9 |")
    print("|---:|---|---:|---:|---:|")
    for key in keys:
        t, mode, size = key
        if mode != "latency":
            continue
        cells = []
        for p in ("p50_ns", "p99_ns", "p999_ns"):
            v = statistics.median(r[p] for r in table[key])
            cells.append(f"{v / 1000:.1f} µs" if v >= 10_000 else f"{v:.0f} ns")
        print(f"| {size} | {t} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
