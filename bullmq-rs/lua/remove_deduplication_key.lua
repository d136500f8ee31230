--[[ remove_deduplication_key: free a job's deduplication slot, only while the slot still
  points at that job (BullMQ's removeDeduplicationKey, called by
  Job.removeDeduplicationKey with the job's `deid`).
  KEYS  1 job
  ARGV  1 key prefix  2 job id
  Returns 1 freed, 0 the job has no slot (or another job holds it now), -1 no such job. ]]
local jobKey = KEYS[1]
if redis.call("EXISTS", jobKey) == 0 then return -1 end
local dedupId = redis.call("HGET", jobKey, "deid")
if not dedupId then return 0 end
local slotKey = ARGV[1] .. "de:" .. dedupId
if redis.call("GET", slotKey) == ARGV[2] then
  return redis.call("DEL", slotKey)
end
return 0
