#!/usr/bin/env bash
# Checks that every command of the README, the benches and CI builds the heavy C/C++
# dependencies (librocksdb-sys, rdkafka-sys, zstd-sys, libz-sys) as one and the same unit, so
# each is compiled once per machine. Cargo hashes a build script's run by the features and
# profile of everything it depends on; a command that resolves another feature of a shared
# build dependency (syn, libc, ...) would compile RocksDB (~20 min here) a second time.
#
# CARGO_LOCKED= runs it on an unlocked tree (after a dependency change, before the lock is updated).
# It asks Cargo for each command's unit graph (`--unit-graph`, stable Cargo's unstable flag,
# hence RUSTC_BOOTSTRAP) without building anything, and compares the build-script units. On a
# difference it names the commands; `workspace-hack/Cargo.toml` is where a feature is unified.
set -euo pipefail
cd "$(dirname "$0")/.."

commands=(
  "build --example cdc_aggregates"
  "check --workspace --all-targets"
  "test --workspace --no-run"
  "build --bins --examples"
  "doc --workspace --no-deps"
  "bench --workspace --profile dev --no-run"
  "test -p runnel-storage --no-run"
  "test -p runnel-stream-core --no-run"
  "test -p runnel-registry --no-run"
  "test -p runnel-stream-dsl --no-run"
  "bench -p runnel-storage --bench log --profile dev --no-run"
)

sig='
import json, sys, hashlib
units = json.load(sys.stdin)["units"]
memo = {}
def sig(i):
    if i not in memo:
        u = units[i]
        profile = dict(u["profile"]); profile.pop("name", None)
        own = json.dumps([u["pkg_id"], u["target"]["kind"], u["target"]["name"], u["mode"],
                          sorted(u["features"]), profile, u.get("platform")], sort_keys=True)
        deps = "".join(sorted(sig(d["index"]) for d in u["dependencies"]))
        memo[i] = hashlib.sha256((own + deps).encode()).hexdigest()[:16]
    return memo[i]
for i, u in enumerate(units):
    name = u["pkg_id"].split("#")[-1].split("@")[0]
    if u["mode"] == "run-custom-build" and name in ("librocksdb-sys", "rdkafka-sys", "zstd-sys", "libz-sys"):
        print(name, sig(i))
'

declare -A seen
status=0
for command in "${commands[@]}"; do
  # shellcheck disable=SC2086
  units=$(RUSTC_BOOTSTRAP=1 cargo $command ${CARGO_LOCKED---locked} -Z unstable-options --unit-graph | python3 -c "$sig")
  while read -r name hash; do
    [ -n "$name" ] || continue
    if [ -z "${seen[$name]:-}" ]; then
      seen[$name]="$hash|$command"
    elif [ "${seen[$name]%%|*}" != "$hash" ]; then
      echo "error: '$command' builds $name differently from '${seen[$name]#*|}'" >&2
      status=1
    fi
  done <<< "$units"
done
if [ $status -eq 0 ]; then
  echo "one build of ${!seen[*]} across ${#commands[@]} commands"
fi
exit $status
