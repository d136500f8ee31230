--[[ promote: make one delayed job ready now (BullMQ's promote, called by Job.promote).
  KEYS  1 delayed  2 wait  3 paused  4 meta  5 prioritized  6 active  7 pc  8 events
        9 marker
  ARGV  1 key prefix  2 job id  3 BullMQ major
  Returns 0, or -1 no such job, -3 the job is not delayed.
  The job goes to the head of `wait` (BullMQ 5: of `paused` while the queue is paused),
  or to `prioritized` when it has a priority, with a marker unless the queue is paused
  or maxed; a BullMQ 4 marker (`0:...`) at the head of the list goes first. Then
  `waiting prev delayed`, and its `delay` field becomes 0. ]]
local jobId = ARGV[2]
local jobKey = ARGV[1] .. jobId
if redis.call("ZREM", KEYS[1], jobId) == 0 then
  if redis.call("EXISTS", jobKey) == 0 then return -1 end
  return -3
end

local context = readQueueContext(KEYS[4], KEYS[6])
local q = {
  major = tonumber(ARGV[3]), paused = context.paused, wait = KEYS[2], pausedList = KEYS[3],
  prioritized = KEYS[5], priorityCounter = KEYS[7], marker = KEYS[9],
  readyAdded = false, delayedTouched = false,
}
local list = (q.major == 5 and q.paused) and q.pausedList or q.wait
local head = redis.call("LINDEX", list, 0)
if head and string.sub(head, 1, 2) == "0:" then redis.call("LPOP", list) end

pushReady(q, jobId, tonumber(redis.call("HGET", jobKey, "priority")) or 0, "LPUSH")
announce(q, context.pausedOrMaxed)
emitEvent(KEYS[8], nil, "waiting", "jobId", jobId, "prev", "delayed")
redis.call("HSET", jobKey, "delay", 0)
return 0
