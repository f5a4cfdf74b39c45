#!/usr/bin/env bash
# Apache Kafka 4.4 as the reference broker for Runnel (issue 8).
#
#   interop/kafka-ref.sh start DIR PORT   fresh single-node KRaft broker on 127.0.0.1:PORT, state in DIR
#   interop/kafka-ref.sh wait  DIR PORT   block until 127.0.0.1:PORT answers a metadata request (60 s max)
#   interop/kafka-ref.sh stop  DIR PORT   kill the broker whose pid is in DIR and remove DIR
#
# Environment: KAFKA_HEAP_OPTS and KAFKA_JVM_PERFORMANCE_OPTS as for kafka-server-start.sh;
# KAFKA_REF_PROPS, extra server.properties lines appended last; KAFKA_REF_WAIT_SECS for `wait`.
#
# Everything listens on 127.0.0.1 only: the broker on PORT, the KRaft controller on a free
# ephemeral loopback port chosen at start. Kafka's jars come from Maven (interop/pom.xml); the
# classpath file is built on first use. Configs are kept comparable to Runnel's defaults:
# one partition per auto-created topic, replication factor 1 for internal topics, and log.flush.*
# left at Kafka's defaults (flush left to the OS), as Runnel's are.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CP_FILE="$HERE/target/kafka.classpath"

die() { echo "kafka-ref: $*" >&2; exit 1; }

usage() { die "usage: $0 start|stop|wait DIR PORT"; }

# The runtime classpath of Kafka 4.4, resolved by Maven once and cached under interop/target/.
classpath() {
  if [[ ! -s "$CP_FILE" ]]; then
    command -v mvn >/dev/null || die "mvn not found: install Maven (and a JDK 17) to run Apache Kafka"
    mvn -q -B -f "$HERE/pom.xml" generate-resources >&2 || die "maven could not resolve Kafka 4.4"
  fi
  cat "$CP_FILE"
}

# A free loopback port for the controller, so it never collides with PORT or another test.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# True once the broker answers a metadata request (kcat), or at least accepts TCP (no kcat).
answers() {
  local port="$1"
  if command -v kcat >/dev/null; then
    kcat -L -b "127.0.0.1:$port" -m 2 >/dev/null 2>&1
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

alive() { [[ -s "$1/kafka.pid" ]] && kill -0 "$(cat "$1/kafka.pid")" 2>/dev/null; }

cmd_start() {
  local dir="$1" port="$2"
  command -v java >/dev/null || die "java not found: Apache Kafka 4.4 needs a JDK 17"
  if [[ -e "$dir" ]] && [[ -n "$(ls -A "$dir")" ]]; then
    die "$dir is not empty: the reference broker always starts from a fresh data dir"
  fi
  if answers "$port"; then die "127.0.0.1:$port is already in use"; fi
  mkdir -p "$dir/data"
  dir="$(cd "$dir" && pwd)"
  local cp cport cluster
  cp="$(classpath)"
  cport="$(free_port)"

  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
num.partitions=1
auto.create.topics.enable=true
default.replication.factor=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
PROPS
  # Extra broker properties, one key=value per line (e.g. timing knobs a test needs); they come
  # last, so they override the defaults above.
  if [[ -n "${KAFKA_REF_PROPS:-}" ]]; then printf '%s\n' "$KAFKA_REF_PROPS" >>"$dir/server.properties"; fi

  # The broker's own log goes to DIR/server.log; the console stays quiet.
  cat >"$dir/log4j2.properties" <<LOG
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = $dir/server.log
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
LOG

  # kafka-storage.sh runs kafka.tools.StorageTool (in kafka_2.13) in 4.4 too.
  cluster="$(java -cp "$cp" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
  [[ -n "$cluster" ]] || die "StorageTool random-uuid printed nothing"
  java -cp "$cp" -Dlog4j2.configurationFile="$dir/log4j2.properties" kafka.tools.StorageTool format \
    -t "$cluster" -c "$dir/server.properties" >"$dir/format.log" 2>&1 \
    || die "storage format failed: $(cat "$dir/format.log")"

  # Same JVM flags as kafka-server-start.sh, overridable the same way.
  local heap="${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G}"
  local perf="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}"
  # shellcheck disable=SC2086 # the option strings are word lists on purpose
  nohup java $heap $perf -Dlog4j2.configurationFile="$dir/log4j2.properties" -cp "$cp" \
    kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
  echo "$cport" >"$dir/controller.port"
  echo "kafka-ref: started pid $(cat "$dir/kafka.pid") on 127.0.0.1:$port (controller 127.0.0.1:$cport), dir $dir"
}

cmd_wait() {
  local dir="$1" port="$2" deadline=$((SECONDS + ${KAFKA_REF_WAIT_SECS:-60}))
  until answers "$port"; do
    alive "$dir" || die "broker exited before answering; see $dir/server.log and $dir/stdout.log"
    ((SECONDS < deadline)) || die "127.0.0.1:$port did not answer within ${KAFKA_REF_WAIT_SECS:-60} s"
    sleep 0.5
  done
  echo "kafka-ref: 127.0.0.1:$port is ready"
}

cmd_stop() {
  local dir="$1"
  [[ -e "$dir" ]] || return 0
  # Only remove a dir this script made, never an arbitrary path given by mistake.
  [[ -f "$dir/server.properties" ]] || die "$dir does not look like a kafka-ref dir; not removing it"
  if alive "$dir"; then
    local pid; pid="$(cat "$dir/kafka.pid")"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -rf "$dir"
  echo "kafka-ref: stopped and removed $dir"
}

[[ $# -eq 3 ]] || usage
[[ "$3" =~ ^[0-9]+$ ]] || die "PORT must be a number, got '$3'"
case "$1" in
  start) cmd_start "$2" "$3" ;;
  wait) cmd_wait "$2" "$3" ;;
  stop) cmd_stop "$2" "$3" ;;
  *) usage ;;
esac
