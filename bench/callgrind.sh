#!/usr/bin/env bash
# Instructions per request in Meridian's data plane, counted by callgrind (stable on a noisy
# machine, unlike time): the loadtarget example runs under valgrind with collection off; after
# a warm-up, collection is switched on for exactly N requests sent by h2load (HTTP/1.1
# keep-alive with --h1, or h2c), then dumped. Prints instructions/request and the top
# functions (inclusive) to bench/results/callgrind-<mode>.txt.
#
# Environment: N (requests counted, 20000), CONNS (32), MODE (h1 | h2 | hop-plain | hop-mtls),
# PATHQ (request path, /), TOP (functions listed, 40).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
N="${N:-20000}"
CONNS="${CONNS:-32}"
MODE="${MODE:-h1}"
PATHQ="${PATHQ:-/}"
TOP="${TOP:-40}"
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
command -v h2load >/dev/null || { echo "h2load is required (apt-get install nghttp2-client)" >&2; exit 1; }

(cd "$repo" && cargo build --release -q -p meridian-proxy --example loadtarget --example demo_origin)
bin="${CARGO_TARGET_DIR:-$repo/target}/release/examples"
run="$(mktemp -d /tmp/meridian-callgrind.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

"$bin/demo_origin" --port 18100 --service origin --version v1 >"$run/origin.log" 2>&1 &
pids+=($!)
extra=()
case "$MODE" in hop-plain) extra=(--hop plain) ;; hop-mtls) extra=(--hop mtls) ;; esac
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$run/callgrind.out" \
  "$bin/loadtarget" --origin 127.0.0.1:18100 "${extra[@]}" >"$run/proxy.out" 2>"$run/valgrind.log" &
vpid=$!
pids+=("$vpid")
for _ in $(seq 1 600); do grep -q '^proxy ' "$run/proxy.out" 2>/dev/null && break; sleep 0.1; done
addr=$(awk '/^proxy / {print $2}' "$run/proxy.out")
[ -n "$addr" ] || { cat "$run/valgrind.log" >&2; exit 1; }
load() {
  if [ "$MODE" = h2 ]; then
    h2load -n "$1" -c 16 -m 16 "http://$addr$PATHQ"
  else
    h2load --h1 -n "$1" -c "$CONNS" "http://$addr$PATHQ"
  fi
}
load 2000 >/dev/null # warm-up: connections, pools, first-use allocations
callgrind_control -i on "$vpid" >/dev/null 2>&1
load "$N" >"$run/load.txt"
callgrind_control -i off "$vpid" >/dev/null 2>&1
callgrind_control -d "$vpid" >/dev/null 2>&1
sleep 1
grep -E "succeeded" "$run/load.txt" >&2 || true
out="$run/callgrind.out.1"
total=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
mkdir -p "$here/results"
report="$here/results/callgrind-$MODE.txt"
{
  echo "mode $MODE, $N requests, $CONNS connections: $total instructions, $((total / N)) per request"
  echo
  callgrind_annotate --inclusive=yes "$out" 2>/dev/null | sed -n "1,$((TOP + 25))p"
} >"$report"
echo "$MODE: $((total / N)) instructions/request ($total for $N; report: $report, raw: $out)"
