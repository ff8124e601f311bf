#!/usr/bin/env python3
"""A/B pairs of `shmpipe bench --mode threads --json` between two builds of the `shmpipe`
binary: the runs alternate (A B, then B A, ...), so a slow minute of a noisy machine touches
both alike. Prints, for each regime, API and size, every run's median ratio of shmpipe to its
rtrb partner (and, in brackets, the run's worst round), per build.

    python3 scripts/threads_ab.py PAIRS A_BINARY B_BINARY [-- shmpipe bench arguments]

Example: python3 scripts/threads_ab.py 6 /tmp/shm_A /tmp/shm_B -- --sizes 8,64
"""

import datetime
import json
import subprocess
import sys


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%H:%M:%S UTC")


def main():
    args = sys.argv[1:]
    extra = args[args.index("--") + 1:] if "--" in args else []
    head = args[:args.index("--")] if "--" in args else args
    if len(head) != 3 or not head[0].isdigit() or int(head[0]) < 1:
        sys.exit(__doc__)
    pairs, builds = int(head[0]), {"A": head[1], "B": head[2]}
    results = {"A": {}, "B": {}}
    print(f"start {now()}", flush=True)
    for i in range(pairs):
        for b in ("AB" if i % 2 == 0 else "BA"):
            out = subprocess.run([builds[b], "bench", "--mode", "threads", "--json", *extra],
                                 capture_output=True, text=True, check=True).stdout
            for row in json.loads(out):
                if row["vs_rtrb_median"] is None:
                    continue
                key = (row["regime"], row["api"], row["msg_size"])
                results[b].setdefault(key, []).append((row["vs_rtrb_median"],
                                                       row["vs_rtrb_worst"]))
    for key in sorted(results["A"]):
        cells = {b: " ".join(f"{m:.3f}({w:.2f})" for m, w in results[b][key]) for b in "AB"}
        print(f"{key[0]:9} {key[1]:15} {key[2]:4}  A: {cells['A']}   B: {cells['B']}")
    print(f"end {now()}")


if __name__ == "__main__":
    main()
