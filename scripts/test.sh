#!/usr/bin/env bash
# The whole test suite: formatting, lints, the API docs, and every test of the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== one build of RocksDB and librdkafka for every command"
scripts/check-one-build.sh
echo "== cargo clippy --all-targets -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked
echo "== cargo test"
cargo test --workspace --locked
