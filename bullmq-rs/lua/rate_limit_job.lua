--[[ rate_limit_job: the handler hit an outside rate limit (e.g. HTTP 429): rate-limit the
  whole queue for a while and put the job back at the front, without counting an attempt
  (BullMQ's queue rateLimit followed by moveJobFromActiveToWait). With a rate limit of 0
  ms, only the move back: a closing worker hands back a job it gives up.
  KEYS  1 active  2 wait  3 stalled  4 paused  5 meta  6 limiter  7 prioritized  8 marker
        9 events  10 job
  ARGV  1 job id  2 lock token  3 rate limit ms  4 BullMQ major
  Returns the rate limit's remaining ms, or -1 no such job, -2 lock lost, -6 lock held by
  another worker. Workers configured with a limiter (in Node: `limiter`) respect the
  queue's rate limit; the limiter key then reads as full until it expires. ]]
local jobId, jobKey = ARGV[1], KEYS[10]
if redis.call("EXISTS", jobKey) == 0 then return -1 end
local locked = releaseLock(jobKey, KEYS[3], jobId, ARGV[2])
if locked < 0 then return locked end

if tonumber(ARGV[3]) > 0 then
  -- Number.MAX_SAFE_INTEGER, as BullMQ writes it: no limiter max can be below it.
  redis.call("SET", KEYS[6], "9007199254740991", "PX", ARGV[3])
end
if redis.call("LREM", KEYS[1], 1, jobId) > 0 then
  local q = {
    major = tonumber(ARGV[4]), wait = KEYS[2], pausedList = KEYS[4], marker = KEYS[8],
    readyAdded = false, delayedTouched = false,
  }
  local context = readQueueContext(KEYS[5], KEYS[1])
  q.paused = context.paused
  local priority = tonumber(redis.call("HGET", jobKey, "priority")) or 0
  if priority > 0 then
    -- Ahead of every job of its priority.
    redis.call("ZADD", KEYS[7], priority * 4294967296, jobId)
  else
    pushReady(q, jobId, 0, "RPUSH")
    announce(q, context.pausedOrMaxed)
  end
  emitEvent(KEYS[9], context.maxEvents, "waiting", "jobId", jobId, "prev", "active")
end
return math.max(redis.call("PTTL", KEYS[6]), 0)
