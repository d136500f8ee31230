--[[ get_rate_limit_ttl: how long the rate limit still holds (BullMQ's getRateLimitTtl).
  KEYS  1 limiter  2 meta
  ARGV  1 max jobs per window, "0" for the queue's global max (meta `max`)
  Returns, when a max applies: the limiter's PTTL if at least max jobs were taken in its
  window, else 0 (a window expiring right now is deleted). With no max anywhere: the
  limiter's plain PTTL (-2 no limiter, -1 no expiry) ]]
local limiter = KEYS[1]
local maxJobs
if ARGV[1] ~= "0" then
  maxJobs = tonumber(ARGV[1])
else
  local globalMax = redis.call("HGET", KEYS[2], "max")
  if not globalMax then
    return redis.call("PTTL", limiter)
  end
  maxJobs = tonumber(globalMax)
end
local taken = tonumber(redis.call("GET", limiter) or 0)
if not maxJobs or maxJobs > taken then
  return 0
end
local ttl = redis.call("PTTL", limiter)
if ttl == 0 then
  redis.call("DEL", limiter)
end
if ttl > 0 then
  return ttl
end
return 0
