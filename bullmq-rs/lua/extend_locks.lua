--[[ extend_locks: renew the locks of the jobs a worker runs (BullMQ's extendLocks).
  KEYS  1 stalled
  ARGV  1 key prefix  2 lock duration ms  then job id, token pairs
  Returns the ids whose lock is no longer this worker's. A renewed job leaves `stalled`,
  so that no stalled checker (Node's or ours) takes it back. ]]
local lost = {}
for i = 3, #ARGV, 2 do
  local jobId, token = ARGV[i], ARGV[i + 1]
  local lockKey = ARGV[1] .. jobId .. ":lock"
  if redis.call("GET", lockKey) == token then
    redis.call("SET", lockKey, token, "PX", ARGV[2])
    redis.call("SREM", KEYS[1], jobId)
  else
    lost[#lost + 1] = jobId
  end
end
return lost
