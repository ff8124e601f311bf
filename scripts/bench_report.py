#!/usr/bin/env python3
"""Turns a criterion run of the shmpipe benches into the tables and the plot of
docs/BENCHMARKS.md.

    cargo bench --bench throughput --bench latency --bench wakeup
    python3 scripts/bench_report.py [TARGET_DIR] [--svg docs/throughput.svg]

Reads target/criterion/*/*/new/{benchmark,estimates,sample}.json (the median time of one
iteration, and every sample's) and target/shmpipe-bench/{latency,idle}.json (round-trip
percentiles, idle CPU), prints Markdown tables and the target checks, and writes an SVG plot of
throughput against message size. Every number comes from those files; nothing is typed in.

Criterion takes each row's samples one after the other (not alternating between rows), so a
slow minute of a noisy machine can fall on one row only; `--samples` prints every sample's
throughput with the median and the worst sample, to show how far a row moved within its own
run. Ratios between rows are judged on alternating rounds instead: `shmpipe bench` and
`cargo bench -p shmpipe-bench --bench threads` (scripts/bench_plot.py).
"""

import json
import math
import os
import sys

SIZES = {"8B": 8, "64B": 64, "512B": 512, "4KiB": 4096, "64KiB": 65536, "1MiB": 1 << 20}
ORDER = ["ring", "ring-zerocopy", "ring-batch", "pipe", "pipe-1m", "unix", "seqpacket",
         "iceoryx2", "shmem-ipc", "ipmpsc", "rtrb-threads", "rtrb-threads-u64", "memcpy"]


def load(target):
    root = os.path.join(target, "criterion")
    results = {}
    for group in sorted(os.listdir(root)) if os.path.isdir(root) else []:
        gdir = os.path.join(root, group)
        for bench in sorted(os.listdir(gdir)):
            new = os.path.join(gdir, bench, "new")
            try:
                with open(os.path.join(new, "benchmark.json")) as f:
                    meta = json.load(f)
                with open(os.path.join(new, "estimates.json")) as f:
                    est = json.load(f)
            except (OSError, ValueError):
                continue
            try:
                with open(os.path.join(new, "sample.json")) as f:
                    sample = json.load(f)
                per_iter = [t / i for t, i in zip(sample["times"], sample["iters"]) if i]
            except (OSError, ValueError, KeyError):
                per_iter = []
            results[(meta["group_id"], meta["function_id"])] = {
                "median_ns": est["median"]["point_estimate"],
                "throughput": meta.get("throughput"),
                "samples_ns": per_iter,
            }
    return results


def rate(entry):
    """(bytes/s, messages/s) of a throughput entry."""
    t = entry["throughput"] or {}
    nbytes = t.get("Bytes") or t.get("BytesDecimal")
    secs = entry["median_ns"] * 1e-9
    return nbytes / secs


def fmt_rate(msgs):
    if msgs >= 1e6:
        return f"{msgs / 1e6:.1f} M"
    if msgs >= 1e3:
        return f"{msgs / 1e3:.1f} k"
    return f"{msgs:.0f}"


def fmt_bytes(bps):
    return f"{bps / 1e9:.2f}"


def fmt_ns(ns):
    if ns >= 10_000:
        return f"{ns / 1000:.1f} µs"
    return f"{ns:.0f} ns"


def throughput_tables(results):
    table = {}  # transport -> size -> bytes/s
    for (group, fn), entry in results.items():
        if not group.startswith("throughput/"):
            continue
        size = SIZES.get(group.split("/", 1)[1])
        if size is None or not entry["throughput"]:
            continue
        table.setdefault(fn, {})[size] = rate(entry)
    sizes = sorted({s for row in table.values() for s in row})
    names = [n for n in ORDER if n in table] + sorted(n for n in table if n not in ORDER)
    labels = {v: k for k, v in SIZES.items()}
    out = []
    out.append("Messages per second (bytes per second in GB/s below each):\n")
    out.append("| transport | " + " | ".join(labels[s] for s in sizes) + " |")
    out.append("|---|" + "---:|" * len(sizes))
    for n in names:
        cells = []
        for s in sizes:
            b = table[n].get(s)
            cells.append("–" if b is None else f"{fmt_rate(b / s)}<br>{fmt_bytes(b)} GB/s")
        out.append(f"| {n} | " + " | ".join(cells) + " |")
    return table, sizes, "\n".join(out)


def latency_tables(results, target):
    pct = {}
    try:
        with open(os.path.join(target, "shmpipe-bench", "latency.json")) as f:
            for row in json.load(f):
                pct[(row["transport"], row["msg_size"])] = row
    except (OSError, ValueError):
        pass
    rows = []
    for (group, fn), entry in sorted(results.items()):
        if not group.startswith("latency/"):
            continue
        size = SIZES.get(group.split("/", 1)[1])
        p = pct.get((fn, size), {})
        rows.append((size, fn, entry["median_ns"], p))
    out = ["| size | transport | median (criterion) | p50 | p99 | p99.9 | one way (p50 / 2) |",
           "|---:|---|---:|---:|---:|---:|---:|"]
    for size, fn, med, p in sorted(rows, key=lambda r: (r[0], ORDER.index(r[1]) if r[1] in ORDER else 99)):
        p50 = p.get("p50_ns")
        out.append(f"| {size} B | {fn} | {fmt_ns(med)} | "
                   + " | ".join(fmt_ns(p[k]) if k in p else "–" for k in ("p50_ns", "p99_ns", "p999_ns"))
                   + f" | {fmt_ns(p50 / 2) if p50 else '–'} |")
    return rows, "\n".join(out)


def wakeup_table(results, target):
    out = ["| what | median |", "|---|---:|"]
    for (group, fn), entry in sorted(results.items()):
        if group.startswith("wakeup/"):
            out.append(f"| {fn}: peer asleep, one 8-byte message and its echo | {fmt_ns(entry['median_ns'])} |")
    try:
        with open(os.path.join(target, "shmpipe-bench", "idle.json")) as f:
            for row in json.load(f):
                out.append(f"| {row['transport']}: CPU used by a reader idle for {row['wall_s']:.1f} s "
                           f"| {row['cpu_ms']:.3f} ms |")
    except (OSError, ValueError):
        pass
    return "\n".join(out)


def targets(table, lat_rows):
    def get(t, s):
        return table.get(t, {}).get(s)

    checks = []

    def check(name, value, limit, ok):
        checks.append(f"| {name} | {value} | {limit} | {'met' if ok else '**missed**'} |")

    for size, want in ((64, 30), (4096, 2), (65536, 4)):
        r, p = get("ring", size), get("pipe", size)
        best = max((get(t, size) or 0) for t in ("ring", "ring-zerocopy", "ring-batch"))
        if r and p:
            check(f"ring / pipe messages/s at {size} B, `send`/`recv`",
                  f"{r / p:.1f}×", f"≥ {want}×", r / p >= want)
            check(f"best shmpipe mode / pipe messages/s at {size} B",
                  f"{best / p:.1f}×", f"≥ {want}×", best / p >= want)
    for size in (65536, 1 << 20):
        m = get("memcpy", size)
        for t in ("ring", "ring-zerocopy", "ring-batch"):
            r = get(t, size)
            if r and m:
                check(f"{t} / memcpy bandwidth at {size} B", f"{100 * r / m:.0f} %", "≥ 70 %", r / m >= 0.7)
    for t in ("iceoryx2", "shmem-ipc", "ipmpsc"):
        for size in sorted(table.get(t, {})):
            best = max((get(x, size) or 0) for x in ("ring", "ring-zerocopy", "ring-batch"))
            other = get(t, size)
            check(f"best shmpipe / {t} at {size} B", f"{best / other:.2f}×", "≥ 1×", best >= other)
    for t in ("rtrb-threads", "rtrb-threads-u64"):
        rb, o = get("ring-batch", 8), get(t, 8)
        if rb and o:
            check(f"ring-batch (processes) / {t} at 8 B", f"{rb / o:.2f}×", "≥ 1×", rb >= o)
    ab = {row["transport"]: row for row in AB}
    if "ring" in ab and "cacheline" in ab:
        ring, cl = ab["ring"], ab["cacheline"]
        ratios = sorted(r / c for r, c in zip(ring["p50_ns_by_round"], cl["p50_ns_by_round"]))
        check(f"ring one-way / cache-line one-way, 8 B (median of {ring['rounds']} A/B rounds' p50; "
              f"per round {ratios[0]:.1f}-{ratios[-1]:.1f}×)",
              f"{ring['median_p50_ns'] / cl['median_p50_ns']:.2f}×", "≤ 2×",
              ring["median_p50_ns"] <= 2 * cl["median_p50_ns"])
    if "ring" in ab and "iceoryx2" in ab:
        ring, ice = ab["ring"], ab["iceoryx2"]
        check("ring / iceoryx2 round trip, 8 B (A/B rounds)",
              f"{ring['median_p50_ns'] / ice['median_p50_ns']:.2f}×", "≤ 1×",
              ring["median_p50_ns"] <= ice["median_p50_ns"])
    med = {(fn, size): m for size, fn, m, _ in lat_rows}
    for size in sorted({s for _, s in med}):
        ring, ice = med.get(("ring", size)), med.get(("iceoryx2", size))
        if ring and ice:
            check(f"ring / iceoryx2 round trip at {size} B (criterion)", f"{ring / ice:.2f}×", "≤ 1×", ring <= ice)
    return "\n".join(["| target | measured | wanted | |", "|---|---:|---:|---|"] + checks)


AB = []


def ab_table(target):
    AB.clear()
    try:
        with open(os.path.join(target, "shmpipe-bench", "latency-ab.json")) as f:
            AB.extend(json.load(f))
    except (OSError, ValueError):
        return ""
    out = ["| 8 B round trip | median p50 | p50 of each round |", "|---|---:|---|"]
    for row in AB:
        out.append(f"| {row['transport']} | {fmt_ns(row['median_p50_ns'])} | "
                   + ", ".join(str(v) for v in row["p50_ns_by_round"]) + " ns |")
    return "\n".join(out)


def svg(table, sizes, path):
    names = [n for n in ORDER if n in table]
    colors = ["#d62728", "#ff7f0e", "#8c564b", "#1f77b4", "#17becf", "#2ca02c", "#98df8a",
              "#9467bd", "#e377c2", "#bcbd22", "#7f7f7f", "#c7c7c7", "#000000"]
    w, h, left, right, top, bottom = 860, 520, 70, 190, 30, 60
    values = [b for n in names for b in table[n].values() if b > 0]
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    xs = {s: left + i * (w - left - right) / max(1, len(sizes) - 1) for i, s in enumerate(sizes)}

    def y(v):
        return top + (h - top - bottom) * (1 - (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo)))

    labels = {v: k for k, v in SIZES.items()}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="{left}" y="18" font-size="14">Throughput between two processes (bytes/s, log scale) by message size</text>']
    d = lo
    while d <= hi * 1.0001:
        yy = y(d)
        parts.append(f'<line x1="{left}" x2="{w - right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
        unit = f"{d / 1e9:g} GB/s" if d >= 1e9 else f"{d / 1e6:g} MB/s"
        parts.append(f'<text x="{left - 6}" y="{yy + 4:.1f}" text-anchor="end">{unit}</text>')
        d *= 10
    for s, xx in xs.items():
        parts.append(f'<line x1="{xx:.1f}" x2="{xx:.1f}" y1="{top}" y2="{h - bottom}" stroke="#eee"/>')
        parts.append(f'<text x="{xx:.1f}" y="{h - bottom + 18}" text-anchor="middle">{labels[s]}</text>')
    parts.append(f'<text x="{(left + w - right) / 2}" y="{h - 15}" text-anchor="middle">message size</text>')
    for i, n in enumerate(names):
        c = colors[i % len(colors)]
        pts = [(xs[s], y(table[n][s])) for s in sizes if s in table[n] and table[n][s] > 0]
        dash = ' stroke-dasharray="5,4"' if n in ("memcpy", "rtrb-threads", "rtrb-threads-u64") else ""
        width = 3 if n.startswith("ring") else 1.6
        parts.append(f'<polyline fill="none" stroke="{c}" stroke-width="{width}"{dash} points="'
                     + " ".join(f"{a:.1f},{b:.1f}" for a, b in pts) + '"/>')
        for a, b in pts:
            parts.append(f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{c}"/>')
        ly = top + 10 + i * 18
        parts.append(f'<line x1="{w - right + 15}" x2="{w - right + 40}" y1="{ly}" y2="{ly}" stroke="{c}" stroke-width="{width}"{dash}/>')
        parts.append(f'<text x="{w - right + 46}" y="{ly + 4}">{n}</text>')
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def samples_table(results):
    """Every throughput sample of every row: messages/s per sample, the median and the worst."""
    out = ["| row | samples (M messages/s) | median | worst |", "|---|---|---:|---:|"]
    for (group, fn), entry in sorted(results.items()):
        if not group.startswith("throughput/") or not entry["samples_ns"] or not entry["throughput"]:
            continue
        size = SIZES.get(group.split("/", 1)[1])
        t = entry["throughput"]
        nbytes = t.get("Bytes") or t.get("BytesDecimal")
        if not size or not nbytes:
            continue
        msgs = [nbytes / size / (ns * 1e-9) for ns in entry["samples_ns"]]
        ordered = sorted(msgs)
        median = ordered[len(ordered) // 2] if len(ordered) % 2 else (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
        out.append(f"| {group}/{fn} | " + ", ".join(f"{m / 1e6:.1f}" for m in msgs)
                   + f" | {median / 1e6:.1f} | {ordered[0] / 1e6:.1f} |")
    return "\n".join(out)


def main():
    args = sys.argv[1:]
    show_samples = "--samples" in args
    if show_samples:
        args.remove("--samples")
    svg_path = None
    if "--svg" in args:
        i = args.index("--svg")
        svg_path = args[i + 1]
        del args[i:i + 2]
    target = args[0] if args else "target"
    results = load(target)
    if not results:
        sys.exit(f"no criterion results under {target}/criterion; run cargo bench first")
    table, sizes, text = throughput_tables(results)
    print("## Throughput\n")
    print(text)
    lat_rows, lat = latency_tables(results, target)
    print("\n## Latency (round trip)\n")
    print(lat)
    ab = ab_table(target)
    if ab:
        print("\n### A/B rounds (cache line, ring, iceoryx2 taking turns)\n")
        print(ab)
    print("\n## Wake-up and idle\n")
    print(wakeup_table(results, target))
    print("\n## Targets\n")
    print(targets(table, lat_rows))
    if show_samples:
        print("\n## Every criterion sample (throughput)\n")
        print(samples_table(results))
    if svg_path:
        svg(table, sizes, svg_path)
        print(f"\n(plot written to {svg_path})")


if __name__ == "__main__":
    main()
