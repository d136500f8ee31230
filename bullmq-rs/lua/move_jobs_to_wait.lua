--[[ move_jobs_to_wait: send a batch of failed, completed or delayed jobs to `wait`
  (BullMQ's moveJobsToWait, called by Queue.retryJobs and Queue.promoteJobs).
  KEYS  1 events  2 the state's zset  3 wait  4 paused  5 meta  6 active  7 marker
  ARGV  1 key prefix  2 most jobs to move  3 highest score to move (finishedOn ms; "+inf")
        4 the state ("failed", "completed" or "delayed")  5 BullMQ major
  Returns 1 when `count` jobs were moved (the caller calls again), 0 when none is left.

  The lowest-scored jobs go first, to the head of `wait` (BullMQ 5: of `paused` while the
  queue is paused), priority and lifo ignored, as BullMQ does; a marker follows unless the
  queue is paused or maxed. Finished jobs lose `finishedOn`, `processedOn` and their result
  (their attempt counters stay), and BullMQ 6 puts a child back into its parent's
  dependencies; delayed jobs keep their `delay` field. Each writes `waiting prev <state>`. ]]
local prefix, count, state, major = ARGV[1], tonumber(ARGV[2]), ARGV[4], tonumber(ARGV[5])
local context = readQueueContext(KEYS[5], KEYS[6])
local q = {
  major = major, paused = context.paused, wait = KEYS[3], pausedList = KEYS[4],
  marker = KEYS[7], readyAdded = false, delayedTouched = false,
}

local ids = redis.call("ZRANGEBYSCORE", KEYS[2], 0, ARGV[3], "LIMIT", 0, count)
if #ids > 0 then
  if state ~= "delayed" then
    local result = state == "failed" and "failedReason" or "returnvalue"
    for _, id in ipairs(ids) do
      local jobKey = prefix .. id
      redis.call("HDEL", jobKey, "finishedOn", "processedOn", result)
      if major == 6 then backIntoParent(jobKey, state) end
    end
  end
  for _, id in ipairs(ids) do
    emitEvent(KEYS[1], context.maxEvents, "waiting", "jobId", id, "prev", state)
  end
  -- In slices: unpack has a stack limit.
  for from = 1, #ids, 5000 do
    local to = math.min(from + 4999, #ids)
    redis.call("ZREM", KEYS[2], unpack(ids, from, to))
    for i = from, to do pushReady(q, ids[i], 0, "LPUSH") end
  end
  announce(q, context.pausedOrMaxed)
end
if count - #ids <= 0 then return 1 end
return 0
