--[[ pause: pause or resume a queue (BullMQ's pause command).
  KEYS  1 wait  2 paused  3 meta  4 prioritized  5 events  6 delayed  7 marker
  ARGV  1 "paused" or "resumed"  2 BullMQ major (5 or 6)
  Pausing sets meta `paused` (presence is the flag) and drops the marker so that idle
  workers stop waking; major 5 also moves `wait` aside into `paused`. Resuming moves any
  `paused` list back in front of `wait` (major 6 does this for lists left by a major 5
  pause), then announces ready jobs, or else the next delayed one, through the marker. ]]
local waitKey, pausedKey, metaKey, prioritizedKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local eventsKey, delayedKey, markerKey = KEYS[5], KEYS[6], KEYS[7]

if ARGV[1] == "paused" then
  redis.call("HSET", metaKey, "paused", 1)
  redis.call("DEL", markerKey)
  if tonumber(ARGV[2]) == 5 and redis.call("EXISTS", waitKey) == 1 and redis.call("EXISTS", pausedKey) == 0 then
    redis.call("RENAME", waitKey, pausedKey)
  end
else
  redis.call("HDEL", metaKey, "paused")
  if redis.call("EXISTS", pausedKey) == 1 then
    if redis.call("EXISTS", waitKey) == 0 then
      redis.call("RENAME", pausedKey, waitKey)
    else
      -- Oldest paused jobs end rightmost, where workers take from.
      local BATCH = 5000
      while true do
        local ids = redis.call("LRANGE", pausedKey, 0, BATCH - 1)
        if #ids == 0 then break end
        redis.call("RPUSH", waitKey, unpack(ids))
        redis.call("LTRIM", pausedKey, #ids, -1)
      end
    end
  end

  if redis.call("LLEN", waitKey) + redis.call("ZCARD", prioritizedKey) > 0 then
    redis.call("ZADD", markerKey, 0, "0")
  else
    local earliest = redis.call("ZRANGE", delayedKey, 0, 0, "WITHSCORES")
    if earliest[2] then
      redis.call("ZADD", markerKey, tonumber(earliest[2]) / 4096, "1")
    end
  end
end

redis.call("XADD", eventsKey, "*", "event", ARGV[1])
return 0
