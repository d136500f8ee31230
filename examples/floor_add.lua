--[[ floor_add: the Redis writes bullmq-rs' add_jobs.lua makes for a batch of new jobs
  that need no decision (no parent, delay or priority, a custom id not taken yet, a free
  deduplication slot), and nothing else: no reads, no option decoding, no queue meta, the
  arguments ready-made. What any add script must at least cost; bench_add compares ours
  with it. The writes, in add_jobs.lua's order (store_job, ready, emit_event, deduplicate):
    INCRBY id <count>                                                once per batch
    SET <prefix>de:<dedup id> <id> PX <ttl>                          deduplicated jobs only
    HMSET <prefix><id> name data opts timestamp delay 0 priority 0 [deid]
    XADD events * event added jobId <id> name <name>
    LPUSH wait <id>
    XADD events MAXLEN ~ <cap> * event waiting jobId <id>
    ZADD marker 0 "0"                                                once per batch
  KEYS  1 id  2 wait  3 events  4 marker
  ARGV  1 key prefix ("<prefix>:<queue>:")  2 events cap (maxLenEvents)
        then 7 values per job: custom id ("" = next counter value), name, data JSON,
        opts JSON as stored, timestamp ms, dedup id ("" = none), dedup ttl ms
  Returns the job ids in argument order. ]]

local prefix, maxEvents = ARGV[1], ARGV[2]
local PER_JOB = 7
local count = (#ARGV - 2) / PER_JOB
local last = redis.call("INCRBY", KEYS[1], count)

local ids = {}
for index = 1, count do
  local base = 2 + (index - 1) * PER_JOB
  local id = ARGV[base + 1]
  if id == "" then id = tostring(last - count + index) end
  local name, dedupId = ARGV[base + 2], ARGV[base + 6]
  if dedupId == "" then
    redis.call("HMSET", prefix .. id, "name", name, "data", ARGV[base + 3], "opts", ARGV[base + 4],
      "timestamp", ARGV[base + 5], "delay", 0, "priority", 0)
  else
    redis.call("SET", prefix .. "de:" .. dedupId, id, "PX", ARGV[base + 7])
    redis.call("HMSET", prefix .. id, "name", name, "data", ARGV[base + 3], "opts", ARGV[base + 4],
      "timestamp", ARGV[base + 5], "delay", 0, "priority", 0, "deid", dedupId)
  end
  redis.call("XADD", KEYS[3], "*", "event", "added", "jobId", id, "name", name)
  redis.call("LPUSH", KEYS[2], id)
  redis.call("XADD", KEYS[3], "MAXLEN", "~", maxEvents, "*", "event", "waiting", "jobId", id)
  ids[index] = id
end
redis.call("ZADD", KEYS[4], 0, "0")
return ids
