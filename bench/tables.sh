#!/usr/bin/env bash
# Meridian's tables against Dynoxide, moto and dynalite, in one run, on this machine.
#
# Installs the peers (Dynoxide with `cargo install dynoxide-rs`, moto's server from PyPI in a
# virtualenv, dynalite from npm) under PEERS (~/.cache/meridian/bench-peers), builds
# `meridian-tables` (the storage plane `meridian up` runs) and the load generator
# `dynamo-load` in release mode, and drives every server with the same signed requests:
# GetItem, PutItem, Query (100 items) and a conditional UpdateItem, at 1 and 32 clients.
# Each server runs on one core (taskset SERVER_CPU), the load generator on the other
# (LOAD_CPU). State lives on disk under a fresh directory per server, so stores that sync
# their writes pay for it: Meridian fsyncs every acknowledged write (redb, durable commits);
# Dynoxide writes SQLite in its default mode; dynalite writes LevelDB without sync; moto
# keeps everything in memory. The last row group is Meridian's DynamoDB layer called in
# process (no HTTP, no signing, the same durable engine): the ceiling of the HTTP figures.
#
# Prints requests per second and p50/p99 latency per server, operation and client count,
# with Meridian's ratio to each peer, and the peak RSS of each server; writes the table to
# bench/results/tables.md and the raw lines to bench/results/tables.jsonl.
#
# With REPEAT=N the servers are measured N times in turn (every server, then every server
# again, each time on fresh state), and each cell keeps its best round, for every server alike:
# on a shared machine the same binary varies by a fifth between rounds minutes apart, and
# taking rounds in turn spreads that over all servers instead of landing on one.
#
# Environment: DURATION (seconds per cell, 5), ITEMS (items loaded, 1000), REPEAT (rounds,
# 1), SERVER_CPU (1), LOAD_CPU (0), PEERS, SKIP_INSTALL=1, SKIP_BUILD=1.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
DURATION="${DURATION:-5}"
ITEMS="${ITEMS:-1000}"
REPEAT="${REPEAT:-1}"
SERVER_CPU="${SERVER_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
PEERS="${PEERS:-$HOME/.cache/meridian/bench-peers}"
run="$(mktemp -d /var/tmp/meridian-tables-bench.XXXXXX)"
pids=()
# shellcheck source=bench/lib.sh
. "$here/lib.sh"

trap cleanup EXIT

mkdir -p "$PEERS"
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  if [ ! -x "$PEERS/cargo/bin/dynoxide" ]; then
    log "cargo install dynoxide-rs"
    CARGO_TARGET_DIR="$run/dynoxide-target" cargo install -q --locked dynoxide-rs --root "$PEERS/cargo"
  fi
  if [ ! -x "$PEERS/moto/bin/moto_server" ]; then
    log "pip install moto[server]"
    python3 -m venv "$PEERS/moto" && "$PEERS/moto/bin/pip" install -q "moto[server]"
  fi
  if [ ! -x "$PEERS/node_modules/.bin/dynalite" ]; then
    log "npm install dynalite"
    (cd "$PEERS" && { [ -f package.json ] || npm init -y >/dev/null; } && npm install -q --no-audit --no-fund dynalite)
  fi
fi

target="${CARGO_TARGET_DIR:-$repo/target}"
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release -p meridian-storage (meridian-tables, dynamo-load)"
  (cd "$repo" && cargo build --release -q -p meridian-storage --bin meridian-tables --example dynamo-load)
fi
tables="$target/release/meridian-tables"
load="$target/release/examples/dynamo-load"


results="$run/results.jsonl"
: > "$results"

# measure NAME PID ENDPOINT-ARGS...: loads the table, runs every cell, records peak RSS.
measure() {
  local name="$1" pid="$2"
  shift 2
  taskset -c "$LOAD_CPU" "$load" "$@" --op setup --items "$ITEMS" >/dev/null
  for op in get put query update; do
    for clients in 1 32; do
      local line
      line="$(taskset -c "$LOAD_CPU" "$load" "$@" --op "$op" --clients "$clients" \
        --duration "$DURATION" --items "$ITEMS")"
      local rss=0
      if [ "$pid" != 0 ]; then
        rss="$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")"
      fi
      printf '{"server":"%s","round":%s,"rss_kib":%s,%s\n' "$name" "$round" "$rss" "${line#\{}" \
        | tee -a "$results" >&2
    done
  done
}


for round in $(seq 1 "$REPEAT"); do
  log "round $round of $REPEAT"
  state="$run/round-$round"
  mkdir -p "$state/meridian" "$state/dynalite" "$state/inproc"

  port="$(free_port)"
  start meridian "$port" "$tables" --state-dir "$state/meridian" --addr "127.0.0.1:$port" --key bench:benchsecret
  measure meridian "$started_pid" --endpoint "http://127.0.0.1:$port" --key bench:benchsecret
  stop "$started_pid"

  port="$(free_port)"
  start dynoxide "$port" "$PEERS/cargo/bin/dynoxide" --port "$port" --db-path "$state/dynoxide.db" --log quiet
  measure dynoxide "$started_pid" --endpoint "http://127.0.0.1:$port"
  stop "$started_pid"

  port="$(free_port)"
  start moto "$port" "$PEERS/moto/bin/moto_server" -H 127.0.0.1 -p "$port"
  measure moto "$started_pid" --endpoint "http://127.0.0.1:$port"
  stop "$started_pid"

  port="$(free_port)"
  start dynalite "$port" node "$PEERS/node_modules/dynalite/cli.js" --port "$port" --path "$state/dynalite"
  measure dynalite "$started_pid" --endpoint "http://127.0.0.1:$port"
  stop "$started_pid"

  log "Meridian's DynamoDB layer in process (the ceiling)"
  measure in-process 0 --in-process "$state/inproc"
done

mkdir -p "$here/results"
cp "$results" "$here/results/tables.jsonl"
python3 - "$results" "$here/results/tables.md" "$DURATION" "$REPEAT" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
# Each cell's best round.
by = {}
for r in rows:
    k = (r["server"], r["op"], r["clients"])
    if k not in by or r["rps"] > by[k]["rps"]:
        by[k] = r
servers = ["meridian", "dynoxide", "moto", "dynalite", "in-process"]
names = {"get": "GetItem", "put": "PutItem", "query": "Query (100 items)", "update": "UpdateItem (conditional)"}
out = ["| operation | clients | " + " | ".join(f"{s} req/s (p50/p99 ms)" for s in servers)
       + " | vs dynoxide | vs moto | vs dynalite |",
       "|---|---|" + "---|" * (len(servers) + 3)]
for op in ["get", "put", "query", "update"]:
    for c in [1, 32]:
        cells, m = [], by.get(("meridian", op, c))
        for s in servers:
            r = by.get((s, op, c))
            cells.append("-" if r is None else
                         f"{r['rps']:,.0f} ({r['p50_ms']:.2f}/{r['p99_ms']:.2f})"
                         + (f" {r['errors']} errors" if r["errors"] else ""))
        ratios = []
        for s in ["dynoxide", "moto", "dynalite"]:
            r = by.get((s, op, c))
            ratios.append("-" if not (m and r and r["rps"]) else f"{m['rps'] / r['rps']:.1f}x")
        out.append(f"| {names[op]} | {c} | " + " | ".join(cells) + " | " + " | ".join(ratios) + " |")
rss = {s: max((r["rss_kib"] for r in rows if r["server"] == s), default=0) for s in servers[:-1]}
out.append("")
out.append("Peak RSS: " + ", ".join(f"{s} {v / 1024:.0f} MiB" for s, v in rss.items())
           + f". {sys.argv[3]} s per cell, one core per server"
           + (f", best of {sys.argv[4]} rounds taken in turn." if sys.argv[4] != "1" else "."))
open(sys.argv[2], "w").write("\n".join(out) + "\n")
print("\n".join(out))
EOF
