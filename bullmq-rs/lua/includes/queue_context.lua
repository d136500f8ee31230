--[[ queue_context: facts about the queue that every write path needs, read once per call.
  `maxEvents` is the approximate cap of the events stream: BullMQ keeps it in meta under
  `opts.maxLenEvents` and writes the default 10000 there the first time a script needs it.
  `pausedOrMaxed` is true while meta has a `paused` field (its presence is what counts) or
  while a global concurrency is set and `active` already holds that many jobs; no job may
  then be announced through the marker. `rateMax` / `rateDuration` are the queue's global
  rate limit, when one is set. ]]
local function maxEventsOf(metaKey)
  local maxEvents = redis.call("HGET", metaKey, "opts.maxLenEvents")
  if not maxEvents then
    maxEvents = 10000
    redis.call("HSET", metaKey, "opts.maxLenEvents", maxEvents)
  end
  return maxEvents
end

local function readQueueContext(metaKey, activeKey)
  local maxEvents = maxEventsOf(metaKey)

  local state = redis.call("HMGET", metaKey, "paused", "concurrency", "max", "duration")
  local paused = state[1] ~= false
  local maxed = false
  if not paused and state[2] then
    maxed = redis.call("LLEN", activeKey) >= tonumber(state[2])
  end

  return {
    maxEvents = maxEvents, paused = paused, pausedOrMaxed = paused or maxed,
    rateMax = tonumber(state[3]), rateDuration = tonumber(state[4]),
  }
end
