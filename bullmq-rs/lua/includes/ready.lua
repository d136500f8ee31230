--[[ ready: making jobs available to workers, and telling idle workers about it.
  Ready jobs without priority go to `wait` (major 5: to `paused` while the queue is
  paused), taken from the right end: LPUSH queues behind, RPUSH jumps ahead. Prioritized
  jobs go to `prioritized`, scored `priority * 2^32 + (INCR pc mod 2^32)` so that equal
  priorities stay first in, first out. A script sets `q.readyAdded` / `q.delayedTouched`
  and calls `announce` once at its end: the marker ends as per-job writes would leave it. ]]

local function pushReady(q, jobId, priority, pushCommand)
  if priority > 0 then
    local sequence = redis.call("INCR", q.priorityCounter) % 4294967296
    redis.call("ZADD", q.prioritized, priority * 4294967296 + sequence, jobId)
  else
    local target = (q.major == 5 and q.paused) and q.pausedList or q.wait
    redis.call(pushCommand, target, jobId)
  end
  q.readyAdded = true
end

-- A job just stored: delayed, prioritized or waiting, with the event BullMQ writes for it.
local function enqueueNew(q, job)
  if job.delay > 0 then
    scheduleDelayed(q.delayed, q.events, q.maxEvents, job.id, job.timestamp, job.delay)
    q.delayedTouched = true
    return
  end
  pushReady(q, job.id, job.priority, job.opts["lifo"] and "RPUSH" or "LPUSH")
  emitEvent(q.events, q.maxEvents, "waiting", "jobId", job.id)
end

-- Delayed jobs due by `now` become ready (at most 1000 per call, as BullMQ does).
local function promoteDueJobs(q, now)
  -- Numbers as text: Redis formats a Lua number argument with a costly "%.17g".
  local due = redis.call("ZRANGEBYSCORE", q.delayed, "0", string.format("%.0f", (now + 1) * 4096 - 1),
    "LIMIT", "0", "1000")
  if #due == 0 then return end
  redis.call("ZREM", q.delayed, unpack(due))
  for _, jobId in ipairs(due) do
    local jobKey = q.prefix .. jobId
    pushReady(q, jobId, tonumber(redis.call("HGET", jobKey, "priority")) or 0, "LPUSH")
    emitEvent(q.events, nil, "waiting", "jobId", jobId, "prev", "delayed")
    redis.call("HSET", jobKey, "delay", 0)
  end
end

-- The marker: "0" (score 0) while ready jobs exist and the queue may hand them out, "1"
-- scored with the earliest due time of a delayed job.
local function announce(q, pausedOrMaxed)
  if q.readyAdded and not pausedOrMaxed then
    redis.call("ZADD", q.marker, 0, "0")
  end
  if q.delayedTouched then
    refreshDelayMarker(q.marker, q.delayed)
  end
end
