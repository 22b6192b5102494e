#!/usr/bin/env bash
# The INIT distribution rows of BENCHMARKS.md ("coldstart's own INIT tail"): cold starts of
# stripped bench binaries through `cargo coldstart profile --json`, interleaved in small rounds so
# that two builds see the same machine load, then p50/p95/p99/max and runs > 20 ms per binary.
#
#   DIRS="before after" BINS="fn-plain fn-coldstart fn-coldstart-install fn-coldstart-push" \
#     ROUNDS=50 RUNS=20 bash coldstart-bench/scripts/init_tail.sh
#
# Each DIR (relative to coldstart-bench/target/init-tail/) holds the stripped binaries of one
# build, e.g. `strip -o target/init-tail/after/fn-coldstart-install target/release/fn-coldstart-install`
# after `cargo build --release --features push,driver --bins`. fn-coldstart-push pushes to the
# aggregating gateway at GATEWAY_URL (default http://127.0.0.1:4278: `gravel-gateway -l 127.0.0.1:4278`).
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-50}; runs=${RUNS:-20}; base=target/init-tail; out=$base/runs
gateway=${GATEWAY_URL:-http://127.0.0.1:4278}
tool=${TOOL:-../target/release/cargo-coldstart}
[[ -x $tool ]] || (cd .. && cargo build --release -p cargo-coldstart)
rm -rf "$out"; mkdir -p "$out"
for round in $(seq 1 "$rounds"); do
  for bin in $BINS; do
    for dir in $DIRS; do
      env_args=()
      [[ $bin == fn-coldstart-push ]] && env_args=(--env "GATEWAY_URL=$gateway")
      "$tool" coldstart profile "$base/$dir/$bin" --runs "$runs" --json "${env_args[@]}" \
        > "$out/$round.$dir.$bin.json" 2> "$out/$round.$dir.$bin.err" || echo "round $round: $dir/$bin failed ($?)"
    done
  done
done
python3 scripts/init_tail_summary.py "$out"
