#!/usr/bin/env bash
# The whole test suite: unit, in-process, cross-process, CLI and doc tests, then the loom
# models of the ring protocol (bounded for CI; see loom-tests/README.md for longer runs).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --all-targets
cargo test --workspace --doc
# Benches must keep compiling (they are not run here).
if [ -d benches ] && ls benches/*.rs >/dev/null 2>&1; then
    cargo bench --no-run
fi
if [ -x .ci/loom ]; then
    .ci/loom
fi
