#!/usr/bin/env python3
"""A/B rounds of `shmpipe bench --json` between two builds of the `shmpipe` binary: the rounds
alternate (A B, then B A, ...), so a slow minute of a noisy machine touches both alike. Prints,
for each transport and size, every round's messages/s, the median and the worst round, per
build, and each round's ratio to the pipe measured in the same invocation.

    python3 scripts/bench_ab.py ROUNDS OLD_BINARY NEW_BINARY -- [shmpipe bench arguments]
"""

import json
import statistics
import subprocess
import sys


def run(binary, extra):
    out = subprocess.run([binary, "bench", "--json", "--mode", "streaming", *extra],
                         check=True, capture_output=True, text=True, timeout=1800)
    return {(r["transport"], r["msg_size"]): r["msgs_per_sec"] for r in json.loads(out.stdout)
            if r["mode"] == "throughput"}


def main():
    args = sys.argv[1:]
    extra = args[args.index("--") + 1:] if "--" in args else []
    rounds, builds = int(args[0]), {"A": args[1], "B": args[2]}
    results = {"A": [], "B": []}
    for i in range(rounds):
        order = "AB" if i % 2 == 0 else "BA"
        for b in order:
            results[b].append(run(builds[b], extra))
        print(f"round {i + 1}/{rounds} done ({order})", file=sys.stderr)
    keys = list(results["A"][0])
    print(f"A = {builds['A']}, B = {builds['B']}; {rounds} rounds each, alternating\n")
    print("| size | transport | build | median msgs/s | worst round | median vs pipe | worst vs pipe | rounds (M msgs/s) |")
    print("|---:|---|---|---:|---:|---:|---:|---|")
    for t, size in keys:
        for b in "AB":
            rows = [r[(t, size)] for r in results[b]]
            ratios = [r[(t, size)] / r[("pipe", size)] for r in results[b] if ("pipe", size) in r]
            ratio = (f"{statistics.median(ratios):.1f}×", f"{min(ratios):.1f}×") if ratios else ("", "")
            print(f"| {size} | {t} | {b} | {statistics.median(rows) / 1e6:.2f} M | {min(rows) / 1e6:.2f} M"
                  f" | {ratio[0]} | {ratio[1]} | {', '.join(f'{x / 1e6:.1f}' for x in rows)} |")


if __name__ == "__main__":
    main()
