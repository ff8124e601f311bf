#!/usr/bin/env bash
# Instructions per message on the send/receive hot path (examples/hot_path.rs), counted by
# callgrind (repeatable, unlike timings on a shared VM): the difference between a run of
# 200,000 and one of 100,000 messages, divided by 100,000, so start-up cancels out.
#
# Usage: scripts/callgrind_hot_path.sh [REV]   (default: the working tree)
# With REV, the example is built from that commit in a temporary worktree, so two revisions
# can be compared: scripts/callgrind_hot_path.sh HEAD~1; scripts/callgrind_hot_path.sh
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
src=$root
if [[ $# -ge 1 ]]; then
    src=$(mktemp -d /tmp/shmpipe-rev.XXXXXX)
    git -C "$root" worktree add --detach "$src" "$1" >/dev/null 2>&1
    trap 'git -C "$root" worktree remove --force "$src"' EXIT
fi
export CARGO_TARGET_DIR=${CALLGRIND_TARGET_DIR:-$root/target/callgrind}
# The example of the working tree, so older revisions are measured with the same modes.
[[ $src == "$root" ]] || cp "$root/shmpipe/examples/hot_path.rs" "$src/shmpipe/examples/hot_path.rs"
(cd "$src" && cargo build -q --profile bench -p shmpipe --example hot_path)
bin=$CARGO_TARGET_DIR/release/examples/hot_path
count() {
    valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$1" "$2" "$3" 2>&1 |
        sed -n 's/.*Collected : \([0-9]*\).*/\1/p'
}
echo "revision: ${1:-working tree} ($(git -C "$src" rev-parse --short HEAD))"
for mode in send batch values; do
    for size in 8 64; do
        [[ $mode == values && $size != 8 ]] && continue
        a=$(count "$size" "$mode" 100000)
        b=$(count "$size" "$mode" 200000)
        echo "$mode $size B: $(( (b - a) / 100000 )) instructions per message (sent and received)"
    done
done
