#!/usr/bin/env python3
"""Turns one `shmpipe bench --json` run (and, optionally, one run of the threads bench) into
the Markdown tables and the plots of docs/BENCHMARKS.md: every round, the median and the
worst, and the ratios to the pipe (to rtrb) taken round by round.

    shmpipe bench --json > run.json
    cargo bench -p shmpipe-bench --bench threads -- 5 --json threads.json
    python3 scripts/bench_plot.py run.json [--threads threads.json] \
        [--svg docs/bench.svg] [--threads-svg docs/threads.svg]

Every number comes from those files; nothing is typed in. Plain Python 3, no packages.
"""

import json
import math
import statistics
import sys

COLORS = {"ring": "#d62728", "ring-batch": "#8c564b", "ring-zerocopy": "#ff7f0e",
          "pipe": "#1f77b4", "pipe-1m": "#17becf", "unix": "#2ca02c", "seqpacket": "#98df8a",
          "shmpipe": "#d62728", "rtrb": "#7f7f7f"}
EXTRA = ["#9467bd", "#e377c2", "#bcbd22", "#000000"]
PANELS = [("throughput", "streaming", "Throughput, streaming: the receiver keeps pace"),
          ("throughput", "full", "Throughput, full: receiver works 1 µs/message, sender waits"),
          ("latency", None, "Round trip (p50): lower is better")]


def size_text(n):
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20} MiB"
    if n >= 1 << 10 and n % (1 << 10) == 0:
        return f"{n >> 10} KiB"
    return f"{n} B"


def scaled(v, units):
    """`v` in the largest unit it reaches, three significant digits; a value that rounds up to
    the next unit (999.7k) is written in that unit (1M), never as 1e+03k."""
    for i, (unit, scale) in enumerate(units):
        if v >= scale or i == len(units) - 1:
            text = f"{v / scale:.3g}"
            if "e" in text and i > 0:
                up_unit, up_scale = units[i - 1]
                return f"{v / up_scale:.3g}{up_unit}"
            return f"{text}{unit}"


def rate_text(v):
    if v < 1e3:
        return f"{v:.0f}"
    return scaled(v, (("G", 1e9), ("M", 1e6), ("k", 1e3)))


def ns_text(v):
    if v < 1e3:
        return f"{v:.0f} ns"
    return scaled(v, ((" ms", 1e6), (" µs", 1e3)))


def ratio_text(v):
    return f"{v:.1f}×" if v >= 10 else f"{v:.2f}×"


def figures(row):
    """Each round's figure: messages/s, or the p50 round trip."""
    key = "p50_ns" if row["mode"] == "latency" else "msgs_per_sec"
    return [r[key] for r in row["rounds"]]


def markdown(rows):
    out = []
    for mode, regime, title in PANELS:
        these = [r for r in rows if r["mode"] == mode and r["regime"] == regime]
        if not these:
            continue
        n = max(len(r["rounds"]) for r in these)
        lat = mode == "latency"
        fmt = ns_text if lat else rate_text
        out.append(f"\n{title} ({'round-trip p50' if lat else 'messages/s'}; "
                   f"ratio: {'the pipe p50 over this p50' if lat else 'this over the pipe'}, "
                   "round by round)\n")
        head = "| size | transport | " + " | ".join(f"r{i + 1}" for i in range(n)) + " | median | worst |"
        if lat:
            head += " p99 | p99.9 |"
        out.append(head)
        out.append("|---:|---|" + "---:|" * (n + 2) + ("---:|---:|" if lat else ""))
        for r in these:
            cells = [fmt(v) for v in figures(r)] + ["–"] * (n - len(r["rounds"]))
            line = (f"| {size_text(r['msg_size'])} | {r['transport']} | " + " | ".join(cells)
                    + f" | **{fmt(r['median'])}** | {fmt(r['worst'])} |")
            if lat:
                line += f" {ns_text(r['p99_ns'])} | {ns_text(r['p999_ns'])} |"
            out.append(line)
            if r["transport"] != "pipe" and r["vs_pipe_rounds"]:
                cells = [ratio_text(v) for v in r["vs_pipe_rounds"]]
                line = (f"| | {r['transport']} / pipe | " + " | ".join(cells)
                        + f" | **{ratio_text(r['vs_pipe_median'])}** | {ratio_text(r['vs_pipe_worst'])} |")
                if lat:
                    line += " | |"
                out.append(line)
    return "\n".join(out)


def threads_markdown(rows):
    out = []
    for regime in ("streaming", "full"):
        these = [r for r in rows if r["regime"] == regime]
        if not these:
            continue
        n = max(len(r["rounds"]) for r in these)
        out.append(f"\n{regime} (messages/s; shmpipe / rtrb round by round)\n")
        out.append("| size | API | " + " | ".join(f"r{i + 1}" for i in range(n)) + " | median | worst |")
        out.append("|---:|---|" + "---:|" * (n + 2))
        for r in these:
            out.append(f"| {r['msg_size']} B | {r['name']} | " + " | ".join(rate_text(v) for v in r["rounds"])
                       + f" | **{rate_text(r['median'])}** | {rate_text(r['worst'])} |")
            if r["vs_rtrb_rounds"]:
                out.append(f"| | shmpipe / rtrb | " + " | ".join(ratio_text(v) for v in r["vs_rtrb_rounds"])
                           + f" | **{ratio_text(r['vs_rtrb_median'])}** | {ratio_text(r['vs_rtrb_worst'])} |")
    return "\n".join(out)


def color(name, seen):
    if name in COLORS:
        return COLORS[name]
    seen.setdefault(name, EXTRA[len(seen) % len(EXTRA)])
    return seen[name]


def panel(parts, x0, y0, w, h, title, groups, lower_better, unit):
    """One panel: `groups` is [(label, [(series, rounds, median, worst)], ratio_lines)].
    Bars to the median, a black tick at the worst round, dots at every round; log scale."""
    values = [v for _, series, _ in groups for _, rounds, m, wst in series for v in rounds + [m, wst] if v > 0]
    if not values:
        return
    lo = 10 ** math.floor(math.log10(min(values)))
    hi = 10 ** math.ceil(math.log10(max(values)))
    if hi <= lo:
        hi = lo * 10
    top, bottom, left = y0 + 64, y0 + h - 40, x0 + 58
    right = x0 + w - 8

    def y(v):
        return bottom - (bottom - top) * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    parts.append(f'<text x="{x0 + w / 2:.1f}" y="{y0 + 16}" text-anchor="middle" font-size="13" '
                 f'font-weight="bold">{title}</text>')
    d = lo
    while d <= hi * 1.0001:
        yy = y(d)
        parts.append(f'<line x1="{left}" x2="{right}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="#ddd"/>')
        label = ns_text(d) if unit == "ns" else rate_text(d) + "/s"
        parts.append(f'<text x="{left - 4}" y="{yy + 4:.1f}" text-anchor="end" font-size="10">{label}</text>')
        d *= 10
    gw = (right - left) / max(1, len(groups))
    seen = {}
    for gi, (label, series, ratio_lines) in enumerate(groups):
        gx = left + gi * gw
        bw = min(26, (gw - 16) / max(1, len(series)))
        sx = gx + (gw - bw * len(series)) / 2
        for si, (name, rounds, med, worst) in enumerate(series):
            c = color(name, seen)
            bx = sx + si * bw
            if med > 0:
                parts.append(f'<rect x="{bx + 1:.1f}" y="{y(med):.1f}" width="{bw - 2:.1f}" '
                             f'height="{bottom - y(med):.1f}" fill="{c}" fill-opacity="0.75"/>')
            for v in rounds:
                if v > 0:
                    parts.append(f'<circle cx="{bx + bw / 2:.1f}" cy="{y(v):.1f}" r="2" fill="white" '
                                 f'stroke="#333" stroke-width="0.8"/>')
            if worst > 0:
                parts.append(f'<line x1="{bx:.1f}" x2="{bx + bw:.1f}" y1="{y(worst):.1f}" y2="{y(worst):.1f}" '
                             f'stroke="black" stroke-width="2.5"/>')
        for li, line in enumerate(label.split("|")):
            parts.append(f'<text x="{gx + gw / 2:.1f}" y="{bottom + 16 + 13 * li}" text-anchor="middle" '
                         f'font-size="11">{line}</text>')
        for li, text in enumerate(ratio_lines):
            weight = ' font-weight="bold"' if li == 0 else ""
            parts.append(f'<text x="{gx + gw / 2:.1f}" y="{top - 22 + li * 13}" text-anchor="middle" '
                         f'font-size="{11 if li == 0 else 10}"{weight}>{text}</text>')
    parts.append(f'<line x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}" stroke="#333"/>')


def legend(parts, x, y, names, ratios):
    seen = {}
    for name in names:
        c = color(name, seen)
        parts.append(f'<rect x="{x}" y="{y - 9}" width="12" height="10" fill="{c}" fill-opacity="0.75"/>')
        parts.append(f'<text x="{x + 16}" y="{y}" font-size="11">{name}</text>')
        x += 22 + 7 * len(name)
    parts.append(f'<text x="{x + 10}" y="{y}" font-size="11">bar: median round; '
                 f'▬ worst round; ○ every round (log scale); {ratios}</text>')


def write_svg(path, title, subtitle, panels_spec, names, ratios):
    pw, ph = 440, 330
    w = pw * len(panels_spec) + 20
    h = ph + 70
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{w}" height="{h}" fill="white"/>',
             f'<text x="10" y="18" font-size="14" font-weight="bold">{title}</text>',
             f'<text x="10" y="34" font-size="11">{subtitle}</text>']
    legend(parts, 10, 54, names, ratios)
    for i, (ptitle, groups, lower_better, unit) in enumerate(panels_spec):
        panel(parts, 10 + i * pw, 62, pw, ph, ptitle, groups, lower_better, unit)
    parts.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(parts) + "\n")


def bench_svg(rows, path, subtitle):
    names = []
    for r in rows:
        if r["transport"] not in names:
            names.append(r["transport"])
    spec = []
    for mode, regime, title in PANELS:
        these = [r for r in rows if r["mode"] == mode and r["regime"] == regime]
        if not these:
            continue
        groups = []
        for size in sorted({r["msg_size"] for r in these}):
            series, ratio_lines = [], []
            for name in names:
                r = next((x for x in these if x["transport"] == name and x["msg_size"] == size), None)
                if r is None:
                    continue
                series.append((name, figures(r), r["median"], r["worst"]))
                if name == "ring" and r["vs_pipe_rounds"]:
                    ratio_lines = [ratio_text(r["vs_pipe_median"]),
                                   f"worst {ratio_text(r['vs_pipe_worst'])}"]
            groups.append((size_text(size), series, ratio_lines))
        spec.append((title, groups, mode == "latency", "ns" if mode == "latency" else "msgs"))
    write_svg(path, "shmpipe bench: ring against pipe (and socket), between two processes",
              subtitle, spec, names,
              "above each size: ring (send/recv) over pipe, round by round (median, worst)")


def threads_svg(rows, path, subtitle):
    spec = []
    for regime in ("streaming", "full"):
        these = [r for r in rows if r["regime"] == regime]
        if not these:
            continue
        groups = []
        for api in ("per message", "chunks", "chunks in place"):
            for size in sorted({r["msg_size"] for r in these}):
                pair = [r for r in these if r["api"] == api and r["msg_size"] == size]
                if not pair:
                    continue
                series = [(r["name"].split()[0], r["rounds"], r["median"], r["worst"]) for r in pair]
                shm = next((r for r in pair if r["vs_rtrb_rounds"]), None)
                lines = ([ratio_text(shm["vs_rtrb_median"]), f"worst {ratio_text(shm['vs_rtrb_worst'])}"]
                         if shm else [])
                groups.append((f"{api}|{size} B", series, lines))
        title = ("streaming: the consumer keeps pace" if regime == "streaming"
                 else "full: consumer works 1 µs/message, producer waits")
        spec.append((title, groups, False, "msgs"))
    write_svg(path, "shmpipe against rtrb between two threads, like for like", subtitle, spec,
              ["shmpipe", "rtrb"], "above each pair: shmpipe / rtrb, round by round (median, worst)")


def main():
    args = sys.argv[1:]

    def option(name):
        if name in args:
            i = args.index(name)
            value = args[i + 1]
            del args[i:i + 2]
            return value
        return None

    svg_path = option("--svg")
    threads_path = option("--threads")
    threads_svg_path = option("--threads-svg")
    subtitle = option("--subtitle") or ""
    if not args:
        sys.exit(__doc__)
    with open(args[0]) as f:
        rows = json.load(f)
    print(markdown(rows))
    if svg_path:
        bench_svg(rows, svg_path, subtitle)
        print(f"\n(plot written to {svg_path})")
    if threads_path:
        with open(threads_path) as f:
            trows = json.load(f)
        print(threads_markdown(trows))
        if threads_svg_path:
            threads_svg(trows, threads_svg_path, subtitle)
            print(f"\n(plot written to {threads_svg_path})")


if __name__ == "__main__":
    main()
