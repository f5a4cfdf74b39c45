#!/usr/bin/env bash
# Regenerates BENCHMARKS.md and benchmarks.svg: Runnel beside Apache Kafka 4.4 and Kafka Streams
# 4.4 on this machine, in one run (benches/side_by_side.rs says what runs). Takes 10-15 minutes
# on two cores; run it on an idle machine (the report says what load it saw).
#
#   scripts/benchmarks.sh [--rounds N] [--lines N] [--events N] [--only broker|streams] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
for tool in java mvn; do
  command -v "$tool" >/dev/null || { echo "benchmarks: $tool not found: the Apache Kafka side needs a JDK 17 and Maven" >&2; exit 2; }
done
# The dev profile is optimized (Cargo.toml): one build of RocksDB serves tests and benches.
exec cargo bench --locked --bench side_by_side --profile dev -- "$@"
