#!/usr/bin/env bash
# What `--progress` costs on the data path: pipes SIZE_MIB of random data through
# `shmpipe write NAME | shmpipe read NAME` with --no-progress and with --progress (its stderr
# to /dev/null, so every redraw is still formatted and written), alternating which goes first
# in each round so that a slow stretch of a shared machine touches both alike. Prints every
# round, then the median and the worst round of each, in MiB/s.
#
# Usage: shmpipe-cli/scripts/progress_overhead.sh [ROUNDS] [SIZE_MIB]   (default 15 rounds, 1024 MiB)
# Needs a release build (cargo build --release --bin shmpipe); removes all it creates.
set -euo pipefail

rounds=${1:-15}
size_mib=${2:-1024}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${CARGO_TARGET_DIR:-$root/target}/release/shmpipe
[ -x "$bin" ] || { echo "build it first: cargo build --release --bin shmpipe" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmpipe-progress.XXXXXX")
name="shmpipe-progress-$$"
writer_pid=
cleanup() {
    if [ -n "$writer_pid" ]; then kill "$writer_pid" 2>/dev/null || true; fi
    "$bin" rm "$name" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Random data, up to 1 GiB of it repeated (generating more from /dev/urandom is slow).
data=$tmp/data
chunk_mib=$((size_mib < 1024 ? size_mib : 1024))
head -c $((chunk_mib * 1024 * 1024)) /dev/urandom >"$tmp/chunk"
for ((left = size_mib; left > 0; left -= chunk_mib)); do
    head -c $(((left < chunk_mib ? left : chunk_mib) * 1024 * 1024)) "$tmp/chunk"
done >"$data"
rm "$tmp/chunk"
cat "$data" >/dev/null

# One transfer with FLAG on both sides; prints MiB/s.
once() {
    local flag=$1 start end
    start=$(date +%s%N)
    "$bin" write "$name" "$flag" <"$data" 2>/dev/null &
    writer_pid=$!
    "$bin" read "$name" "$flag" >/dev/null 2>/dev/null
    wait "$writer_pid"
    writer_pid=
    end=$(date +%s%N)
    echo $((size_mib * 1000000000 / (end - start)))
}

off=()
on=()
for ((i = 1; i <= rounds; i++)); do
    if ((i % 2)); then
        a=$(once --no-progress); b=$(once --progress)
    else
        b=$(once --progress); a=$(once --no-progress)
    fi
    off+=("$a"); on+=("$b")
    echo "round $i: --no-progress $a MiB/s, --progress $b MiB/s"
done

summary() {
    local label=$1
    shift
    printf '%s\n' "$@" | sort -n | awk -v label="$label" '
        { v[NR] = $1 }
        END {
            median = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf "%-14s median %d MiB/s, worst round %d MiB/s, best %d MiB/s (%d rounds)\n",
                label, median, v[1], v[NR], NR
        }'
}
summary "--no-progress" "${off[@]}"
summary "--progress" "${on[@]}"
