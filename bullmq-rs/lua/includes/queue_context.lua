--[[ queue_context: facts about the queue that every write path needs, read once per call.
  `maxEvents` is the approximate cap of the events stream: BullMQ keeps it in meta under
  `opts.maxLenEvents` and writes the default 10000 there the first time a script needs it.
  `pausedOrMaxed` is true while meta has a `paused` field (its presence is what counts) or
  while a global concurrency is set and `active` already holds that many jobs; no job may
  then be announced through the marker. `rateMax` / `rateDuration` are the queue's global
  rate limit, when one is set, read only for callers that ask (fetching takes them; two
  fields less to read and keep are measurable on an add). `concurrency` is the global
  concurrency, for a caller that ends several jobs and must tell again whether `active`
  is full. ]]
local function maxEventsOf(metaKey)
  local maxEvents = redis.call("HGET", metaKey, "opts.maxLenEvents")
  if not maxEvents then
    maxEvents = 10000
    redis.call("HSET", metaKey, "opts.maxLenEvents", maxEvents)
  end
  return maxEvents
end

local function readQueueContext(metaKey, activeKey, withRateLimit)
  -- One read of meta for everything (a call less on every fetch and finish).
  local state
  if withRateLimit then
    state = redis.call("HMGET", metaKey, "opts.maxLenEvents", "paused", "concurrency", "max", "duration")
  else
    state = redis.call("HMGET", metaKey, "opts.maxLenEvents", "paused", "concurrency")
  end
  local maxEvents = state[1]
  if not maxEvents then
    maxEvents = 10000
    redis.call("HSET", metaKey, "opts.maxLenEvents", maxEvents)
  end

  local paused = state[2] ~= false
  local maxed = false
  if not paused and state[3] then
    maxed = redis.call("LLEN", activeKey) >= tonumber(state[3])
  end

  local context = {
    maxEvents = maxEvents, paused = paused, pausedOrMaxed = paused or maxed,
    concurrency = tonumber(state[3]),
  }
  if withRateLimit then
    context.rateMax, context.rateDuration = tonumber(state[4]), tonumber(state[5])
  end
  return context
end
