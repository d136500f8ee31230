--[[ change_priority: give a job a new priority (BullMQ's changePriority, called by
  Job.changePriority({ priority, lifo })).
  KEYS  1 wait  2 paused  3 meta  4 prioritized  5 active  6 pc  7 marker  8 job
  ARGV  1 priority  2 job id  3 "1" for lifo  4 BullMQ major
  Returns 0, or -1 no such job.
  A job waiting (in `prioritized`, or in `wait`; BullMQ 5: `paused` while the queue is
  paused) is placed again: priority 0 to `wait` (lifo: to the front), else to
  `prioritized` (lifo: ahead of its equals, score `priority * 2^32`, without a marker),
  with a marker unless the queue is paused or maxed. A job in any other state keeps its
  place. Either way the job's `priority` field is set. ]]
local jobKey, jobId, priority, lifo = KEYS[8], ARGV[2], tonumber(ARGV[1]), ARGV[3] == "1"
if redis.call("EXISTS", jobKey) == 0 then return -1 end

local context = readQueueContext(KEYS[3], KEYS[5])
local q = {
  major = tonumber(ARGV[4]), paused = context.paused, wait = KEYS[1], pausedList = KEYS[2],
  prioritized = KEYS[4], priorityCounter = KEYS[6], marker = KEYS[7],
  readyAdded = false, delayedTouched = false,
}
local list = (q.major == 5 and q.paused) and q.pausedList or q.wait
if redis.call("ZREM", q.prioritized, jobId) > 0 or redis.call("LREM", list, -1, jobId) > 0 then
  if priority > 0 and lifo then
    redis.call("ZADD", q.prioritized, priority * 4294967296, jobId)
  else
    pushReady(q, jobId, priority, lifo and "RPUSH" or "LPUSH")
    announce(q, context.pausedOrMaxed)
  end
end
redis.call("HSET", jobKey, "priority", priority)
return 0
