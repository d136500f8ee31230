--[[ metrics: the per-minute counts of finished jobs that a worker with BullMQ's `metrics`
  option keeps, read by Queue.getMetrics.
  Hash <key>: count (jobs ever counted), prevTS (ms when a data point was last written),
  prevCount (count at that time). List <key>:data: one number per minute, newest first,
  at most maxPoints: the jobs counted during the minute that ended, then 0 for each
  minute without a job. ]]
local function recordMetrics(key, maxPoints, now)
  local before = redis.call("HINCRBY", key, "count", 1) - 1
  local lastTs = redis.call("HGET", key, "prevTS")
  if not lastTs then
    redis.call("HSET", key, "prevTS", now, "prevCount", 0)
    return
  end
  local minutes = math.min(math.floor(now / 60000) - math.floor(tonumber(lastTs) / 60000), maxPoints)
  if minutes <= 0 then return end
  local dataKey = key .. ":data"
  local prevCount = tonumber(redis.call("HGET", key, "prevCount")) or 0
  redis.call("LPUSH", dataKey, before - prevCount)
  local idle = minutes - 1
  while idle > 0 do
    local chunk = {}
    for i = 1, math.min(idle, 1000) do chunk[i] = 0 end
    redis.call("LPUSH", dataKey, unpack(chunk))
    idle = idle - #chunk
  end
  redis.call("LTRIM", dataKey, 0, maxPoints - 1)
  redis.call("HSET", key, "prevCount", before, "prevTS", now)
end
