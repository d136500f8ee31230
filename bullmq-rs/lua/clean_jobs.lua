--[[ clean_jobs: remove the jobs of one state that are older than a cutoff, at most a
  given number, and say how many went in one `cleaned` event (BullMQ's cleanJobsInSet).
  KEYS  1 the state's list or zset  2 events  3 repeat  4 waiting-children
  ARGV  1 key prefix  2 cutoff ms (now - grace)  3 most jobs to remove, 0 = no limit
        4 the state's key suffix: wait, paused, active, delayed, prioritized, completed,
          failed or waiting-children
  Returns the removed ids, in the order they were found.

  Which jobs are old, as BullMQ decides it:
    wait, paused, active   the first of finishedOn, processedOn, timestamp that is set;
                           only the `limit` entries at the tail (the oldest) are looked at;
                           an active job still holding its lock stays
    delayed                processedOn, else timestamp
    prioritized            timestamp
    completed, failed,     the zset score (finishedOn, or the time it started waiting)
    waiting-children
  A job without any of those fields counts as old. The current run of a job scheduler
  (`repeat:<scheduler>:<next ms>`) stays in the lists, delayed and prioritized.
  Removing a job deletes all its keys, the deduplication slot (and its parked `dn:` job)
  when the slot points at it, and its entry in a parent's dependencies; a parent of the
  same queue left with no dependency is removed too. A parent in another queue is left as
  it is: this crate adds no flows, and that queue's keys are not in KEYS. ]]
local stateKey, eventsKey, repeatKey, waitingChildrenKey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local prefix, cutoff, limit, state = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]

local removed = {}

local function limitReached()
  return limit > 0 and #removed >= limit
end

local function isSchedulerRun(jobId, jobKey)
  local schedulerId = redis.call("HGET", jobKey, "rjk")
  if not schedulerId then return false end
  local nextRun = redis.call("ZSCORE", repeatKey, schedulerId)
  return nextRun and jobId == "repeat:" .. schedulerId .. ":" .. nextRun
end

local function isOld(jobKey, fields)
  for _, value in ipairs(redis.call("HMGET", jobKey, unpack(fields))) do
    -- A value that is not a number never counts as old (BullMQ compares the strings).
    if value then return (tonumber(value) or math.huge) <= cutoff end
  end
  return true
end

-- The child leaves its parent's dependencies first (BullMQ's order, which also means a
-- removed same-queue parent takes the child's deduplication slot with it).
local function leaveParent(jobKey)
  local parent = redis.call("HMGET", jobKey, "parentKey", "deid")
  local parentKey, dedupId = parent[1], parent[2]
  if not parentKey or string.sub(parentKey, 1, #prefix) ~= prefix then return end
  local parentId = string.sub(parentKey, #prefix + 1)
  if parentId == "" or string.find(parentId, ":", 1, true) then return end
  if redis.call("EXISTS", parentKey) == 0 then return end
  local dependencies = parentKey .. ":dependencies"
  if redis.call("SREM", dependencies, jobKey) == 0 or redis.call("SCARD", dependencies) > 0 then
    return
  end
  if redis.call("ZREM", waitingChildrenKey, parentId) == 1 then
    leaveParent(parentKey)
    deleteJobKeys(parentKey)
    if dedupId then redis.call("DEL", prefix .. "de:" .. dedupId) end
  end
end

local function removeJob(jobId)
  local jobKey = prefix .. jobId
  leaveParent(jobKey)
  local dedupId = redis.call("HGET", jobKey, "deid")
  if dedupId and redis.call("GET", prefix .. "de:" .. dedupId) == jobId then
    redis.call("DEL", prefix .. "de:" .. dedupId, prefix .. "dn:" .. dedupId)
  end
  deleteJobKeys(jobKey)
  removed[#removed + 1] = jobId
end

local function cleanList(skipLocked)
  -- The oldest jobs sit at the tail (adds LPUSH).
  local ids = redis.call("LRANGE", stateKey, limit > 0 and -limit or 0, -1)
  for i, jobId in ipairs(ids) do
    if limitReached() then break end
    local jobKey = prefix .. jobId
    if not (skipLocked and redis.call("EXISTS", jobKey .. ":lock") == 1)
      and not isSchedulerRun(jobId, jobKey)
      and isOld(jobKey, { "finishedOn", "processedOn", "timestamp" }) then
      -- Blank the entry and drop every blank at the end, so positions hold meanwhile.
      redis.call("LSET", stateKey, i - 1 - #ids, "")
      removeJob(jobId)
    end
  end
  redis.call("LREM", stateKey, 0, "")
end

local function cleanSet(maxScore, fields)
  local ids
  if limit > 0 then
    ids = redis.call("ZRANGEBYSCORE", stateKey, 0, maxScore, "LIMIT", 0, limit)
  else
    ids = redis.call("ZRANGEBYSCORE", stateKey, 0, maxScore)
  end
  for _, jobId in ipairs(ids) do
    if limitReached() then break end
    local jobKey = prefix .. jobId
    if not fields then
      removeJob(jobId)
    elseif not isSchedulerRun(jobId, jobKey) and isOld(jobKey, fields) then
      removeJob(jobId)
    end
  end
  -- ZREM in slices: unpack has a stack limit.
  for from = 1, #removed, 5000 do
    redis.call("ZREM", stateKey, unpack(removed, from, math.min(from + 4999, #removed)))
  end
end

if state == "wait" or state == "paused" then
  cleanList(false)
elseif state == "active" then
  cleanList(true)
elseif state == "delayed" then
  cleanSet("+inf", { "processedOn", "timestamp" })
elseif state == "prioritized" then
  cleanSet("+inf", { "timestamp" })
else
  cleanSet(ARGV[2], nil)
end

redis.call("XADD", eventsKey, "*", "event", "cleaned", "count", #removed)
return removed
