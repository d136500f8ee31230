--[[ move_to_waiting_children: a running job ends its attempt to wait for the children it
  added (BullMQ's moveToWaitingChildren).
  KEYS  1 active  2 waiting-children  3 job  4 stalled  5 events
  ARGV  1 lock token  2 job id  3 now ms  4 a child's full key ("" = any child)
  Returns 0 when the job now waits in `waiting-children` (its lock released, event
  `waiting-children` with prev active), 1 when nothing is pending (the job stays active),
  -1 no such job, -9 a child that had to succeed failed, -2 / -6 / -3 as finishing does. ]]
local jobKey, jobId = KEYS[3], ARGV[2]
if redis.call("EXISTS", jobKey) == 0 then return -1 end
if redis.call("ZCARD", jobKey .. ":unsuccessful") > 0 then return -9 end

local deps = jobKey .. ":dependencies"
local pending
if ARGV[4] ~= "" then
  pending = redis.call("SISMEMBER", deps, ARGV[4]) == 1
else
  pending = redis.call("SCARD", deps) > 0
end
if not pending then return 1 end

local locked = releaseLock(jobKey, KEYS[4], jobId, ARGV[1])
if locked < 0 then return locked end
if redis.call("LREM", KEYS[1], -1, jobId) < 1 then return -3 end
redis.call("ZADD", KEYS[2], tonumber(ARGV[3]), jobId)
emitEvent(KEYS[5], nil, "waiting-children", "jobId", jobId, "prev", "active")
return 0
