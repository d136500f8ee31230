#!/usr/bin/env bash
# Run with: examples/callgrind_worker.sh [CALLS]
#
# Redis' work per job of a worker counted in instructions, which stay the same whatever else
# the machine does: a redis-server runs under `valgrind --tool=callgrind` on a free loopback
# port, and for each script the instructions of the whole server (request parsing included)
# are counted over CALLS calls, then divided per job. Each call completes the jobs the
# "worker" holds (removeOnComplete) and takes as many next ones, as a worker with that many
# slots does under load; the jobs carry the ~600-byte Sellsy event.
#
#   floor    examples/floor_worker.lua: exactly the writes of our worker, arguments ready-made
#   ours     lua/move_to_finished.lua (with fetchNext), as the Rust worker sends it
# each with 1 job per call (a worker at concurrency 1, and BullMQ's one job per call) and
# 50 per call (the batch our worker sends when 50 jobs ended while its previous call was on
# its way).
#
# Needs valgrind, redis-server, redis-cli and python3 (which writes the commands). The
# scripts are joined from their files in the order src/scripts/mod.rs declares.
set -euo pipefail

calls=${1:-1000}
# shellcheck source=examples/callgrind_server.sh
. "$(dirname "$0")/callgrind_server.sh"
join move_to_finished emit_event queue_context delayed delete_job store_job ready parent \
  dedup_slot deduplicate finish_checks finished metrics fetch_job >"$work/ours.lua"
join move_to_active emit_event queue_context delayed ready fetch_job >"$work/active.lua"
cp "$root/examples/floor_worker.lua" "$work/floor.lua"
ours=$(sha ours)
active=$(sha active)
floor=$(sha floor)

# The commands of one run, in RESP, for `redis-cli --pipe`: `setup` stores the jobs and
# takes the first batch; `calls` completes and takes, batch after batch. Job n is taken
# with the lock token "t<n>" (jobs leave `wait` in the order they were added).
commands() { # script batch part
  python3 - "$1" "$2" "$3" "$calls" "$ours" "$active" "$floor" <<'PY'
import json, sys
script, batch, part, calls = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
ours, active, floor = sys.argv[5:8]
out = sys.stdout.buffer
def cmd(*args):
    out.write(b"*%d\r\n" % len(args))
    for arg in args:
        arg = str(arg).encode()
        out.write(b"$%d\r\n%s\r\n" % (len(arg), arg))
p = "bull:q:"
now = "1732400123000"
finish_keys = [p + k for k in "wait active prioritized events stalled delayed paused meta pc marker id limiter".split()]
active_keys = [p + k for k in "wait active prioritized events stalled limiter delayed paused meta pc marker".split()]
floor_keys = [p + k for k in "wait active stalled events marker pc".split()]
jobs = batch * (calls + 2)
if part == "setup":
    data = json.dumps({"event": "invoice.created", "payload": "x" * 520})
    cmd("FLUSHALL")
    cmd("HSET", p + "meta", "opts.maxLenEvents", "10000")
    for n in range(1, jobs + 1):
        cmd("HSET", p + str(n), "name", "event", "data", data,
            "opts", '{"attempts":0,"removeOnComplete":true}', "timestamp", now,
            "delay", "0", "priority", "0")
        cmd("LPUSH", p + "wait", str(n))
    for n in range(1, batch + 1):
        if script == "ours":
            cmd("EVALSHA", active, len(active_keys), *active_keys, p, now, "t%d" % n, "30000", "", "", "", "6")
        else:
            cmd("EVALSHA", floor, len(floor_keys), *floor_keys, p, "10000", now, "30000", "null", "0", "t%d" % n)
else:
    for call in range(calls):
        held = range(call * batch + 1, (call + 1) * batch + 1)
        if script == "ours":
            args = [p, "6", "30000", "", "", ""]
            for n in held:
                args += [str(n), now, "completed", "null", "t%d" % n, "0", "", "1000", "0", "", "",
                         "t%d" % (n + batch)]
            cmd("EVALSHA", ours, len(finish_keys), *finish_keys, *args)
        else:
            args = [p, "10000", now, "30000", "null", str(batch)] + [str(n) for n in held]
            args += ["t%d" % (n + batch) for n in held]
            cmd("EVALSHA", floor, len(floor_keys), *floor_keys, *args)
PY
}

count() { # script batch
  commands "$1" "$2" setup | redis-cli -p "$port" --pipe >/dev/null
  commands "$1" "$2" calls >"$work/calls.resp"
  zero_count
  redis-cli -p "$port" --pipe <"$work/calls.resp" | grep -q "errors: 0," || { echo "$1: a call failed" >&2; exit 1; }
  local total
  total=$(counted)
  # Every call completed what it held and took as many: a refused job would stay active.
  [ "$(redis-cli -p "$port" llen bull:q:active)" = "$2" ] || { echo "$1: jobs left active" >&2; exit 1; }
  printf '%-20s %9d instructions per job\n' "$1, $2 per call" $((total / ($2 * calls)))
}

for batch in 1 50; do
  count floor "$batch"
  count ours "$batch"
done
