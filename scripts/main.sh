#!/usr/bin/env bash
# The main job: Runnel's change-data-capture example on the embedded cluster — a Debezium-style
# change stream of an orders table aggregated per customer, checked against a direct
# computation. Arguments go to the example: a directory to keep the data (default: a fresh
# temporary directory), --events N, --threads N.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
cargo run --locked --example cdc_aggregates -- "$@"
