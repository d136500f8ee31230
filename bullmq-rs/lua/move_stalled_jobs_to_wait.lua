--[[ move_stalled_jobs_to_wait: take back the jobs of workers that stopped renewing their
  locks (BullMQ's moveStalledJobsToWait). One checker per interval runs, whichever worker
  (Node or Rust) gets there first.
  KEYS  1 stalled  2 wait  3 active  4 stalled-check  5 meta  6 paused  7 marker  8 events
        9 repeat
  ARGV  1 max stalled count  2 key prefix  3 now ms  4 check interval ms  5 BullMQ major
  Returns the ids moved back. A job seen active at the previous check, whose lock has
  expired since, goes back to the front of `wait` with `stc` raised; past the max stalled
  count it gets a deferred failure (`defa`) that the next worker applies. Then every
  active job is noted in `stalled` for the next check. ]]
if redis.call("EXISTS", KEYS[4]) == 1 then return {} end
redis.call("SET", KEYS[4], ARGV[3], "PX", ARGV[4])
local q = {
  prefix = ARGV[2], major = tonumber(ARGV[5]),
  wait = KEYS[2], active = KEYS[3], pausedList = KEYS[6], marker = KEYS[7], events = KEYS[8],
  readyAdded = false, delayedTouched = false,
}
local context = readQueueContext(KEYS[5], q.active)
q.paused = context.paused
redis.call("XTRIM", q.events, "MAXLEN", "~", context.maxEvents)

local function isSchedulerJob(jobKey)
  local schedulerId = redis.call("HGET", jobKey, "rjk")
  return schedulerId and (redis.call("EXISTS", KEYS[9] .. ":" .. schedulerId) == 1
    or redis.call("ZSCORE", KEYS[9], schedulerId) ~= false)
end

local moved = {}
local suspects = redis.call("SMEMBERS", KEYS[1])
redis.call("DEL", KEYS[1])
for _, jobId in ipairs(suspects) do
  local jobKey = q.prefix .. jobId
  if string.sub(jobId, 1, 2) == "0:" then
    redis.call("LREM", q.active, 1, jobId)
  elseif redis.call("EXISTS", jobKey .. ":lock") == 0 and redis.call("LREM", q.active, 1, jobId) > 0 then
    local stalledCount = redis.call("HINCRBY", jobKey, "stc", 1)
    if stalledCount > tonumber(ARGV[1]) and not isSchedulerJob(jobKey) then
      redis.call("HSET", jobKey, "defa", "job stalled more than allowable limit")
    end
    local now = readQueueContext(KEYS[5], q.active)
    pushReady(q, jobId, 0, "RPUSH")
    announce(q, now.pausedOrMaxed)
    q.readyAdded = false
    emitEvent(q.events, nil, "waiting", "jobId", jobId, "prev", "active")
    emitEvent(q.events, nil, "stalled", "jobId", jobId)
    moved[#moved + 1] = jobId
  end
end

local active = redis.call("LRANGE", q.active, 0, -1)
for from = 1, #active, 5000 do
  redis.call("SADD", KEYS[1], unpack(active, from, math.min(from + 4999, #active)))
end
return moved
