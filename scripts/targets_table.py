#!/usr/bin/env python3
"""Turns runs of `shmpipe bench --mode targets --json` into the Markdown table of
docs/BENCHMARKS.md ("Targets"): one row per target, what it asks for, the median and the worst
round of its ratio in every run (run 1 / run 2 / ...), and in how many runs it was met.

    shmpipe bench --mode targets --json > run1.json   # and again: run2.json, run3.json
    python3 scripts/targets_table.py run1.json run2.json run3.json

Every number comes from those files; nothing is typed in. The verdict of each run is the one
the command printed (its "met" field). Plain Python 3, no packages.
"""

import json
import sys


def ratio_text(v):
    """As the command's table prints a ratio: three decimals below 10, one up to 100."""
    if v is None:
        return "—"
    if v >= 100:
        return f"{v:.0f}×"
    if v >= 10:
        return f"{v:.1f}×"
    return f"{v:.3f}×"


def wanted_text(wanted):
    parts = []
    for key, value in wanted.items():
        if value is None:
            continue
        if key == "median_at_least":
            parts.append(f"≥ {value:g}×")
        elif key == "median_at_most":
            parts.append(f"≤ {value:g}×")
        elif key == "worst_at_least":
            parts.append(f"worst ≥ {value:g}×")
    return ", ".join(parts)


def load(path):
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    if not isinstance(rows, list) or not all(r.get("mode") == "targets" for r in rows):
        raise SystemExit(f"{path}: not the JSON of `shmpipe bench --mode targets --json`")
    return rows


def table(runs):
    targets = [r["target"] for r in runs[0]]
    for i, run in enumerate(runs[1:], start=2):
        if [r["target"] for r in run] != targets:
            raise SystemExit(f"run {i} measured other targets than run 1")
    n = len(runs)
    head = " / ".join(f"run {i}" for i in range(1, n + 1))
    lines = [
        f"| target | wanted | median ({head}) | worst round ({head}) | met |",
        "|---|---:|---:|---:|---|",
    ]
    for k, target in enumerate(targets):
        rows = [run[k] for run in runs]
        medians = " / ".join(ratio_text(r["median"]) for r in rows)
        worsts = " / ".join(ratio_text(r["worst"]) for r in rows)
        met = sum(1 for r in rows if r["met"])
        errors = [r["error"] for r in rows if r.get("error")]
        verdict = f"in {met} of {n}" if met else f"**missed** in all {n}"
        if errors:
            verdict += " (" + "; ".join(errors) + ")"
        lines.append(
            f"| {target} | {wanted_text(rows[0]['wanted'])} | {medians} | {worsts} | {verdict} |"
        )
    totals = " / ".join(str(sum(1 for r in run if r["met"])) for run in runs)
    lines.append("")
    lines.append(f"Targets met per run: {totals} of {len(targets)}.")
    return "\n".join(lines)


def main():
    if len(sys.argv) < 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(sys.argv) >= 2 else 2
    print(table([load(p) for p in sys.argv[1:]]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
