#!/usr/bin/env bash
# Side-by-side ProducerPerformance (kafka-tools 4.4): Apache Kafka vs `runnel serve`, same machine,
# same client, same run. 1 M x 100 B records into a fresh 4-partition topic, acks=1 by default.
#
#   interop/producer-perf.sh [RUNNEL_BIN]    (default $HOME/.cache/runnel-target/debug/runnel)
#   RECORDS=1000000 ACKS=1 interop/producer-perf.sh
#
# Prints the load first: numbers taken on a busy box are not comparable, so it says so.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUNNEL="${1:-$HOME/.cache/runnel-target/debug/runnel}"
RECORDS="${RECORDS:-1000000}" ACKS="${ACKS:-1}"
KPORT="${KPORT:-19392}" RPORT="${RPORT:-19393}"
WORK="$(mktemp -d /tmp/producer-perf.XXXXXX)"
RPID=""
cleanup() {
  if [[ -n "$RPID" ]]; then kill "$RPID" 2>/dev/null || true; wait "$RPID" 2>/dev/null || true; fi
  if [[ -d "$WORK/kafka" ]]; then "$HERE/kafka-ref.sh" stop "$WORK/kafka" "$KPORT" >/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "load: $(uptime)"
busy="$(pgrep -c 'rustc|cc1plus' || true)"
[[ "$busy" == 0 ]] || echo "WARNING: $busy compiler processes running; the machine is not idle"

"$HERE/kafka-ref.sh" start "$WORK/kafka" "$KPORT" >/dev/null
CP="$(cat "$HERE/target/kafka.classpath")"

run() { # NAME BOOTSTRAP
  java -Xmx512M -cp "$CP" org.apache.kafka.tools.TopicCommand --bootstrap-server "$2" --create \
    --topic perf --partitions 4 --replication-factor 1 >/dev/null
  local line
  line="$(java -Xmx512M -cp "$CP" org.apache.kafka.tools.ProducerPerformance --topic perf \
    --num-records "$RECORDS" --record-size 100 --throughput -1 \
    --command-property "bootstrap.servers=$2" "acks=$ACKS" 2>/dev/null | tail -1)"
  printf '%-12s %s\n' "$1" "$line"
  busy="$(pgrep -c 'rustc|cc1plus' || true)"
  [[ "$busy" == 0 ]] || echo "WARNING: $busy compiler processes running after the $1 run; not comparable"
}

"$HERE/kafka-ref.sh" wait "$WORK/kafka" "$KPORT" >/dev/null
run "apache-kafka" "127.0.0.1:$KPORT"
"$HERE/kafka-ref.sh" stop "$WORK/kafka" "$KPORT" >/dev/null

if [[ -x "$RUNNEL" ]]; then
  "$RUNNEL" serve --data-dir "$WORK/runnel" --listen "127.0.0.1:$RPORT" >"$WORK/runnel.log" 2>&1 &
  RPID=$!
  for _ in $(seq 1 150); do kcat -L -b "127.0.0.1:$RPORT" -m 2 >/dev/null 2>&1 && break; sleep 0.2; done
  run "runnel" "127.0.0.1:$RPORT"
else
  echo "runnel       skipped: no binary at $RUNNEL"
fi
echo "load: $(uptime)"
