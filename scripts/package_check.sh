#!/usr/bin/env bash
# The published crates, checked as a user gets them: `cargo publish --dry-run` of shmpipe,
# shmpipe-bench and shmpipe-cli together (cargo verifies each against the others' packages, as
# they are not on crates.io yet; `-p shmpipe-cli` alone needs shmpipe on crates.io first), then
# the library's `.crate` unpacked and its own tests run from there (with the test hooks on, so
# the hostile-memory property tests run too; the fuzz corpus stays in the repository).
#
#   SHMPIPE_TEST_RECORDS   records per cross-process stream in the unpacked run (default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "package: cargo publish --dry-run (shmpipe, shmpipe-bench, shmpipe-cli)"
cargo publish --dry-run --allow-dirty -p shmpipe -p shmpipe-bench -p shmpipe-cli

echo "package: shmpipe's .crate, unpacked, tested on its own"
cargo package --allow-dirty --no-verify -p shmpipe
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
tar xzf "target/package/shmpipe-$version.crate" -C "$unpacked"
(
    cd "$unpacked/shmpipe-$version"
    ls
    SHMPIPE_TEST_RECORDS=${SHMPIPE_TEST_RECORDS:-100000} \
        CARGO_TARGET_DIR="$OLDPWD/target/unpacked" cargo test --features test-hooks,tokio
)
