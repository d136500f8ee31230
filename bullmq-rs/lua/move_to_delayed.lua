--[[ move_to_delayed: put a failed job back to run again after its backoff, or a job its
  handler delays without using an attempt (BullMQ's moveToDelayed, with skipAttempt).
  KEYS  1 marker  2 active  3 delayed  4 job  5 events  6 meta  7 stalled
  ARGV  1 now ms  2 job id  3 lock token  4 delay ms  5 fields to write (JSON pairs)
        6 "1" to count no attempt
  Returns 0, or -1 no such job, -2 lock lost, -3 job not active, -6 lock held by another.
  The job's `delay` field holds the backoff; its score and the `delayed` event carry the
  due time. ]]
local jobId, jobKey, delay = ARGV[2], KEYS[4], tonumber(ARGV[4])
if redis.call("EXISTS", jobKey) == 0 then return -1 end
local locked = releaseLock(jobKey, KEYS[7], jobId, ARGV[3])
if locked < 0 then return locked end
writeFields(jobKey, ARGV[5])
if redis.call("LREM", KEYS[2], -1, jobId) < 1 then return -3 end

local context = readQueueContext(KEYS[6], KEYS[2])
if ARGV[6] ~= "1" then
  redis.call("HINCRBY", jobKey, "atm", 1)
end
redis.call("HSET", jobKey, "delay", delay)
scheduleDelayed(KEYS[3], KEYS[5], context.maxEvents, jobId, ARGV[1], delay)
refreshDelayMarker(KEYS[1], KEYS[3])
return 0
