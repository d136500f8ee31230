--[[ fetch_job: hand the next ready job to a worker, as BullMQ's moveToActive does; used
  by move_to_active and, to take the next job in the same call, by move_to_finished.
  `fetch` = { now (ms, as text), token ("0" = no lock), lockMs, limitMax (worker limiter, or nil),
  limitMs, workerName ("" = none) }; `q` carries the queue's keys, `context` its state.
  Returns { job hash as a flat array, job id, 0, 0 } for a job;
          { 0, 0, ms until the rate limit resets, 0 } while rate limited;
          { 0, 0, 0, 0 } while the queue is paused or at its global concurrency;
          { 0, 0, 0, next delayed due time in ms } when only delayed jobs are left;
          nil when there is nothing at all.
  Due delayed jobs are promoted first. A paused queue, or one at its global concurrency,
  hands out nothing. After a fetch the marker is set again so that the next idle worker
  wakes up too. A caller that fetches several jobs in one call keeps in `q.promotedUpTo`
  the latest time jobs were promoted for (a fetch at that time or earlier has nothing left
  to promote), and sets `q.markerOwed` (false) to set the marker itself, once, at its end:
  nothing between removes it, so the state it leaves is the same. ]]
local function fetchJob(q, context, fetch)
  local now = tonumber(fetch.now)
  if not q.promotedUpTo or now > q.promotedUpTo then
    promoteDueJobs(q, now)
    announce(q, context.pausedOrMaxed)
    q.promotedUpTo = now
  end

  -- The queue's global limit wins over the worker's max; the worker's duration wins.
  local maxJobs = context.rateMax or fetch.limitMax
  local limitDuration = fetch.limitMs or context.rateDuration
  if maxJobs and maxJobs <= (tonumber(redis.call("GET", q.limiter)) or 0) then
    local ttl = redis.call("PTTL", q.limiter)
    if ttl == 0 then redis.call("DEL", q.limiter) end
    if ttl > 0 then return { 0, 0, ttl, 0 } end
  end
  if context.pausedOrMaxed then return { 0, 0, 0, 0 } end

  local jobId = redis.call("RPOPLPUSH", q.wait, q.active)
  -- Ids starting with "0:" are markers of BullMQ 4 and older: never jobs.
  while jobId and string.sub(jobId, 1, 2) == "0:" do
    redis.call("LREM", q.active, 1, jobId)
    jobId = redis.call("RPOPLPUSH", q.wait, q.active)
  end
  if not jobId then
    local popped = redis.call("ZPOPMIN", q.prioritized)
    if popped[1] then
      jobId = popped[1]
      redis.call("LPUSH", q.active, jobId)
    else
      redis.call("DEL", q.priorityCounter)
    end
  end

  if not jobId then
    local earliest = redis.call("ZRANGE", q.delayed, 0, 0, "WITHSCORES")
    if earliest[2] then return { 0, 0, 0, math.floor(tonumber(earliest[2]) / 4096) } end
    return nil
  end

  local jobKey = q.prefix .. jobId
  -- Major 6 does not count a job that will fail at once (deferred failure) against the limit.
  if maxJobs and (q.major == 5 or redis.call("HEXISTS", jobKey, "defa") == 0) then
    if redis.call("INCR", q.limiter) == 1 then
      redis.call("PEXPIRE", q.limiter, math.floor(math.abs(limitDuration or 0)))
    end
  end
  if fetch.token ~= "0" then
    redis.call("SET", jobKey .. ":lock", fetch.token, "PX", fetch.lockMs)
  end
  emitEvent(q.events, nil, "active", "jobId", jobId, "prev", "waiting")
  if fetch.workerName ~= "" then
    redis.call("HSET", jobKey, "processedOn", fetch.now, "pb", fetch.workerName)
  else
    redis.call("HSET", jobKey, "processedOn", fetch.now)
  end
  redis.call("HINCRBY", jobKey, "ats", "1")
  if q.markerOwed == nil then
    redis.call("ZADD", q.marker, "0", "0")
  else
    q.markerOwed = true
  end
  return { redis.call("HGETALL", jobKey), jobId, 0, 0 }
end
