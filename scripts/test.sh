#!/usr/bin/env bash
# The whole test suite: unit, in-process, cross-process, CLI and doc tests, the C, C++ and
# Python bindings, the packaged crates, then the loom
# models of the ring protocol (bounded for CI; see loom-tests/README.md for longer runs).
# Ends with one line summing every test binary's result.
set -euo pipefail
cd "$(dirname "$0")/.."

log=$(mktemp)
trap 'rm -f "$log"' EXIT
run() { "$@" 2>&1 | tee -a "$log"; }

# Every crate (the benchmark crate too: its criterion benches run once each in test mode),
# with the library's test hooks on, so the hostile-memory property tests run.
run cargo test --workspace --all-targets --features shmpipe/test-hooks,shmpipe/tokio
run cargo test --workspace --doc --features shmpipe/tokio
# The C API from C and C++ (a plain make against shmpipe.h; the library as the tests above built
# it), then against the command they built, both ways; then Python (a venv under target/).
run make -C shmpipe-c PROFILE=test CARGOFLAGS=--features=shmpipe/test-hooks,shmpipe/tokio
run shmpipe-c/tests/interop.sh target/debug/shmpipe target/c
run python/tests/run.sh target/debug/shmpipe target/c
# The fuzz target must keep compiling (it builds on its own, outside the workspace; running it
# needs nightly and cargo-fuzz: fuzz/README.md).
run cargo check --manifest-path fuzz/Cargo.toml
# Benches must keep compiling in the bench profile (they are not run here).
run cargo bench -p shmpipe-bench --no-run
# The published crates: dry-run publish, and the library's unpacked .crate passes its tests.
run ./scripts/package_check.sh
if [ -x .ci/loom ]; then
    run .ci/loom
fi

# cargo's "test result:" lines, plus one line per loom model from .ci/loom.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     /^loom: [a-z0-9_]+ +ok / { p++ }
     /^loom: [a-z0-9_]+ +(FAILED|TIMEOUT|failed|timeout)/ { f++ }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
