--[[ delayed: placing a job in the `delayed` zset and keeping the delay marker current.
  A delayed score is `dueMs * 4096 + k`: k counts the jobs already due in the same
  millisecond (capped at 4095), so jobs due together keep their insertion order. The
  marker member "1" carries the earliest due time (score / 4096, not floored) so that an
  idle worker blocked on the marker wakes up when that job is due. ]]
local function delayedScore(delayedKey, due)
  local lowest = due * 4096
  local highest = lowest + 4095
  local last = redis.call("ZREVRANGEBYSCORE", delayedKey, highest, lowest, "WITHSCORES", "LIMIT", 0, 1)
  if last[2] then
    return math.min(tonumber(last[2]) + 1, highest)
  end
  return lowest
end

local function scheduleDelayed(delayedKey, eventsKey, maxEvents, jobId, timestamp, delay)
  local due = tonumber(timestamp)
  if delay > 0 then due = due + delay end

  redis.call("ZADD", delayedKey, delayedScore(delayedKey, due), jobId)
  emitEvent(eventsKey, maxEvents, "delayed", "jobId", jobId, "delay", due)
end

local function refreshDelayMarker(markerKey, delayedKey)
  local earliest = redis.call("ZRANGE", delayedKey, 0, 0, "WITHSCORES")
  if earliest[2] then
    redis.call("ZADD", markerKey, tonumber(earliest[2]) / 4096, "1")
  end
end
