#!/usr/bin/env bash
# Alternating A/B rounds of the two benches issue 13 is judged by, for two builds of this
# repository (two checkouts, each built with `cargo build --release -p shmpipe-cli` and
# `cargo bench -p shmpipe-bench --bench threads --no-run`):
#
#   scripts/bench_ab.sh CHECKOUT_A CHECKOUT_B [PAIRS] [OUT_DIR]
#
# For each pair, A then B: the threads bench (5 rounds) and `shmpipe bench --sizes 8,64,4K
# --mode streaming --transports ring,pipe`; every output is kept in OUT_DIR (default
# target/bench-ab-HHMM), one file per bench, build and pair. About 60 s per build and pair.
set -euo pipefail
a=${1:?checkout A}; b=${2:?checkout B}; pairs=${3:-3}
out=${4:-target/bench-ab-$(date +%H%M)}
mkdir -p "$out"
threads_of() { ls -t "$1"/target/release/deps/threads-* | grep -v '\.d$' | head -1; }
for i in $(seq 1 "$pairs"); do
    for side in A B; do
        dir=$a; [[ $side == B ]] && dir=$b
        { date -u +%T; "$(threads_of "$dir")" --bench 5; } > "$out/threads-$side-$i.txt" 2>&1
        { date -u +%T; "$dir/target/release/shmpipe" bench --sizes 8,64,4K --mode streaming \
            --transports ring,pipe; } > "$out/cli-$side-$i.txt" 2>&1
    done
done
echo "$out"
