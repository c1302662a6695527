#!/usr/bin/env bash
# Exports to S3, imports from S3, backups and restores: Meridian against moto's server, in
# one run, on this machine (`bench/transfer.py` drives both with boto3).
#
# Each server runs on one core (taskset SERVER_CPU), the client on the other (LOAD_CPU).
# Meridian is `meridian-tables` (the storage plane `meridian up` runs: its tables and the
# buckets beside them, on disk, every write synced); moto 5.x's server keeps its tables and
# buckets in memory. For each, ITEMS items are loaded, then one export (the request to
# COMPLETED) and one import of the same items from one gzip'd object (the request to
# COMPLETED, the new table's writes durable on Meridian), one backup and one restore of it
# are timed. With REPEAT=N the
# servers take N rounds in turn and each keeps its best. Prints items per second and writes
# the table to bench/results/transfer.md.
#
# Environment: ITEMS (20000), REPEAT (2), SERVER_CPU (1), LOAD_CPU (0), PEERS (moto's
# virtualenv lives in PEERS/moto, as bench/tables.sh installs it), SKIP_BUILD=1.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
ITEMS="${ITEMS:-20000}"
REPEAT="${REPEAT:-2}"
SERVER_CPU="${SERVER_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
PEERS="${PEERS:-$HOME/.cache/meridian/bench-peers}"
run="$(mktemp -d /var/tmp/meridian-transfer-bench.XXXXXX)"
pids=()
# shellcheck source=bench/lib.sh
. "$here/lib.sh"
trap cleanup EXIT

if [ ! -x "$PEERS/moto/bin/moto_server" ]; then
  log "pip install moto[server] (into $PEERS/moto)"
  mkdir -p "$PEERS" && python3 -m venv "$PEERS/moto" && "$PEERS/moto/bin/pip" install -q "moto[server]"
fi
python3 -c "import boto3" 2>/dev/null || { echo "boto3 is required (pip install boto3)" >&2; exit 1; }
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release -p meridian-storage --bin meridian-tables"
  (cd "$repo" && cargo build --release -q -p meridian-storage --bin meridian-tables)
fi
tables="${CARGO_TARGET_DIR:-$repo/target}/release/meridian-tables"
results="$run/results.jsonl"
: >"$results"

measure() { # NAME DYNAMODB_URL S3_URL
  local line
  line="$(taskset -c "$LOAD_CPU" python3 "$here/transfer.py" "$2" "$3" "$ITEMS")"
  echo "{\"server\": \"$1\", ${line#\{}" | tee -a "$results" >&2
}

for round in $(seq 1 "$REPEAT"); do
  log "round $round of $REPEAT"
  state="$run/round-$round"
  mkdir -p "$state"
  port="$(free_port)"
  start meridian "$port" "$tables" --state-dir "$state" --addr "127.0.0.1:$port" --key bench:benchsecret
  s3="$(awk '/^buckets /{print $2; exit}' "$run/meridian.log")"
  measure meridian "http://127.0.0.1:$port" "$s3"
  stop "$started_pid"

  port="$(free_port)"
  start moto "$port" "$PEERS/moto/bin/moto_server" -H 127.0.0.1 -p "$port"
  measure moto "http://127.0.0.1:$port" "http://127.0.0.1:$port"
  stop "$started_pid"
done

mkdir -p "$here/results"
python3 - "$results" "$here/results/transfer.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
best = {}
for r in rows:
    for job in ("export", "import", "backup", "restore"):
        k = (r["server"], job)
        rate = r["items"] / r[f"{job}_s"]
        best[k] = max(best.get(k, 0), rate)
out = ["| job | Meridian items/s | moto items/s | Meridian ÷ moto |", "|---|---|---|---|"]
for job in ("export", "import", "backup", "restore"):
    m, o = best.get(("meridian", job)), best.get(("moto", job))
    ratio = f"{m / o:.1f}x" if m and o else "–"
    out.append(f"| {job} ({rows[0]['items']:,} items) | {m:,.0f} | {o:,.0f} | {ratio} |")
text = "\n".join(out) + "\n"
open(sys.argv[2], "w").write(text)
print(text)
PY
