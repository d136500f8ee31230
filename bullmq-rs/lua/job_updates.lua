--[[ job_updates: what a running job reports about itself (BullMQ's updateProgress,
  addLog and updateData), one script with the operation as its first argument.
  KEYS  1 job  2 job logs  3 events  4 meta
  ARGV  1 "progress" | "log" | "data"  2 job id  3 the value (progress JSON, log line,
        data JSON)  4 for "log": how many lines to keep ("" = all)
  Returns -1 when the job no longer exists; for "log" the number of log lines, else 0. ]]
local jobKey, operation, jobId, value = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if redis.call("EXISTS", jobKey) == 0 then return -1 end

if operation == "progress" then
  redis.call("HSET", jobKey, "progress", value)
  emitEvent(KEYS[3], maxEventsOf(KEYS[4]), "progress", "jobId", jobId, "data", value)
  return 0
elseif operation == "log" then
  local lines = redis.call("RPUSH", KEYS[2], value)
  local keep = tonumber(ARGV[4])
  if keep then
    redis.call("LTRIM", KEYS[2], -keep, -1)
    return math.min(lines, keep)
  end
  return lines
elseif operation == "data" then
  redis.call("HSET", jobKey, "data", value)
  return 0
end
return redis.error_reply("unknown job update " .. tostring(operation))
