#!/usr/bin/env bash
# Meridian's authoritative DNS against Knot DNS and NSD, in one run, on this machine.
#
# Installs (apt: knot, nsd, dnsperf), builds the DNS server example (`dns-serve`: the global
# plane `meridian up` runs, on one thread) in release mode, and serves one zone three ways:
# Meridian from Terraform (a simple record, a failover pair whose PRIMARY has an HTTP health
# check, a latency pair with health checks on both), Knot and NSD from a zone file holding the
# same names as static records. Each server gets one core (taskset SERVER_CPU; Knot with one
# UDP worker, NSD with one server process); dnsperf runs on the other (LOAD_CPU).
#
# Prints queries per second, the server's queries per CPU-second (its user and system time
# during the run, its child processes included: the per-core figure, which holds when the
# load generator is starved by other work on the machine) and average latency per server and
# query, with Meridian's ratios to each peer; writes the table to bench/results/dns.md.
#
# Environment: DURATION (seconds per run, 10), REPEAT (runs per cell, the best kept: 3),
# SERVER_CPU (1), LOAD_CPU (0), CLIENTS (dnsperf -c, 4), OUTSTANDING (dnsperf -q, 100),
# SKIP_INSTALL=1, SKIP_BUILD=1.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
DURATION="${DURATION:-10}"
REPEAT="${REPEAT:-3}"
SERVER_CPU="${SERVER_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
CLIENTS="${CLIENTS:-4}"
OUTSTANDING="${OUTSTANDING:-100}"
run="$(mktemp -d /tmp/meridian-dns-bench.XXXXXX)"
pids=()

log() { printf '== %s\n' "$*" >&2; }
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  need=()
  command -v knotd >/dev/null || need+=(knot)
  command -v nsd >/dev/null || need+=(nsd)
  command -v dnsperf >/dev/null || need+=(dnsperf)
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") >&2
  fi
fi

target="${CARGO_TARGET_DIR:-$repo/target}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release -p meridian-global --example dns-serve"
  (cd "$repo" && cargo build --release -q -p meridian-global --example dns-serve)
fi
serve="$target/release/examples/dns-serve"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_dns() {
  for _ in $(seq 100); do
    dig @127.0.0.1 -p "$1" +time=1 +tries=1 +short www.example.com A 2>/dev/null | grep -q 192.0.2.10 && return 0
    sleep 0.1
  done
  log "server on port $1 did not answer"; return 1
}

# The health checks' endpoint: a real HTTP server, up for the whole run.
hc_port="$(free_port)"
mkdir -p "$run/site"
(cd "$run/site" && exec python3 -m http.server "$hc_port" --bind 127.0.0.1 >/dev/null 2>&1) &
pids+=($!)

mkdir -p "$run/tf"
cat >"$run/tf/main.tf" <<EOF
provider "aws" {
  region = "us-east-1"
}
resource "aws_route53_zone" "main" {
  name = "example.com"
}
resource "aws_route53_record" "www" {
  zone_id = aws_route53_zone.main.zone_id
  name    = "www"
  type    = "A"
  ttl     = 300
  records = ["192.0.2.10"]
}
resource "aws_route53_health_check" "east" {
  ip_address        = "127.0.0.1"
  port              = $hc_port
  type              = "HTTP"
  request_interval  = 10
  failure_threshold = 3
}
resource "aws_route53_health_check" "west" {
  ip_address        = "127.0.0.1"
  port              = $hc_port
  type              = "HTTP"
  request_interval  = 10
  failure_threshold = 3
}
resource "aws_route53_record" "primary" {
  zone_id         = aws_route53_zone.main.zone_id
  name            = "app"
  type            = "A"
  ttl             = 60
  set_identifier  = "primary"
  health_check_id = aws_route53_health_check.east.id
  records         = ["192.0.2.1"]
  failover_routing_policy {
    type = "PRIMARY"
  }
}
resource "aws_route53_record" "secondary" {
  zone_id         = aws_route53_zone.main.zone_id
  name            = "app"
  type            = "A"
  ttl             = 60
  set_identifier  = "secondary"
  health_check_id = aws_route53_health_check.west.id
  records         = ["192.0.2.2"]
  failover_routing_policy {
    type = "SECONDARY"
  }
}
resource "aws_route53_record" "lat_east" {
  zone_id         = aws_route53_zone.main.zone_id
  name            = "lat"
  type            = "A"
  ttl             = 60
  set_identifier  = "us-east-1"
  health_check_id = aws_route53_health_check.east.id
  records         = ["192.0.2.1"]
  latency_routing_policy {
    region = "us-east-1"
  }
}
resource "aws_route53_record" "lat_west" {
  zone_id         = aws_route53_zone.main.zone_id
  name            = "lat"
  type            = "A"
  ttl             = 60
  set_identifier  = "eu-west-1"
  health_check_id = aws_route53_health_check.west.id
  records         = ["192.0.2.2"]
  latency_routing_policy {
    region = "eu-west-1"
  }
}
EOF

cat >"$run/example.com.zone" <<'EOF'
$ORIGIN example.com.
$TTL 300
@    900 IN SOA ns-1.route53.localhost. hostmaster.example.com. 1 7200 900 1209600 86400
@    172800 IN NS ns-1.route53.localhost.
@    172800 IN NS ns-2.route53.localhost.
@    172800 IN NS ns-3.route53.localhost.
@    172800 IN NS ns-4.route53.localhost.
www  300 IN A 192.0.2.10
app  60 IN A 192.0.2.1
lat  60 IN A 192.0.2.1
EOF

printf 'www.example.com A\n' >"$run/q-simple"
printf 'app.example.com A\nlat.example.com A\n' >"$run/q-policy"

start_meridian() {
  taskset -c "$SERVER_CPU" "$serve" "$run/tf" "127.0.0.1:$1" >"$run/meridian.log" 2>&1 &
  pids+=($!)
}
start_knot() {
  mkdir -p "$run/knot"
  cp "$run/example.com.zone" "$run/knot/"
  cat >"$run/knot.conf" <<EOF
server:
    rundir: "$run/knot"
    listen: 127.0.0.1@$1
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "$run/knot"
zone:
  - domain: example.com
    file: "$run/knot/example.com.zone"
EOF
  taskset -c "$SERVER_CPU" knotd -c "$run/knot.conf" >"$run/knot.log" 2>&1 &
  pids+=($!)
}
start_nsd() {
  mkdir -p "$run/nsd"
  cp "$run/example.com.zone" "$run/nsd/"
  cat >"$run/nsd.conf" <<EOF
server:
    ip-address: 127.0.0.1@$1
    server-count: 1
    username: ""
    chroot: ""
    zonesdir: "$run/nsd"
    pidfile: "$run/nsd/nsd.pid"
    database: ""
    zonelistfile: "$run/nsd/zone.list"
    xfrdfile: "$run/nsd/xfrd.state"
    xfrdir: "$run/nsd"
    verbosity: 0
    # Debian builds NSD with response rate limiting on (200 answers per second per
    # source): off, as for the other servers, or dnsperf measures the limiter.
    rrl-ratelimit: 0
    rrl-whitelist-ratelimit: 0
remote-control:
    control-enable: no
zone:
    name: example.com
    zonefile: example.com.zone
EOF
  taskset -c "$SERVER_CPU" nsd -d -c "$run/nsd.conf" >"$run/nsd.log" 2>&1 &
  pids+=($!)
}

# A process's user and system time with its descendants', in clock ticks.
cpu_ticks() {
  local total=0 p
  for p in $(descendants "$1"); do
    [ -r "/proc/$p/stat" ] || continue
    # After "pid (comm) " (a comm may hold spaces: "nsd: main"), utime and stime are the
    # 12th and 13th fields.
    total=$((total + $(sed 's/^.*) //' "/proc/$p/stat" | awk '{print $12 + $13}')))
  done
  echo "$total"
}
descendants() {
  echo "$1"
  local c
  for c in $(pgrep -P "$1" || true); do descendants "$c"; done
}
tick="$(getconf CLK_TCK)"

# The best of REPEAT dnsperf runs against the server `pid`: qps, average latency (s), and
# the best queries per server CPU-second.
perf() {
  local port="$1" queries="$2" pid="$3" best_q=0 best_l=0 best_c=0
  for _ in $(seq "$REPEAT"); do
    c0="$(cpu_ticks "$pid")"
    out="$(taskset -c "$LOAD_CPU" dnsperf -s 127.0.0.1 -p "$port" -d "$queries" -l "$DURATION" \
      -c "$CLIENTS" -q "$OUTSTANDING" 2>&1)"
    c1="$(cpu_ticks "$pid")"
    q="$(awk '/Queries per second/ {print $4}' <<<"$out")"
    l="$(awk '/Average Latency/ {print $4}' <<<"$out")"
    lost="$(awk '/Queries lost/ {print $3}' <<<"$out")"
    done_q="$(awk '/Queries completed/ {print $3}' <<<"$out")"
    c="$(awk -v n="$done_q" -v t="$((c1 - c0))" -v hz="$tick" 'BEGIN{ if (t>0) printf "%.0f", n*hz/t; else print 0 }')"
    log "  $q qps, avg ${l}s, lost $lost, $c queries per server CPU-second"
    if awk -v a="$q" -v b="$best_q" 'BEGIN{exit !(a>b)}'; then best_q="$q"; best_l="$l"; fi
    if [ "$c" -gt "$best_c" ]; then best_c="$c"; fi
  done
  printf '%s %s %s\n' "$best_q" "$best_l" "$best_c"
}

declare -A QPS LAT CPS
for server in meridian knot nsd; do
  port="$(free_port)"
  log "$server on 127.0.0.1:$port (cpu $SERVER_CPU)"
  "start_$server" "$port"
  wait_dns "$port"
  for kind in simple policy; do
    log " $kind"
    read -r q l c < <(perf "$port" "$run/q-$kind" "${pids[-1]}")
    QPS[$server-$kind]="$q"
    LAT[$server-$kind]="$l"
    CPS[$server-$kind]="$c"
  done
  kill "${pids[-1]}" 2>/dev/null || true
  wait "${pids[-1]}" 2>/dev/null || true
  unset 'pids[-1]'
done

mkdir -p "$here/results"
{
  echo "| server | query | queries/s | Meridian ÷ server | queries per server CPU-second | Meridian ÷ server | avg latency |"
  echo "|---|---|---|---|---|---|---|"
  for kind in simple policy; do
    for server in meridian knot nsd; do
      q="${QPS[$server-$kind]}"; l="${LAT[$server-$kind]}"; c="${CPS[$server-$kind]}"
      ratio="$(awk -v m="${QPS[meridian-$kind]}" -v s="$q" 'BEGIN{ if (s>0) printf "%.2f", m/s; else print "-" }')"
      cratio="$(awk -v m="${CPS[meridian-$kind]}" -v s="$c" 'BEGIN{ if (s>0) printf "%.2f", m/s; else print "-" }')"
      label="$kind"
      [ "$kind" = policy ] && label="policy (failover + latency, health checked; static for peers)"
      printf '| %s | %s | %.0f | %s | %s | %s | %.3f ms |\n' "$server" "$label" "$q" "$ratio" "$c" "$cratio" "$(awk -v x="$l" 'BEGIN{print x*1000}')"
    done
  done
} | tee "$here/results/dns.md"
