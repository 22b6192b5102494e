#!/usr/bin/env bash
# The repeatable measure of the cold-path row of BENCHMARKS.md: user-space instructions from exec
# to the first response, counted by valgrind's callgrind (all threads), RUNS runs per binary:
#
#   bash coldstart-bench/scripts/callgrind.sh [RUNS] [BINARY...]   # RUNS defaults to 3
#
# Each run is one event through the local Runtime API (`cold-driver --once`). Callgrind dumps its
# counts before every poll of hyper_util's `send_request` (the first one sends the first `/next`)
# and before lambda_runtime builds the `/response` request, so the counts split into:
#   before_next   exec -> first /next sent (loader, std and tokio start-up, INIT)
#   first_inv     the last segment before the response request is built (the poll that runs the
#                 first invocation: deserialize, handler, recording)
#   to_response   exec -> response request built: everything before the response goes on the wire
#   maps          of that, glibc's pthread_getattr_np (std calls it before main): it parses
#                 /proc/self/maps, whose length under valgrind depends on valgrind's own mappings
#                 of the binary, not on what the binary does (same number of LOAD segments)
#   total         the whole process, including the work after the response (the cold-start
#                 report), until it is stopped waiting for the second event
# Needs valgrind (Debian: `apt-get install valgrind`). Uses the unstripped release binaries, so that
# the dump triggers resolve.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift || true
bins=("$@")
[ ${#bins[@]} -gt 0 ] || bins=(fn-plain fn-coldstart)

cargo build --release --bins
cargo build --release --features driver --bin cold-driver

out=target/callgrind
mkdir -p "$out"
send='--dump-before=hyper_util::client::legacy::client::Client<C,B>::send_request::{{closure}}'
into_req='--dump-before=<lambda_runtime::requests::EventCompletionRequest<R,B,S,D,E> as lambda_runtime::requests::IntoRequest>::into_req'

printf '| binary | run | before_next | first_inv | to_response | maps | to_response - maps | total |\n'
printf '|---|---|---|---|---|---|---|---|\n'
for run in $(seq 1 "$runs"); do
    for bin in "${bins[@]}"; do
        file="$out/$bin.$run.out"
        rm -f "$file" "$file".*
        target/release/cold-driver --once --linger-ms 3000 -- \
            valgrind --tool=callgrind --callgrind-out-file="$file" "$send" "$into_req" \
            "target/release/$bin" >/dev/null 2>"$out/$bin.$run.log"
        # awk reads to the end (no `exit`): an early exit would SIGPIPE callgrind_annotate, and
        # under pipefail that ended the whole script, at random, before it printed the row.
        maps=$(callgrind_annotate --inclusive=yes "$file.1" 2>/dev/null \
            | awk '!found && /pthread_getattr_np/ { gsub(",", "", $1); print $1; found = 1 }')
        # Parts in order: part N is the cost up to its trigger; the program-termination dump is
        # the last part.
        for part in "$file".* "$file"; do
            awk '/^part:/ { p = $2 } /^desc: Trigger:/ { t = $0 } /^summary:/ { s = $2 }
                 END { print p, s, (t ~ /into_req/ ? "into_req" : (t ~ /send_request/ ? "send" : "end")) }' "$part"
        done | sort -n | awk -v bin="$bin" -v run="$run" -v maps="${maps:-0}" '
            NR == 1 { before = $2 }
            { total += $2; if (!done) { upto += $2; if ($3 == "into_req") { done = 1; first = $2 } } }
            END { printf "| %s | %d | %d | %d | %d | %d | %d | %d |\n", bin, run, before, first, upto, maps, upto - maps, total }'
    done
done
