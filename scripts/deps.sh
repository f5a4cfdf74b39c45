#!/usr/bin/env bash
# Installs what building and testing Runnel needs on Debian/Ubuntu, when it is missing.
# Sourced by scripts/main.sh and scripts/test.sh; safe to run on its own.
# As root (or with passwordless sudo) it installs with apt-get; otherwise it prints the exact
# command to run and stops, so nobody meets a bare linker or bindgen error halfway through.
set -euo pipefail

need_debs=()
# A C toolchain: zstd and (later) RocksDB and librdkafka are built from C/C++ sources.
command -v cc >/dev/null 2>&1 || need_debs+=(build-essential)
command -v c++ >/dev/null 2>&1 || need_debs+=(g++)
command -v make >/dev/null 2>&1 || need_debs+=(make)
command -v pkg-config >/dev/null 2>&1 || need_debs+=(pkg-config)
# kcat (librdkafka's CLI): the wire-protocol tests drive `runnel serve` with a real client.
command -v kcat >/dev/null 2>&1 || need_debs+=(kcat)
# Extra packages a caller asks for (e.g. RUNNEL_EXTRA_DEBS="kcat libclang-dev").
for pkg in ${RUNNEL_EXTRA_DEBS:-}; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_debs+=("$pkg")
done

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: Rust is not installed. Install it with rustup (https://rustup.rs), then re-run." >&2
  exit 1
fi

if [ ${#need_debs[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    apt_get=(apt-get)
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    apt_get=(sudo apt-get)
  else
    echo "error: missing system packages: ${need_debs[*]}" >&2
    echo "run:   sudo apt-get update && sudo apt-get install -y ${need_debs[*]}" >&2
    exit 1
  fi
  echo "installing system packages: ${need_debs[*]}" >&2
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" update -qq
  DEBIAN_FRONTEND=noninteractive "${apt_get[@]}" install -y -qq "${need_debs[@]}" >/dev/null
fi

# Python: kafka-python and confluent-kafka for tests/wire_python.rs (which skips without them),
# installed into whichever python3 is on PATH. Never fatal: a missing client skips those tests.
if command -v python3 >/dev/null 2>&1 && ! python3 -c 'import kafka, confluent_kafka' >/dev/null 2>&1; then
  py_pkgs=(kafka-python confluent-kafka)
  if python3 -m pip --version >/dev/null 2>&1; then
    echo "installing python packages: ${py_pkgs[*]}" >&2
    if ! python3 -m pip install --quiet "${py_pkgs[@]}"; then
      # A Debian-managed python3 refuses plain pip installs (PEP 668); these are test-only.
      python3 -m pip install --quiet --break-system-packages "${py_pkgs[@]}" \
        || echo "warning: could not install ${py_pkgs[*]}; run: python3 -m pip install ${py_pkgs[*]}" >&2
    fi
  else
    echo "warning: pip is not available for python3; the Python wire tests will be skipped" >&2
    echo "run:   sudo apt-get install -y python3-pip && python3 -m pip install --quiet ${py_pkgs[*]}" >&2
  fi
fi

# One target directory outside the clone, shared by every run on this machine, so heavy C/C++
# dependencies are not rebuilt for each fresh clone.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/runnel-target}"
