--[[ change_delay: give a delayed job a new delay, counted from now (BullMQ's changeDelay,
  called by Job.changeDelay).
  KEYS  1 delayed  2 meta  3 marker  4 events  5 job
  ARGV  1 delay ms  2 now ms  3 job id
  Returns 0, or -1 no such job, -3 the job is not delayed.
  The new score is taken before the job leaves `delayed`, as BullMQ takes it; then the
  job's `delay` field, `delayed jobId <id> delay <due ms>` and the delay marker. ]]
local jobKey, jobId, delay = KEYS[5], ARGV[3], tonumber(ARGV[1])
if redis.call("EXISTS", jobKey) == 0 then return -1 end

local due = tonumber(ARGV[2])
if delay > 0 then due = due + delay end
local score = delayedScore(KEYS[1], due)
if redis.call("ZREM", KEYS[1], jobId) < 1 then return -3 end

redis.call("HSET", jobKey, "delay", delay)
redis.call("ZADD", KEYS[1], score, jobId)
emitEvent(KEYS[4], maxEventsOf(KEYS[2]), "delayed", "jobId", jobId, "delay", due)
refreshDelayMarker(KEYS[3], KEYS[1])
return 0
