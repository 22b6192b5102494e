#!/usr/bin/env bash
# Client-visible latency with a Pushgateway push per invocation, flush before vs after the
# response (BENCHMARKS.md, issue 12):
#
#   bash coldstart-bench/scripts/flush_latency.sh [EVENTS] [ROUNDS] [GAP_MS]  # defaults 1000, 3, 5
#
# Needs `prometheus-pushgateway` on PATH (Debian package); starts it on a free loopback port.
# Each round runs the four modes (none, before, after, after-noop) in their own process, rotating the order,
# and prints `mode median p25 p75` in microseconds from event delivery to the response's arrival.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-1000}
rounds=${2:-3}
gap=${3:-5}

cargo build --release --features driver --bin flush-latency

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
prometheus-pushgateway --web.listen-address="127.0.0.1:$port" >/tmp/flush-latency-pushgateway.log 2>&1 &
gateway=$!
trap 'kill "$gateway" 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
    sleep 0.2
done

modes=(none before after after-noop)
echo "mode median_us p25_us p75_us   ($events warm invocations per process, each event $gap ms after /next)"
for round in $(seq 1 "$rounds"); do
    for i in 0 1 2 3; do
        mode=${modes[$(( (i + round) % 4 ))]}
        target/release/flush-latency "$mode" "$events" "http://127.0.0.1:$port" "$gap"
    done
done
