#!/usr/bin/env python3
"""A/B rounds of the async bench (`shmpipe-bench/benches/async.rs`) between two builds of its
binary: one round per invocation, the builds alternating (A B, then B A, ...), so a slow minute
of a noisy machine touches both alike. Prints every round, the median and the worst round of
each transport, per build: throughput in millions of messages per second, round trips as each
round's p50 and p99 in microseconds.

    cargo bench -p shmpipe-bench --bench async --no-run   # prints the binary's path
    python3 scripts/bench_async_ab.py ROUNDS BINARY_A BINARY_B [threads|proc] [tp|rt]

Build A from the old library and B from the new one with the same bench source (e.g. `git
checkout OLD -- shmpipe/src`, build, copy the binary, `git checkout HEAD -- shmpipe/src`, build).
"""

import collections
import re
import statistics
import subprocess
import sys
import time


def main():
    rounds, bins, extra = int(sys.argv[1]), {"A": sys.argv[2], "B": sys.argv[3]}, sys.argv[4:]
    tp, rt, loads = collections.defaultdict(list), collections.defaultdict(list), []
    for i in range(rounds):
        for b in "AB" if i % 2 == 0 else "BA":
            out = subprocess.run([bins[b], "--bench", "1", *extra], capture_output=True,
                                 text=True, timeout=900, check=True).stdout
            loads.append(open("/proc/loadavg").read().split()[0])
            for line in out.splitlines():
                m = re.match(r"throughput\s+(\d+) B (\S+)\s+median\s+([\d.]+)M", line)
                if m:
                    tp[(int(m.group(1)), m.group(2), b)].append(float(m.group(3)))
                m = re.match(r"round trip 8 B (\S+)\s+p50 median\s+([\d.]+) us.*p99 median\s+([\d.]+) us", line)
                if m:
                    rt[(m.group(1), b)].append((float(m.group(2)), float(m.group(3))))
        print(f"round {i + 1}/{rounds} done {time.strftime('%H:%M:%S')} load {loads[-1]}",
              file=sys.stderr, flush=True)
    print(f"A = {bins['A']}, B = {bins['B']}; {rounds} rounds each, alternating")
    print(f"load average (1 min) after each invocation: {' '.join(loads)}")
    print("\nthroughput, M msg/s: median / worst round | every round")
    for k in sorted(tp):
        v = tp[k]
        print(f"{k[0]:>5} B {k[1]:22} {k[2]}  {statistics.median(v):6.2f} / {min(v):6.2f} | "
              + " ".join(f"{x:.2f}" for x in v))
    print("\nround trip 8 B, us: p50 median / worst round, p99 median / worst round | every round p50/p99")
    for k in sorted(rt):
        v = rt[k]
        p50, p99 = [x[0] for x in v], [x[1] for x in v]
        print(f"{k[0]:24} {k[1]}  p50 {statistics.median(p50):6.1f} / {max(p50):6.1f}  "
              f"p99 {statistics.median(p99):6.1f} / {max(p99):6.1f} | "
              + " ".join(f"{a}/{b}" for a, b in v))


if __name__ == "__main__":
    main()
