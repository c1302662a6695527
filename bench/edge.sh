#!/usr/bin/env bash
# Meridian's edge cache against nginx proxy_cache and Varnish, in one run, on this machine.
#
# Installs (apt: wrk, nginx-light, varnish; these are the benchmark's prerequisites, not CI's),
# builds the demo app origin and Meridian's edge cache example (one distribution with
# CloudFront's defaults: the path as the key, default TTL 86400 s, memory tier) in release
# mode, starts them on 127.0.0.1 and drives wrk through each cache. Each cache gets one core
# (taskset -a, SERVER_CPU: every thread of Varnish too); wrk and the origin share the other
# (LOAD_CPU). The origin answers after ORIGIN_LATENCY, as a real origin does not answer at
# once, which is what makes collapsing concurrent misses matter.
#
# Scenarios: hits on a 4 KiB and a 100 KiB object at 32 and 128 connections (the warm-up
# fills the cache), and a mixed run at 128 connections: 90 % hits on the 4 KiB object, 10 %
# misses on new keys each asked for by about four requests at once (configs/edge-mixed.lua).
#
# Prints requests/s, p50, p99 and peak RSS (VmRSS summed over the server's processes, sampled
# during the run) with Meridian's ratio to each peer; writes the table to bench/results/edge.md and, with UPDATE_BENCHMARKS=1,
# into BENCHMARKS.md between the `<!-- bench:edge -->` markers.
#
# Environment: DURATION (seconds per run, 10), WARMUP (seconds, 2), REPEAT (runs per cell, the
# best kept: 3), SERVER_CPU (1), LOAD_CPU (0), ORIGIN_LATENCY (2ms), SKIP_INSTALL=1,
# SKIP_BUILD=1, ONLY="meridian nginx varnish", SCENARIOS="4k-32 4k-128 100k-32 100k-128 mixed-128".
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
REPEAT="${REPEAT:-3}"
SERVER_CPU="${SERVER_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
ORIGIN_LATENCY="${ORIGIN_LATENCY:-2ms}"
ONLY="${ONLY:-meridian nginx varnish}"
SCENARIOS="${SCENARIOS:-4k-32 4k-128 100k-32 100k-128 mixed-128}"
run="$(mktemp -d /tmp/meridian-edge-bench.XXXXXX)"
chmod 755 "$run" # Varnish reads its VCL as its own unprivileged user
results="$run/results.jsonl"
: >"$results"
pids=()

log() { printf '== %s\n' "$*" >&2; }
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# --- installs -----------------------------------------------------------------------------
if [ "${SKIP_INSTALL:-0}" != 1 ]; then
  need=()
  command -v wrk >/dev/null || need+=(wrk)
  command -v nginx >/dev/null || need+=(nginx-light)
  command -v varnishd >/dev/null && [ -x /usr/sbin/varnishd ] || need+=(varnish)
  command -v taskset >/dev/null || need+=(util-linux)
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}") >&2 \
      || log "apt-get failed: the targets needing ${need[*]} are skipped"
  fi
fi
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset is required (util-linux)" >&2; exit 1; }
VARNISHD="$(command -v varnishd || { [ -x /usr/sbin/varnishd ] && echo /usr/sbin/varnishd; } || true)"
NGINX="$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)"

# --- builds -------------------------------------------------------------------------------
if [ "${SKIP_BUILD:-0}" != 1 ]; then
  log "cargo build --release (demo origin, Meridian edge)"
  (cd "$repo" && cargo build --release -q -p meridian-proxy --example edge --example demo_origin) >&2
fi
target="${CARGO_TARGET_DIR:-$repo/target}/release/examples"

# --- helpers ------------------------------------------------------------------------------
wait_port() { # host:port
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listens on $1" >&2
  return 1
}
tree() { # pid: it and its descendants
  local p
  echo "$1"
  for p in $(pgrep -P "$1" 2>/dev/null || true); do tree "$p"; done
}
pin_tree() { local p; for p in $(tree "$2"); do taskset -a -p -c "$1" "$p" >/dev/null 2>&1 || true; done; }
tree_rss() { # kB over the tree
  local p total=0 v
  for p in $(tree "$1"); do
    v=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
tree_ticks() { # user+system ticks over the tree
  local p total=0 v
  for p in $(tree "$1"); do
    v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + ${v:-0}))
  done
  echo "$total"
}
rss_sampler() { # pid outfile: peak RSS (kB) while it runs
  local peak=0 v
  while kill -0 "$1" 2>/dev/null; do
    v=$(tree_rss "$1")
    [ "${v:-0}" -gt "$peak" ] && peak=$v && echo "$peak" >"$2"
    sleep 0.25
  done
}

measure_once() { # name scenario pid url
  local name="$1" scenario="$2" pid="$3" url="$4"
  local out="$run/$name-$scenario" conns path=/size/4096 script=()
  conns="${scenario##*-}"
  case "$scenario" in
    100k-*) path=/size/102400 ;;
    mixed-*) script=(-s "$here/configs/edge-mixed.lua") ;;
  esac
  taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${WARMUP}s" "${script[@]}" "$url$path" >/dev/null 2>&1 || true
  echo 0 >"$out.rss"
  rss_sampler "$pid" "$out.rss" &
  local sampler=$! t0 t1 start
  t0=$(tree_ticks "$pid")
  start=$(date +%s.%N)
  taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${DURATION}s" --latency "${script[@]}" "$url$path" >"$out.txt" 2>&1 || true
  local wall
  wall=$(python3 -c "import sys; print(float(sys.argv[1]) - float(sys.argv[2]))" "$(date +%s.%N)" "$start")
  t1=$(tree_ticks "$pid")
  kill "$sampler" 2>/dev/null || true
  wait "$sampler" 2>/dev/null || true
  python3 - "$name" "$scenario" "$out" "$wall" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, re, sys
name, scenario, out, wall, t0, t1, tck = sys.argv[1:]
text = open(out + ".txt").read()
def us(v, unit):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
m = re.search(r"Requests/sec:\s+([\d.]+)", text)
rps = float(m.group(1)) if m else None
m = re.search(r"(\d+) requests in", text)
total = int(m.group(1)) if m else None
p50 = p99 = None
for pct, key in (("50", "p50"), ("99", "p99")):
    m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, text, re.M)
    if m:
        if key == "p50": p50 = us(*m.groups())
        else: p99 = us(*m.groups())
errors = 0
m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if m: errors += int(m.group(1))
m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if m: errors += sum(int(x) for x in m.groups())
rss = int(open(out + ".rss").read().strip() or 0)
cpu = (int(t1) - int(t0)) / int(tck) / float(wall) if float(wall) > 0 else 0
print(json.dumps(dict(target=name, scenario=scenario, rps=rps, requests=total, p50_us=p50,
                      p99_us=p99, rss_kb=rss, cpu=round(cpu, 2), errors=errors)))
PY
}

measure() {
  local tries="$run/$1-$2.tries"
  measure_once "$@" >>"$tries"
  tail -1 "$tries" >&2
}

best_of() {
  local tries="$run/$1-$2.tries"
  [ -s "$tries" ] || return 0
  python3 - "$tries" >>"$results" <<'PY'
import json, sys
runs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
best = dict(max(runs, key=lambda r: r["rps"] or 0))
best["runs"] = [r["rps"] for r in runs]
best["rss_kb"] = max(r["rss_kb"] for r in runs)
print(json.dumps(best))
PY
}

# --- the origin ---------------------------------------------------------------------------
ORIGIN_PORT=18100
taskset -c "$LOAD_CPU" "$target/demo_origin" --port "$ORIGIN_PORT" --service origin --version v1 \
  --latency "$ORIGIN_LATENCY" >"$run/origin.log" 2>&1 &
pids+=($!)
ORIGIN="127.0.0.1:$ORIGIN_PORT"
wait_port "$ORIGIN"

want() { [[ " $ONLY " == *" $1 "* ]]; }
render() { sed -e "s#@RUN@#$run#g" -e "s#@ORIGIN@#$ORIGIN#g" -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" \
  -e "s#@LISTEN@#$1#g" "$2"; }

run_target() { # name pid url
  local s
  pin_tree "$SERVER_CPU" "$2"
  for s in $SCENARIOS; do measure "$1" "$s" "$2" "$3"; done
  kill "$2" 2>/dev/null || true
  wait "$2" 2>/dev/null || true
}

one_round() {
  if want meridian; then
    log "Meridian (edge example: one distribution, CloudFront defaults, one thread)"
    taskset -c "$SERVER_CPU" "$target/edge" 127.0.0.1:18101 "$ORIGIN" >"$run/meridian.out" 2>&1 &
    local mpid=$!
    pids+=("$mpid")
    wait_port 127.0.0.1:18101
    run_target meridian "$mpid" http://127.0.0.1:18101
  fi
  if want nginx; then
    if [ -n "$NGINX" ]; then
      log "nginx proxy_cache (one worker)"
      rm -rf "$run/nginx-cache"
      render 18102 "$here/configs/nginx-cache.conf" >"$run/nginx.conf"
      taskset -c "$SERVER_CPU" "$NGINX" -c "$run/nginx.conf" -p "$run" >"$run/nginx.log" 2>&1 &
      local npid=$!
      pids+=("$npid")
      wait_port 127.0.0.1:18102
      run_target nginx "$npid" http://127.0.0.1:18102
    else
      log "nginx not installed: skipped"
    fi
  fi
  if want varnish; then
    if [ -n "$VARNISHD" ]; then
      log "Varnish (malloc storage, default thread pools, all on one core)"
      render 18103 "$here/configs/varnish.vcl" >"$run/varnish.vcl"
      rm -rf "$run/varnish"
      taskset -c "$SERVER_CPU" "$VARNISHD" -F -n "$run/varnish" -a 127.0.0.1:18103 \
        -f "$run/varnish.vcl" -s malloc,256m >"$run/varnish.log" 2>&1 &
      local vpid=$!
      pids+=("$vpid")
      wait_port 127.0.0.1:18103
      sleep 1 # the worker threads start after the listener
      run_target varnish "$vpid" http://127.0.0.1:18103
    else
      log "varnish not installed: skipped"
    fi
  fi
}

for round in $(seq 1 "$REPEAT"); do
  log "round $round of $REPEAT"
  one_round
done
for t in meridian nginx varnish; do
  for s in $SCENARIOS; do best_of "$t" "$s"; done
done

# --- the table ----------------------------------------------------------------------------
machine="$(nproc) vCPU, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')"
versions="nginx $("$NGINX" -v 2>&1 | sed 's#.*nginx/##'), Varnish $("$VARNISHD" -V 2>&1 | sed -n 's/.*varnish-\([0-9.]*\).*/\1/p' | head -1)"
python3 - "$results" "$machine" "$SERVER_CPU" "$LOAD_CPU" "$DURATION" "$ORIGIN_LATENCY" "$versions" >"$run/table.md" <<'PY'
import json, sys
path, machine, scpu, lcpu, dur, lat, versions = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]
by = {(r["target"], r["scenario"]): r for r in rows}
def name(s):
    kind, conns = s.rsplit("-", 1)
    return {"4k": "hits, 4 KiB object", "100k": "hits, 100 KiB object",
            "mixed": "mixed: 90 % hits (4 KiB), 10 % misses on new keys, about 4 requests per key at once"}[kind] + f", {conns} conns"
def ms(v): return "–" if v is None else f"{v/1000:.2f}"
def per_core(r): return r["rps"] / r["cpu"] if r.get("rps") and r.get("cpu") else None
def rps(v): return "–" if v is None else f"{v/1000:.1f}k"
targets = ["meridian", "nginx", "varnish"]
out = [f"Machine: {machine}. Each cache pinned to cpu {scpu} (taskset, all its threads and "
       f"processes), wrk and the origin (the demo app, release build, answering after {lat}) on "
       f"cpu {lcpu}. {dur} s per run after a warm-up that fills the cache, best of several runs "
       f"(the machine is shared). RSS is the peak VmRSS of the cache's processes during the run; "
       f"CPU is their share of a core, and req/s per core = req/s / CPU, which other load on "
       f"the machine disturbs least. "
       f"Peers: {versions} (Debian packages).\n"]
scenarios = []
for r in rows:
    if r["scenario"] not in scenarios: scenarios.append(r["scenario"])
summary = []
for s in scenarios:
    present = [t for t in targets if (t, s) in by]
    out.append(f"\n**{name(s)}**\n")
    out.append("| cache | req/s | p50 ms | p99 ms | RSS MB | CPU | req/s per core | errors | Meridian vs it (req/s, per core) |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    mr = by.get(("meridian", s), {})
    m, mc = mr.get("rps"), per_core(mr)
    for t in present:
        r = by[(t, s)]
        pc = per_core(r)
        vm = ""
        if m and r["rps"] and t != "meridian":
            vm = f"{m/r['rps']:.2f}x"
            if mc and pc:
                vm += f", {mc/pc:.2f}x"
            summary.append((s, t, m / r["rps"], mc / pc if mc and pc else None))
        rss = f"{r['rss_kb']/1024:.1f}" if r["rss_kb"] else "–"
        out.append(f"| {t} | {rps(r['rps'])} | {ms(r['p50_us'])} | {ms(r['p99_us'])} | {rss} | {r['cpu']} | {rps(pc)} | {r['errors']} | {vm} |")
if summary:
    out.append("\n**Meridian's req/s over each peer**\n")
    out.append("| scenario | vs nginx proxy_cache (req/s, per core) | vs Varnish (req/s, per core) |")
    out.append("|---|---|---|")
    for s in scenarios:
        cells = {t: f"{x:.2f}x, " + ("–" if y is None else f"{y:.2f}x") for (ss, t, x, y) in summary if ss == s}
        out.append(f"| {s} | {cells.get('nginx', '–')} | {cells.get('varnish', '–')} |")
print("\n".join(out))
PY
cat "$run/table.md"
mkdir -p "$here/results"
{ echo "# Edge cache benchmark ($(date -u +%Y-%m-%d))"; echo; echo "Produced by \`bench/edge.sh\`."; echo; cat "$run/table.md"; } >"$here/results/edge.md"
cp "$results" "$here/results/edge.jsonl"
bm="$repo/BENCHMARKS.md"
if [ "${UPDATE_BENCHMARKS:-0}" = 1 ] && [ -f "$bm" ] && grep -q '<!-- bench:edge -->' "$bm"; then
  python3 - "$bm" "$run/table.md" <<'PY'
import sys, re
bm, table = sys.argv[1:]
s = open(bm).read()
t = open(table).read().strip()
s = re.sub(r"(<!-- bench:edge -->\n).*?(<!-- /bench:edge -->)", lambda m: m.group(1) + t + "\n" + m.group(2), s, flags=re.S)
open(bm, "w").write(s)
PY
  log "BENCHMARKS.md updated between the bench:edge markers"
fi
log "results: $here/results/edge.md (raw: $run)"
