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

# cargo verifies each package against the others through a local registry overlay: it
# extracts them into its registry cache, and takes a registry crate's build for fresh
# whenever its version matches, so an extraction or a build left by an earlier run of the same
# version would stand in for this tree's sources. Remove both first (the verification builds
# in its own target directory, whose other crates stay cached).
cargo_home=${CARGO_HOME:-$HOME/.cargo}
export CARGO_TARGET_DIR=target/package-verify
rm -rf "$cargo_home"/registry/src/*/shmpipe-0* "$cargo_home"/registry/src/*/shmpipe-bench-0* \
    "$cargo_home"/registry/src/*/shmpipe-cli-0* "$CARGO_TARGET_DIR"/package \
    "$CARGO_TARGET_DIR"/debug/.fingerprint/shmpipe* "$CARGO_TARGET_DIR"/debug/deps/libshmpipe*

echo "package: cargo publish --dry-run (shmpipe, shmpipe-bench, shmpipe-cli)"
cargo publish --dry-run --allow-dirty -p shmpipe -p shmpipe-bench -p shmpipe-cli

echo "package: shmpipe's .crate, unpacked, tested on its own"
cargo package --allow-dirty --no-verify -p shmpipe
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
unpacked=$(mktemp -d)
trap 'rm -rf "$unpacked"' EXIT
tar xzf "$CARGO_TARGET_DIR/package/shmpipe-$version.crate" -C "$unpacked"
# The unpacked files carry the packaging time, not this tree's: a build of them left by an
# earlier run would look fresh to cargo. Its dependencies stay cached.
rm -rf target/unpacked/debug/.fingerprint/shmpipe-* target/unpacked/debug/deps/*shmpipe*
(
    cd "$unpacked/shmpipe-$version"
    ls
    SHMPIPE_TEST_RECORDS=${SHMPIPE_TEST_RECORDS:-100000} \
        CARGO_TARGET_DIR="$OLDPWD/target/unpacked" cargo test --features test-hooks,tokio
)
