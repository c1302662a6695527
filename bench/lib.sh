# Helpers shared by the storage benchmarks (bench/tables.sh, bench/buckets.sh); sourced after
# the script sets `run` (its scratch directory), `pids` (an array) and SERVER_CPU.

log() { printf '== %s\n' "$*" >&2; }

# Stops every server the script started and removes its scratch directory (the EXIT trap).
cleanup() {
  for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$run"
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits up to 60 s for something to listen on 127.0.0.1:PORT.
wait_port() {
  for _ in $(seq 600); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),0.2)" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}

start() { # start NAME PORT CMD...: runs CMD on SERVER_CPU, sets $started_pid
  local name="$1" port="$2"
  shift 2
  log "$name on 127.0.0.1:$port"
  taskset -c "$SERVER_CPU" "$@" >"$run/$name.log" 2>&1 &
  started_pid=$!
  pids+=("$started_pid")
  wait_port "$port"
}

stop() { # SIGTERM, and SIGKILL for a server still shutting down after 15 s
  kill "$1" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
