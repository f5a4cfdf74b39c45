#!/usr/bin/env bash
# The main job: Runnel's example pipeline on the embedded log. Pass a directory to keep the
# data (default: a fresh temporary directory).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo run --locked --example log_tour -- "$@"
