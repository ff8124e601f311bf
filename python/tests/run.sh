#!/usr/bin/env bash
# Builds the Python module into a venv under target/ and runs its pytest suite against the
# Rust command and the C programs (which must be built: see scripts/test.sh).
#
#   python/tests/run.sh [PATH/TO/shmpipe [DIR/OF/C/PROGRAMS]]
#
# Skips (exit 0, with the reason printed) only when python3 or pip is absent. Ends with a
# cargo-style "test result:" line.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
cli=$(realpath "${1:-target/debug/shmpipe}")
c_bin=$(realpath "${2:-target/c}")

skip() {
    echo "python: skipped: $*"
    exit 0
}
command -v python3 >/dev/null || skip "python3 is not installed"
venv=target/pyvenv
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; skip "python3 cannot create a venv (install python3-venv)"; }
fi
"$venv/bin/python" -m pip --version >/dev/null 2>&1 || skip "pip is not available in the venv"
export PATH="$root/$venv/bin:$PATH" # maturin's build hook runs the `maturin` it installs there
# The build tools once (pip's cache keeps them), then the module from ./python without build
# isolation, into the same target directory each time so cargo rebuilds only what changed.
"$venv/bin/python" -m pip install -q --disable-pip-version-check "maturin>=1.5,<2" pytest
CARGO_TARGET_DIR="$root/target/python" "$venv/bin/python" -m pip install -q \
    --disable-pip-version-check --no-build-isolation --force-reinstall --no-deps ./python

log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
SHMPIPE_CLI="$cli" SHMPIPE_C_BIN="$c_bin" SHMPIPE_REQUIRE_PROGRAMS=1 \
    "$venv/bin/python" -m pytest -v -p no:cacheprovider python/tests 2>&1 | tee "$log" || status=$?
passed=$(grep -c " PASSED" "$log" || true)
failed=$(grep -cE " (FAILED|ERROR)" "$log" || true)
echo "test result: $([ "$status" = 0 ] && echo ok || echo FAILED). $passed passed; $failed failed"
exit "$status"
