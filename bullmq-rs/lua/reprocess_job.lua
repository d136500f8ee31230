--[[ reprocess_job: send a completed or failed job back to run again (BullMQ's
  reprocessJob, called by Job.retry).
  KEYS  1 job  2 events  3 the state's zset (completed or failed)  4 wait  5 meta
        6 active  7 marker  8 prioritized  9 pc  10 paused
  ARGV  1 job id  2 the state ("completed" or "failed")  3 "1" to reset attemptsMade
        4 "1" to reset attemptsStarted  5 BullMQ major
  Returns 1, or -1 no such job, -3 the job is not in that state.

  The job leaves the zset and loses `finishedOn`, `processedOn` and its result
  (`returnvalue` or `failedReason`), plus `atm` / `ats` when asked. It is pushed as its
  `lifo` option says (BullMQ 6 puts a job with a priority in `prioritized`; BullMQ 5 puts
  every job in `wait`, or `paused` while the queue is paused), with a marker unless the
  queue is paused or maxed. A child is pending again for its parent (child_retried.lua).
  Then `waiting jobId <id> prev <state>`. ]]
local jobKey, jobId, state, major = KEYS[1], ARGV[1], ARGV[2], tonumber(ARGV[5])

if redis.call("EXISTS", jobKey) == 0 then return -1 end
if redis.call("ZREM", KEYS[3], jobId) ~= 1 then return -3 end

local dropped = { "finishedOn", "processedOn", state == "failed" and "failedReason" or "returnvalue" }
if ARGV[3] == "1" then dropped[#dropped + 1] = "atm" end
if ARGV[4] == "1" then dropped[#dropped + 1] = "ats" end
redis.call("HDEL", jobKey, unpack(dropped))

local q = {
  major = major, wait = KEYS[4], pausedList = KEYS[10], prioritized = KEYS[8],
  priorityCounter = KEYS[9], marker = KEYS[7], readyAdded = false, delayedTouched = false,
}
local context = readQueueContext(KEYS[5], KEYS[6])
q.paused = context.paused
local fields = redis.call("HMGET", jobKey, "priority", "opts")
local priority = 0
if major == 6 then priority = tonumber(fields[1]) or 0 end
local opts = fields[2] and cjson.decode(fields[2]) or {}
pushReady(q, jobId, priority, opts["lifo"] == true and "RPUSH" or "LPUSH")
announce(q, context.pausedOrMaxed)

backIntoParent(jobKey, state, major)
emitEvent(KEYS[2], context.maxEvents, "waiting", "jobId", jobId, "prev", state)
return 1
