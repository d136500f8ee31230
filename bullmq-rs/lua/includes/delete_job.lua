--[[ delete_job: remove every key that belongs to one job: its hash, its logs, the
  dependency bookkeeping of a parent and its lock. The `de:` slot is the caller's business:
  a replacing add re-points it, obliterate releases it. Returns how many keys existed. ]]
local function deleteJobKeys(jobKey)
  return redis.call("DEL", jobKey, jobKey .. ":logs", jobKey .. ":dependencies", jobKey .. ":processed",
    jobKey .. ":failed", jobKey .. ":unsuccessful", jobKey .. ":lock")
end
