#!/usr/bin/env bash
# Run with: examples/callgrind_add.sh [CALLS]
#
# Redis' work per add counted in instructions, which stay the same whatever else the
# machine does (wall time on these shared machines swings by ±30%): a redis-server runs
# under `valgrind --tool=callgrind` on a free loopback port, and for each script the
# instructions of the whole server (request parsing included) are counted over CALLS calls
# sent by redis-benchmark, then divided per job. The job is the listener's: the ~600-byte
# Sellsy event, a custom id, deduplication with a 24 h ttl, `removeOnComplete`.
#
#   floor    examples/floor_add.lua: exactly the writes of our add, arguments ready-made
#   plain    lua/add_plain_jobs.lua, the script the listener's jobs take
#   general  lua/add_jobs.lua, which decodes and re-encodes the options
#   bullmq   Node BullMQ 6's Queue.add (node-worker-compat), the same job
# each in calls of 1 job and of 10 jobs (BullMQ: one add per call).
#
# Needs valgrind, redis-server, redis-benchmark and `npm ci` in node-worker-compat. The
# scripts are joined from their files in the order src/scripts/mod.rs declares.
set -euo pipefail

calls=${1:-2000}
# shellcheck source=examples/callgrind_server.sh
. "$(dirname "$0")/callgrind_server.sh"
join add_plain_jobs emit_event queue_context dedup_slot >"$work/plain.lua"
join add_jobs emit_event queue_context delayed delete_job store_job ready parent dedup_slot \
  deduplicate >"$work/general.lua"
cp "$root/examples/floor_add.lua" "$work/floor.lua"

data=$(cd "$root/node-worker-compat" && node -e \
  'process.stdout.write(JSON.stringify(require("./lib/bench-data").event(0)))')
opts='{"jobId":"e__rand_int__","removeOnComplete":true,"de":{"id":"d__rand_int__","ttl":86400000},"attempts":0}'
plain=$(sha plain)
general=$(sha general)
floor=$(sha floor)

# Instructions of the server over one redis-benchmark run of `calls` calls, per job.
count() { # label jobs-per-call command...
  local label=$1 per_call=$2
  shift 2
  redis-cli -p "$port" flushall >/dev/null
  redis-cli -p "$port" hset bull:q:meta opts.maxLenEvents 10000 >/dev/null
  redis-benchmark -p "$port" -c 4 -n 200 -r 100000000 "$@" >/dev/null 2>&1
  zero_count
  redis-benchmark -p "$port" -c 4 -n "$calls" -r 100000000 "$@" >/dev/null 2>&1
  report "$label" $((calls * per_call))
}
report() { # label jobs
  local total
  total=$(counted)
  printf '%-22s %9d instructions per job\n' "$1" $((total / $2))
}

keys="bull:q:wait bull:q:paused bull:q:meta bull:q:id bull:q:delayed bull:q:prioritized bull:q:pc bull:q:marker bull:q:events bull:q:active"
for batch in 1 10; do
  plain_args=() general_args=() floor_args=()
  for _ in $(seq "$batch"); do
    plain_args+=("e__rand_int__" event 1732400123000 "$data" "$opts" 0 "d__rand_int__" 86400000)
    general_args+=("e__rand_int__" event 1732400123000 "$data" "$opts")
    floor_args+=("e__rand_int__" event "$data" "$opts" 1732400123000 "d__rand_int__" 86400000)
  done
  # shellcheck disable=SC2086
  count "floor, $batch per call" "$batch" evalsha "$floor" 4 bull:q:id bull:q:wait bull:q:events bull:q:marker bull:q: 10000 "${floor_args[@]}"
  # shellcheck disable=SC2086
  count "plain, $batch per call" "$batch" evalsha "$plain" 10 $keys bull:q: 6 "${plain_args[@]}"
  # shellcheck disable=SC2086
  count "general, $batch per call" "$batch" evalsha "$general" 10 $keys bull:q: 6 "${general_args[@]}"
done

# Node BullMQ's adds, from a client process of its own: a warm-up, then the counted run.
node_adds() { # calls first-event-number
  (cd "$root/node-worker-compat" && PORT=$port CALLS=$1 BASE=$2 node -e "
const { Queue } = require('bullmq6');
const { event } = require('./lib/bench-data');
(async () => {
  const queue = new Queue('q', { connection: { host: '127.0.0.1', port: Number(process.env.PORT) } });
  await queue.waitUntilReady();
  for (let i = 0; i < Number(process.env.CALLS); i++) {
    const n = Number(process.env.BASE) + i;
    await queue.add('event', event(n),
      { jobId: 'e' + n, deduplication: { id: 'd' + n, ttl: 86400000 }, removeOnComplete: true });
  }
  await queue.close();
})();")
}
redis-cli -p "$port" flushall >/dev/null
node_adds 200 0
zero_count
node_adds "$calls" 1000000
report "bullmq 6 Queue.add" "$calls"
