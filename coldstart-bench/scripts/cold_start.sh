#!/usr/bin/env bash
# The cold-path and size rows of BENCHMARKS.md, reproducibly:
#
#   bash coldstart-bench/scripts/cold_start.sh [RUNS]      # RUNS defaults to 100 (>= 30)
#
# Builds four release binaries of the same echo handler on lambda_runtime, strips them, prints
# their sizes, then has `cold-driver` (which owns the local Runtime API and the clock, measuring
# through `cargo coldstart`'s library, `cargo_coldstart::run::run_cold`) start each
# one RUNS times, alternating, and report exec -> first response medians and ratios.
#   fn-plain                  no coldstart, no recorder (the baseline)
#   fn-coldstart              #[cold_start_handler] + coldstart::lambda::run, no exporter (size row)
#   fn-plain-prometheus       fn-plain with a Prometheus recorder installed
#   fn-coldstart-prometheus   fn-coldstart with the same recorder (cold-path row: vs the line above)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}

cargo build --release --bins
cargo build --release --features driver --bin cold-driver

out=target/cold
mkdir -p "$out"
bins=(fn-plain fn-coldstart fn-plain-prometheus fn-coldstart-prometheus)
for bin in "${bins[@]}"; do
    strip -o "$out/$bin" "target/release/$bin"
done

echo "## stripped release binaries ($(uname -m))"
echo
echo "| binary | bytes | KiB | added vs fn-plain |"
echo "|---|---|---|---|"
base=$(stat -c %s "$out/fn-plain")
for bin in "${bins[@]}"; do
    size=$(stat -c %s "$out/$bin")
    awk -v b="$bin" -v s="$size" -v base="$base" \
        'BEGIN { printf "| %s | %d | %.1f | %+.1f KiB |\n", b, s, s / 1024, (s - base) / 1024 }'
done
echo
echo "## exec -> first response through the local Runtime API"
echo
# Each pair alternates: baseline first, then the binary with coldstart (the driver rotates the
# order every run).
echo "### no recorder"
target/release/cold-driver --runs "$runs" "$out/fn-plain" "$out/fn-coldstart"
echo
echo "### Prometheus recorder installed"
target/release/cold-driver --runs "$runs" "$out/fn-plain-prometheus" "$out/fn-coldstart-prometheus"
