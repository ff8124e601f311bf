#!/usr/bin/env bash
# shmpipe in action: pipes a file through `shmpipe write NAME | shmpipe read NAME` (two
# processes sharing a ring) and through a plain pipe (`cat | cat`), checks that the bytes
# arrive intact, and prints the throughput of each and their ratio.
#
# Usage: scripts/demo.sh [SIZE_MIB]        (default 1024 MiB of random data)
# Environment: SHMPIPE_DEMO_RUNS (default 5, the best run counts),
#              SHMPIPE_DEMO_CAPACITY (the ring's capacity, default 4M, as `write` defaults).
# Needs only cargo, bash and coreutils; everything it creates is removed when it exits.
set -euo pipefail

size_mib=${1:-1024}
runs=${SHMPIPE_DEMO_RUNS:-5}
capacity=${SHMPIPE_DEMO_CAPACITY:-4M}
case $size_mib in '' | *[!0-9]*) echo "usage: $0 [SIZE_MIB]" >&2; exit 2 ;; esac
case $runs in '' | 0 | *[!0-9]*) echo "SHMPIPE_DEMO_RUNS must be a positive number" >&2; exit 2 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
echo "building shmpipe (release)..."
cargo build --release --quiet --bin shmpipe
bin=${CARGO_TARGET_DIR:-$root/target}/release/shmpipe

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shmpipe-demo.XXXXXX")
name="shmpipe-demo-$$"
writer_pid=
cleanup() {
    if [ -n "$writer_pid" ]; then kill "$writer_pid" 2>/dev/null || true; fi
    "$bin" rm "$name" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

data=$tmp/data
bytes=$((size_mib * 1024 * 1024))
echo "generating $size_mib MiB of random data in $tmp..."
head -c "$bytes" /dev/urandom >"$data"
cat "$data" >/dev/null # into the page cache, so no run pays for the disk

now() { date +%s%N; }

# One run of the ring: the writer in the background, the reader in the foreground, as two
# shells would run them. Prints the nanoseconds taken.
ring_once() {
    local start end
    start=$(now)
    "$bin" write "$name" --capacity "$capacity" <"$data" &
    writer_pid=$!
    "$bin" read "$name" >"${1:-/dev/null}"
    wait "$writer_pid"
    writer_pid=
    end=$(now)
    echo $((end - start))
}

pipe_once() {
    local start end
    start=$(now)
    cat "$data" | cat >/dev/null
    end=$(now)
    echo $((end - start))
}

best() { # best of $runs runs of "$@", in nanoseconds
    local best_ns= ns i
    for ((i = 0; i < runs; i++)); do
        ns=$("$@")
        if [ -z "$best_ns" ] || [ "$ns" -lt "$best_ns" ]; then best_ns=$ns; fi
    done
    echo "$best_ns"
}

echo "checking that the ring delivers every byte intact..."
ring_once "$tmp/copy" >/dev/null
if ! cmp -s "$data" "$tmp/copy"; then
    echo "FAILED: the output of shmpipe read differs from the input" >&2
    exit 1
fi
rm -f "$tmp/copy"
if [ -e "/dev/shm/$name" ]; then
    echo "FAILED: /dev/shm/$name was left behind" >&2
    exit 1
fi

echo "timing $size_mib MiB, best of $runs runs each, on $(nproc) CPUs..."
ring_ns=$(best ring_once)
pipe_ns=$(best pipe_once)

# bytes per nanosecond = GB/s
awk -v bytes="$bytes" -v mib="$size_mib" -v ring="$ring_ns" -v pipe="$pipe_ns" -v cap="$capacity" 'BEGIN {
    printf "shmpipe write | shmpipe read  %6d MiB in %7.3f s  %6.2f GB/s  (ring capacity %s)\n", mib, ring / 1e9, bytes / ring, cap
    printf "cat | cat (a plain pipe)      %6d MiB in %7.3f s  %6.2f GB/s\n", mib, pipe / 1e9, bytes / pipe
    printf "shmpipe moved the data %.2fx as fast as the pipe\n", pipe / ring
}'
