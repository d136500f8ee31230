--[[ floor_worker: the Redis writes bullmq-rs' move_to_finished.lua makes to complete jobs
  (removeOnComplete: keep count 0; no parent, deduplication or metrics) and take the next
  ones (fetch_job.lua, no limiter, no worker name), plus the one read a worker needs the
  reply of (the fetched job's hash), and nothing else: no checks, no other reads, the
  arguments ready-made. What any worker's finish-and-fetch must at least cost;
  bench_worker compares ours with it. One call finishes every held job and fetches one per
  slot, at concurrency 50 fifty jobs a call: the best case of a worker that batches its
  endings (ours sends those that arrived while its previous call was on its way).
  The writes, each job's in our scripts' order (finish_checks, move_to_finished,
  delete_job, emit_event, fetch_job), with the ones noted made once per call:
    XTRIM events MAXLEN ~ <cap>                  once per call
    per finished job:
      DEL <job>:lock
      SREM stalled <id>
      LREM active -1 <id>
      DEL <job> <job>:logs <job>:dependencies <job>:processed <job>:failed
          <job>:unsuccessful <job>:lock
      XADD events * event completed jobId <id> returnvalue <value> prev active
    per fetched job:
      RPOPLPUSH wait active
      SET <job>:lock <token> PX <lock ms>
      XADD events * event active jobId <id> prev waiting
      HSET <job> processedOn <now>
      HINCRBY <job> ats 1
      HGETALL <job>                              the read whose reply the worker needs
    DEL pc                                       once per call that found wait empty (ours:
                                                 per fetch finding wait and prioritized empty)
    ZADD marker 0 "0"                            once per call when a job was fetched
    XADD events * event drained                  when nothing was left to fetch and, all
                                                 held jobs being finished here, nothing is
                                                 active (ours reads LLEN wait and active)
  Meta's opts.maxLenEvents, which our scripts write when it is missing, is set by the add.
  KEYS  1 wait  2 active  3 stalled  4 events  5 marker  6 pc
  ARGV  1 key prefix ("<prefix>:<queue>:")  2 events cap (maxLenEvents)  3 now ms
        4 lock duration ms  5 return value JSON  6 number of jobs to finish, F
        then F job ids, then one lock token per job to fetch
  Returns { ids, hashes } of the jobs fetched, hashes as HGETALL flat arrays. ]]

local prefix, maxEvents, now, lockMs, value = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local finishing = tonumber(ARGV[6])

redis.call("XTRIM", KEYS[4], "MAXLEN", "~", maxEvents)
for index = 7, 6 + finishing do
  local id = ARGV[index]
  local jobKey = prefix .. id
  redis.call("DEL", jobKey .. ":lock")
  redis.call("SREM", KEYS[3], id)
  redis.call("LREM", KEYS[2], -1, id)
  redis.call("DEL", jobKey, jobKey .. ":logs", jobKey .. ":dependencies", jobKey .. ":processed",
    jobKey .. ":failed", jobKey .. ":unsuccessful", jobKey .. ":lock")
  redis.call("XADD", KEYS[4], "*", "event", "completed", "jobId", id, "returnvalue", value,
    "prev", "active")
end

local ids, hashes = {}, {}
for index = 7 + finishing, #ARGV do
  local id = redis.call("RPOPLPUSH", KEYS[1], KEYS[2])
  if not id then
    redis.call("DEL", KEYS[6])
    break
  end
  local jobKey = prefix .. id
  redis.call("SET", jobKey .. ":lock", ARGV[index], "PX", lockMs)
  redis.call("XADD", KEYS[4], "*", "event", "active", "jobId", id, "prev", "waiting")
  redis.call("HSET", jobKey, "processedOn", now)
  redis.call("HINCRBY", jobKey, "ats", 1)
  ids[#ids + 1] = id
  hashes[#hashes + 1] = redis.call("HGETALL", jobKey)
end
if #ids > 0 then
  redis.call("ZADD", KEYS[5], 0, "0")
else
  redis.call("XADD", KEYS[4], "*", "event", "drained")
end
return { ids, hashes }
