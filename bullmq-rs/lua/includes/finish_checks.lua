--[[ finish_checks: what every script that ends a job's attempt checks and writes first.
  releaseLock: the worker must still hold the job's lock (token "0" means lock-less).
  Returns 0, or -2 when the lock is gone (expired: the job may have been handed to
  another worker), -6 when another token holds it. Releasing also drops the job from
  `stalled`, so the stalled checker leaves it alone.
  writeFields: the job fields the worker sends along (failedReason, stacktrace, ...),
  as a JSON array of field, value pairs. ]]
local function releaseLock(jobKey, stalledKey, jobId, token)
  if token == "0" then return 0 end
  local holder = redis.call("GET", jobKey .. ":lock")
  if holder == token then
    redis.call("DEL", jobKey .. ":lock")
    redis.call("SREM", stalledKey, jobId)
    return 0
  end
  if holder then return -6 end
  return -2
end

local function writeFields(jobKey, fieldsJson)
  if fieldsJson == nil or fieldsJson == "" then return end
  local pairs = cjson.decode(fieldsJson)
  if #pairs > 0 then
    redis.call("HSET", jobKey, unpack(pairs))
  end
end
