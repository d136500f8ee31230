--[[ obliterate: delete a paused queue and everything in it, a bounded amount per call
  (BullMQ's obliterate). The caller repeats the call while it returns 1.
  KEYS  1 meta  2 active  3 wait  4 paused  5 delayed  6 prioritized  7 completed
        8 failed  9 waiting-children  10.. the queue's other keys (id, pc, marker, events,
        stalled, stalled-check, limiter, metrics), deleted once no job is left
  ARGV  1 key prefix  2 most jobs to delete in this call  3 "force" to delete active jobs
  Returns 0 when the queue is gone, 1 when jobs remain, -1 when the queue is not paused,
  -2 when jobs are active and force was not given. ]]
local prefix, budget, force = ARGV[1], tonumber(ARGV[2]), ARGV[3] == "force"

if redis.call("HEXISTS", KEYS[1], "paused") ~= 1 then return -1 end
if not force and redis.call("LLEN", KEYS[2]) > 0 then return -2 end

local function forget(jobId)
  local jobKey = prefix .. jobId
  local dedupId = redis.call("HGET", jobKey, "deid")
  if dedupId and redis.call("GET", prefix .. "de:" .. dedupId) == jobId then
    redis.call("DEL", prefix .. "de:" .. dedupId)
  end
  deleteJobKeys(jobKey)
end

for position = 2, 4 do
  local key = KEYS[position]
  local ids = redis.call("LRANGE", key, 0, budget - 1)
  for _, jobId in ipairs(ids) do forget(jobId) end
  if #ids > 0 then redis.call("LTRIM", key, #ids, -1) end
  budget = budget - #ids
  if budget <= 0 then return 1 end
end

for position = 5, 9 do
  local key = KEYS[position]
  local ids = redis.call("ZRANGE", key, 0, budget - 1)
  for _, jobId in ipairs(ids) do forget(jobId) end
  if #ids > 0 then redis.call("ZREMRANGEBYRANK", key, 0, #ids - 1) end
  budget = budget - #ids
  if budget <= 0 then return 1 end
end

for position = 10, #KEYS do
  redis.call("DEL", KEYS[position])
end
redis.call("DEL", KEYS[1])
return 0
