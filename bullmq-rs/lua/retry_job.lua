--[[ retry_job: put a failed job back to run again at once (BullMQ's retryJob).
  KEYS  1 active  2 wait  3 paused  4 job  5 meta  6 events  7 delayed  8 prioritized
        9 pc  10 marker  11 stalled
  ARGV  1 key prefix  2 now ms  3 LPUSH or RPUSH (lifo)  4 job id  5 lock token
        6 fields to write (JSON pairs)  7 BullMQ major
  Returns 0, or -1 no such job, -2 lock lost, -3 job not active, -6 lock held by another. ]]
local jobId, jobKey = ARGV[4], KEYS[4]
local q = {
  prefix = ARGV[1], major = tonumber(ARGV[7]),
  active = KEYS[1], wait = KEYS[2], pausedList = KEYS[3], events = KEYS[6], delayed = KEYS[7],
  prioritized = KEYS[8], priorityCounter = KEYS[9], marker = KEYS[10],
  readyAdded = false, delayedTouched = false,
}
local context = readQueueContext(KEYS[5], q.active)
q.paused = context.paused
promoteDueJobs(q, tonumber(ARGV[2]))

if redis.call("EXISTS", jobKey) == 0 then
  announce(q, context.pausedOrMaxed)
  return -1
end
local locked = releaseLock(jobKey, KEYS[11], jobId, ARGV[5])
if locked < 0 then
  announce(q, context.pausedOrMaxed)
  return locked
end
writeFields(jobKey, ARGV[6])
if redis.call("LREM", q.active, -1, jobId) < 1 then
  announce(q, context.pausedOrMaxed)
  return -3
end

-- One job fewer is active: the queue may no longer be at its global concurrency.
context = readQueueContext(KEYS[5], q.active)
pushReady(q, jobId, tonumber(redis.call("HGET", jobKey, "priority")) or 0, ARGV[3])
announce(q, context.pausedOrMaxed)
redis.call("HINCRBY", jobKey, "atm", 1)
emitEvent(q.events, context.maxEvents, "waiting", "jobId", jobId, "prev", "active")
return 0
