# Sourced by callgrind_add.sh and callgrind_worker.sh: a redis-server under
# `valgrind --tool=callgrind` on a free loopback port, stopped and cleaned up on exit.
#   join MAIN INCLUDE...   a script joined from lua/includes and lua/, as src/scripts/mod.rs does
#   sha NAME               loads $work/NAME.lua, prints its SHA
#   zero_count             starts counting from zero
#   counted                the server's instructions since zero_count
# Sets root, lua, work, port and server.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
lua=$root/bullmq-rs/lua
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true; rm -rf "$work"' EXIT

join() { # main include...
  local main=$1
  shift
  for include in "$@"; do cat "$lua/includes/$include.lua"; echo; done
  cat "$lua/$main.lua"
}

valgrind --tool=callgrind --callgrind-out-file="$work/cg.%p" \
  redis-server --port "$port" --bind 127.0.0.1 --dir "$work" --save "" --appendonly no \
  >"$work/valgrind.log" 2>&1 &
server=$!
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.2; done

sha() { redis-cli -p "$port" script load "$(cat "$work/$1.lua")"; }
zero_count() { callgrind_control -z "$server" >/dev/null 2>&1; }
counted() {
  callgrind_control -d "$server" >/dev/null 2>&1
  grep -hE '^(summary|totals):' "$(ls -t "$work"/cg.* | head -1)" | head -1 | awk '{print $2}'
}
