#!/usr/bin/env bash
# The gateway under attack, by hand: normal clients (wrk) beside hostile ones, in alternating
# windows with and without the attackers, through a real `meridian up` (release build).
#
# Attackers (bench/soak-attackers.py): idle connections that never send a byte (reopened
# when the gateway closes them), slow-head clients trickling one byte a second, and a stream
# of requests with spoofed X-Forwarded-For and peer-metadata headers, each with a new value.
#
# Reports, per window: wrk's requests/s and p50/p99, and the node's RSS and open descriptors;
# then the attacked windows' p99 as a ratio to the quiet ones'. Writes bench/results/soak.md;
# with UPDATE_BENCHMARKS=1, into BENCHMARKS.md between the `<!-- bench:soak -->` markers.
#
# Environment: WINDOWS (pairs of windows, 5), WINDOW (seconds each, 60), CONNS (wrk, 16),
# IDLE (2000), SLOW (100), SPOOF_RPS (20), NODE_CPU (1), LOAD_CPU (0), SKIP_BUILD=1.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
WINDOWS="${WINDOWS:-5}"
WINDOW="${WINDOW:-60}"
CONNS="${CONNS:-16}"
IDLE="${IDLE:-2000}"
SLOW="${SLOW:-100}"
SPOOF_RPS="${SPOOF_RPS:-20}"
NODE_CPU="${NODE_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
target="${CARGO_TARGET_DIR:-$repo/target}"
run="$(mktemp -d /tmp/meridian-soak.XXXXXX)"
pids=()
log() { printf '== %s\n' "$*" >&2; }
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

command -v wrk >/dev/null || { log "wrk is needed (apt-get install wrk)"; exit 1; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  (cd "$repo" && cargo build --release -p meridian) >&2
fi
meridian="$target/release/meridian"

mkdir -p "$run/app"
cat >"$run/app/app.yaml" <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 3000}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: web
        command: ["meridian", "demo-app", "--service", "web"]
        ports: [{containerPort: 3000}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 80, name: http, protocol: HTTP}
    hosts: ["*"]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: web}
spec:
  hosts: ["*"]
  gateways: [edge]
  http:
  - route: [{destination: {host: web}}]
EOF

log "meridian up (release) on CPU $NODE_CPU"
(cd "$run" && PATH="$(dirname "$meridian"):$PATH" exec taskset -c "$NODE_CPU" "$meridian" up app \
  --admin-addr 127.0.0.1:0 --gateway-port 80=0 >"$run/up.out" 2>"$run/up.err") &
pids+=($!)
node_pid=$!
for _ in $(seq 1 100); do grep -q "watching for changes" "$run/up.out" 2>/dev/null && break; sleep 0.3; done
gateway=$(grep -o 'gateway   http://[0-9.:]*' "$run/up.out" | head -1 | sed 's/.*http:\/\///')
admin=$(grep -o 'admin     http://[0-9.:]*' "$run/up.out" | head -1 | sed 's/.*http:\/\///')
[ -n "$gateway" ] || { cat "$run/up.out" "$run/up.err" >&2; exit 1; }
for _ in $(seq 1 100); do
  curl -sf "http://$admin/api/v1/status" | grep -q '"synced": true' && break
  sleep 0.3
done
curl -sf -o /dev/null -H 'Host: web' "http://$gateway/" || { log "the gateway does not answer"; exit 1; }
log "gateway $gateway, admin $admin"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$node_pid/status"; }
fds() { ls "/proc/$node_pid/fd" | wc -l; }

results="$run/windows.tsv"
printf 'window\tattack\trps\tp50_ms\tp99_ms\trss_kb\tfds\n' >"$results"
to_ms() { # wrk latency text (e.g. 1.23ms, 850.00us, 1.02s) to milliseconds
  awk -v v="$1" 'BEGIN {
    if (v ~ /us$/) { sub(/us$/, "", v); print v / 1000 }
    else if (v ~ /ms$/) { sub(/ms$/, "", v); print v + 0 }
    else if (v ~ /s$/) { sub(/s$/, "", v); print v * 1000 }
    else print v }'
}
window() { # $1: name, $2: attack (0/1)
  local attackers=""
  if [ "$2" = 1 ]; then
    python3 "$here/soak-attackers.py" "$gateway" "$IDLE" "$SLOW" "$SPOOF_RPS" >"$run/attack-$1.log" 2>&1 &
    attackers=$!
    sleep 5 # the idle connections open first
  fi
  local out
  out=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNS" -d"${WINDOW}s" --latency -H 'Host: web' "http://$gateway/")
  # The node's footprint while the attackers still hold their connections.
  local rss fd
  rss=$(rss_kb)
  fd=$(fds)
  [ -n "$attackers" ] && kill "$attackers" 2>/dev/null && wait "$attackers" 2>/dev/null || true
  local rps p50 p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
  p99=$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$rps" "$p50" "$p99" "$rss" "$fd" >>"$results"
  log "window $1 attack=$2: $rps req/s, p50 ${p50} ms, p99 ${p99} ms, RSS $rss KiB, $fd fds"
}

log "start: RSS $(rss_kb) KiB, $(fds) fds"
start_rss=$(rss_kb)
start_fds=$(fds)
for i in $(seq 1 "$WINDOWS"); do
  window "quiet-$i" 0
  window "attack-$i" 1
done
sleep 2
end_rss=$(rss_kb)
end_fds=$(fds)

summary=$(awk -F'\t' -v s_rss="$start_rss" -v e_rss="$end_rss" -v s_fd="$start_fds" -v e_fd="$end_fds" '
  NR > 1 && $2 == 0 { q99 += $5; qrps += $3; nq++ }
  NR > 1 && $2 == 1 { a99 += $5; arps += $3; na++; if ($6 > peak) peak = $6; if ($7 > peakfd) peakfd = $7 }
  END {
    printf "| windows (quiet/attacked) | %d / %d |\n", nq, na
    printf "| requests/s, quiet / attacked | %.0f / %.0f (%.3fx) |\n", qrps/nq, arps/na, (arps/na)/(qrps/nq)
    printf "| p99 ms, quiet / attacked (mean of windows) | %.2f / %.2f (%.3fx) |\n", q99/nq, a99/na, (a99/na)/(q99/nq)
    printf "| RSS KiB, start / peak under attack / end | %d / %d / %d |\n", s_rss, peak, e_rss
    printf "| open descriptors, start / peak under attack / end | %d / %d / %d |\n", s_fd, peakfd, e_fd
  }' "$results")
table="$run/soak.md"
{
  echo "Command: \`WINDOWS=$WINDOWS WINDOW=$WINDOW CONNS=$CONNS IDLE=$IDLE SLOW=$SLOW SPOOF_RPS=$SPOOF_RPS bench/soak.sh\` ($(date -u +%Y-%m-%d))"
  echo
  echo "| | |"
  echo "|---|---|"
  echo "$summary"
  echo
  echo "| window | attackers | req/s | p50 ms | p99 ms | RSS KiB | fds |"
  echo "|---|---|---|---|---|---|---|"
  awk -F'\t' 'NR > 1 { printf "| %s | %s | %s | %s | %s | %s | %s |\n", $1, ($2 == 1 ? "yes" : "no"), $3, $4, $5, $6, $7 }' "$results"
} >"$table"
mkdir -p "$here/results"
cp "$table" "$here/results/soak.md"
cat "$table"
if [ "${UPDATE_BENCHMARKS:-0}" = 1 ]; then
  python3 - "$repo/BENCHMARKS.md" "$table" <<'EOF'
import sys
path, table = sys.argv[1], open(sys.argv[2]).read().strip()
text = open(path).read()
start, end = "<!-- bench:soak -->", "<!-- /bench:soak -->"
if start in text:
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    text = f"{before}{start}\n{table}\n{end}{after}"
open(path, "w").write(text)
EOF
fi
