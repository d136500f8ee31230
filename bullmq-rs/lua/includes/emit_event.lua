--[[ emit_event: one entry of the queue's events stream. BullMQ caps most entries with
  `MAXLEN ~ <meta opts.maxLenEvents>`; a few (`added`, `removed`, `paused`, ...) are written
  uncapped, so the caller says which. Fields come as name, value pairs after the event name. ]]
local function emitEvent(eventsKey, maxEvents, eventName, ...)
  if maxEvents then
    return redis.call("XADD", eventsKey, "MAXLEN", "~", maxEvents, "*", "event", eventName, ...)
  end
  return redis.call("XADD", eventsKey, "*", "event", eventName, ...)
end
