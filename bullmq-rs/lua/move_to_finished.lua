--[[ move_to_finished: end a job as completed or failed for good (BullMQ's moveToFinished).
  KEYS  1 wait  2 active  3 prioritized  4 events  5 stalled  6 delayed  7 paused  8 meta
        9 pc  10 marker  11 target set (completed or failed)  12 job  13 id  14 limiter
        15 metrics hash of the target (metrics:completed or metrics:failed)
  ARGV  1 job id  2 now ms  3 field (returnvalue or failedReason)  4 its value
        5 target ("completed" or "failed")  6 key prefix  7 lock token
        8 keep count (-1 all, 0 none, n the last n)  9 keep age in s ("" = any)
        10 most jobs removed per trim  11 attempts allowed  12 fields to write (JSON pairs)
        13 BullMQ major  14 most metrics data points ("" = no metrics)
        15.. to take the next job in the same call (BullMQ's fetchNext):
        lock token, lock duration ms, limiter max, limiter duration ms, worker name
        (absent = finish only)
  Returns 0, the answer of fetchJob when asked for the next job, or -1 no such job, -2 lock
  lost, -3 job not active, -4 pending children, -6 lock held by another worker, -9 a child
  that had to succeed failed.
  A child tells its parent, which may be in another queue (see parent.lua). ]]
local jobId, now, target = ARGV[1], ARGV[2], ARGV[5]
local jobKey = KEYS[12]
local q = {
  prefix = ARGV[6], major = tonumber(ARGV[13]),
  wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], events = KEYS[4], delayed = KEYS[6],
  pausedList = KEYS[7], priorityCounter = KEYS[9], marker = KEYS[10], limiter = KEYS[14],
  readyAdded = false, delayedTouched = false,
}
-- Every job hash has a name: its absence means no job (one call instead of EXISTS + HGET).
local found = redis.call("HMGET", jobKey, "name", "deid", "parentKey", "parent")
if not found[1] then return -1 end
if target == "completed" then
  if redis.call("SCARD", jobKey .. ":dependencies") > 0 then return -4 end
  if redis.call("ZCARD", jobKey .. ":unsuccessful") > 0 then return -9 end
end
local locked = releaseLock(jobKey, KEYS[5], jobId, ARGV[7])
if locked < 0 then return locked end
writeFields(jobKey, ARGV[12])
if redis.call("LREM", q.active, -1, jobId) < 1 then return -3 end

local context = readQueueContext(KEYS[8], q.active, true)
q.maxEvents, q.paused = context.maxEvents, context.paused
redis.call("XTRIM", q.events, "MAXLEN", "~", context.maxEvents)

local dedupId = found[2]
if dedupId then
  releaseDedupSlot(q, dedupId, jobId)
  createParkedDuplicate(q, dedupId, KEYS[13], now)
end

local parentKey, parentJson = found[3], found[4]
if parentJson then
  if target == "completed" then
    childCompleted(jobKey, parentJson, ARGV[4], now, q.major)
  else
    childFailed(jobKey, parentJson, ARGV[4], now, q.major)
  end
end

local attemptsMade = redis.call("HINCRBY", jobKey, "atm", 1)
local keepCount = tonumber(ARGV[8])
if keepCount == 0 then
  deleteJobKeys(jobKey)
  if parentKey then dropRemovedChild(jobKey, parentKey, q.major) end
else
  redis.call("ZADD", KEYS[11], now, jobId)
  redis.call("HSET", jobKey, ARGV[3], ARGV[4], "finishedOn", now)
  if target == "failed" then redis.call("HDEL", jobKey, "defa") end
  trimFinished(q.prefix, KEYS[11], tonumber(now), tonumber(ARGV[9]), keepCount, tonumber(ARGV[10]) or 1000)
end

emitEvent(q.events, nil, target, "jobId", jobId, ARGV[3], ARGV[4], "prev", "active")
if target == "failed" and attemptsMade >= (tonumber(ARGV[11]) or 0) then
  emitEvent(q.events, nil, "retries-exhausted", "jobId", jobId, "attemptsMade", attemptsMade)
end
if ARGV[14] ~= "" then
  recordMetrics(KEYS[15], tonumber(ARGV[14]), tonumber(now))
end
announce(q, context.pausedOrMaxed)
if ARGV[15] then
  local next = fetchJob(q, context, {
    now = tonumber(now), token = ARGV[15], lockMs = ARGV[16], limitMax = tonumber(ARGV[17]),
    limitMs = tonumber(ARGV[18]), workerName = ARGV[19],
  })
  -- As BullMQ: any answer but "nothing at all" is returned, and only then is `drained` checked.
  if next then return next end
end
if redis.call("LLEN", q.wait) == 0 and redis.call("LLEN", q.active) == 0
  and redis.call("ZCARD", q.prioritized) == 0 then
  emitEvent(q.events, nil, "drained")
end
return 0
