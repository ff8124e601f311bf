#!/usr/bin/env python3
"""How the ring's capacity changes its throughput: runs `shmpipe bench --json --mode streaming`
for each capacity in turn, ROUNDS times (the capacities alternate inside every round, so a slow
minute of a noisy machine touches all of them alike), and prints the median messages/s of each
transport, size and capacity as a Markdown table, with the spread (min-max) of the rounds.

    python3 scripts/bench_capacity.py ROUNDS CAPACITIES -- [shmpipe bench arguments]
    python3 scripts/bench_capacity.py 3 256K,1M,4M,16M -- --transports ring,ring-batch --sizes 8,64,4K,64K

Needs a release build (`cargo build --release`); a capacity too small for a size is an error
from `shmpipe bench`, reported as it is.
"""

import json
import statistics
import subprocess
import sys


def main():
    args = sys.argv[1:]
    extra = args[args.index("--") + 1:] if "--" in args else []
    head = args[:args.index("--")] if "--" in args else args
    if len(head) != 2 or not head[0].isdigit() or int(head[0]) < 1:
        sys.exit("usage: bench_capacity.py ROUNDS CAPACITIES -- [shmpipe bench arguments]")
    rounds, capacities = int(head[0]), head[1].split(",")
    table, keys = {}, []
    for i in range(rounds):
        for cap in capacities:
            cmd = ["target/release/shmpipe", "bench", "--json", "--mode", "streaming",
                   "--capacity", cap, *extra]
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=1800)
            if out.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed: {out.stderr.strip()}")
            for r in json.loads(out.stdout):
                key = (r["msg_size"], r["transport"])
                if key not in keys:
                    keys.append(key)
                table.setdefault((key, cap), []).append(r["msgs_per_sec"])
        print(f"round {i + 1}/{rounds} done", file=sys.stderr)
    print(f"Messages/s by ring capacity, median of {rounds} rounds (min-max):\n")
    print("| size | transport | " + " | ".join(capacities) + " |")
    print("|---:|---|" + "---:|" * len(capacities))
    for key in keys:
        cells = []
        for cap in capacities:
            xs = table.get((key, cap), [])
            if xs:
                cells.append(f"{fmt(statistics.median(xs))} ({fmt(min(xs))}-{fmt(max(xs))})")
            else:
                cells.append("–")
        print(f"| {key[0]} | {key[1]} | " + " | ".join(cells) + " |")


def fmt(x):
    return f"{x / 1e6:.2f} M" if x >= 1e5 else f"{x / 1e3:.1f} k"


if __name__ == "__main__":
    main()
