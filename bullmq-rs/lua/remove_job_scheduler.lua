--[[ remove_job_scheduler: remove a job scheduler and its run still waiting in `delayed`
  (BullMQ's removeJobScheduler); a run already ready or running is left alone.
  KEYS  1 repeat  2 delayed  3 events
  ARGV  1 key prefix  2 scheduler id
  Returns 1 when the scheduler existed, 0 when it did not. ]]
local repeatKey, schedulerId = KEYS[1], ARGV[2]
local runMillis = redis.call("ZSCORE", repeatKey, schedulerId)
if runMillis then
  local runId = "repeat:" .. schedulerId .. ":" .. runMillis
  if redis.call("ZREM", KEYS[2], runId) == 1 then
    deleteJobKeys(ARGV[1] .. runId)
    emitEvent(KEYS[3], nil, "removed", "jobId", runId, "prev", "delayed")
  end
end
if redis.call("ZREM", repeatKey, schedulerId) == 1 then
  redis.call("DEL", repeatKey .. ":" .. schedulerId)
  return 1
end
return 0
