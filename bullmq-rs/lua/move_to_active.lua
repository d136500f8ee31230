--[[ move_to_active: hand the next job to a worker (BullMQ's moveToActive).
  KEYS  1 wait  2 active  3 prioritized  4 events  5 stalled  6 limiter  7 delayed
        8 paused  9 meta  10 pc  11 marker
  ARGV  1 key prefix  2 now ms  3 lock token ("0" = no lock)  4 lock duration ms
        5 worker limiter max ("" = none)  6 worker limiter duration ms  7 worker name ("")
        8 BullMQ major
  Returns { job hash as a flat array, job id, 0, 0 } for a job;
          { 0, 0, ms until the rate limit resets, 0 } while rate limited;
          { 0, 0, 0, next delayed due time in ms or 0 } when nothing is ready.
  Due delayed jobs are promoted first. A paused queue, or one at its global concurrency,
  hands out nothing. After a fetch the marker is set again so that the next idle worker
  wakes up too. ]]
local q = {
  prefix = ARGV[1], major = tonumber(ARGV[8]),
  wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], events = KEYS[4], limiter = KEYS[6],
  delayed = KEYS[7], pausedList = KEYS[8], priorityCounter = KEYS[10], marker = KEYS[11],
  readyAdded = false, delayedTouched = false,
}
local now = tonumber(ARGV[2])
local context = readQueueContext(KEYS[9], q.active)
q.paused = context.paused
promoteDueJobs(q, now)
announce(q, context.pausedOrMaxed)

-- The queue's global limit wins over the worker's max; the worker's duration wins.
local maxJobs = context.rateMax or tonumber(ARGV[5])
local limitDuration = tonumber(ARGV[6]) or context.rateDuration
if maxJobs and maxJobs <= (tonumber(redis.call("GET", q.limiter)) or 0) then
  local ttl = redis.call("PTTL", q.limiter)
  if ttl == 0 then redis.call("DEL", q.limiter) end
  if ttl > 0 then return { 0, 0, ttl, 0 } end
end
if context.pausedOrMaxed then return { 0, 0, 0, 0 } end

local jobId = redis.call("RPOPLPUSH", q.wait, q.active)
-- Ids starting with "0:" are markers of BullMQ 4 and older: never jobs.
while jobId and string.sub(jobId, 1, 2) == "0:" do
  redis.call("LREM", q.active, 1, jobId)
  jobId = redis.call("RPOPLPUSH", q.wait, q.active)
end
if not jobId then
  local popped = redis.call("ZPOPMIN", q.prioritized)
  if popped[1] then
    jobId = popped[1]
    redis.call("LPUSH", q.active, jobId)
  else
    redis.call("DEL", q.priorityCounter)
  end
end

if not jobId then
  local earliest = redis.call("ZRANGE", q.delayed, 0, 0, "WITHSCORES")
  return { 0, 0, 0, earliest[2] and math.floor(tonumber(earliest[2]) / 4096) or 0 }
end

local jobKey = q.prefix .. jobId
-- Major 6 does not count a job that will fail at once (deferred failure) against the limit.
if maxJobs and (q.major == 5 or redis.call("HEXISTS", jobKey, "defa") == 0) then
  if redis.call("INCR", q.limiter) == 1 then
    redis.call("PEXPIRE", q.limiter, math.floor(math.abs(limitDuration or 0)))
  end
end
if ARGV[3] ~= "0" then
  redis.call("SET", jobKey .. ":lock", ARGV[3], "PX", ARGV[4])
end
emitEvent(q.events, nil, "active", "jobId", jobId, "prev", "waiting")
if ARGV[7] ~= "" then
  redis.call("HSET", jobKey, "processedOn", ARGV[2], "pb", ARGV[7])
else
  redis.call("HSET", jobKey, "processedOn", ARGV[2])
end
redis.call("HINCRBY", jobKey, "ats", 1)
redis.call("ZADD", q.marker, 0, "0")
return { redis.call("HGETALL", jobKey), jobId, 0, 0 }
