--[[ drain: remove every job waiting to run: `wait`, `paused`, `prioritized` and, when
  asked, `delayed`, but not the pending run of a job scheduler (BullMQ's drain, called by
  Queue.drain(delayed)).
  KEYS  1 wait  2 paused  3 delayed  4 prioritized  5 repeat
  ARGV  1 key prefix  2 "1" to drain delayed jobs too  3 BullMQ major
  Returns 0. No event is written, as BullMQ writes none.

  As BullMQ does: each job's keys go, and its deduplication slot when the slot points at
  it. A child leaves its parent's dependencies; when it was the last one and the parent
  waits for children, a parent of this queue is deleted too (its own parent told in turn,
  and the slot named by the child's deduplication id freed, as BullMQ frees it), and a
  parent of another queue goes to the front of its `wait` without an event. A list is
  then cut by as many ids as were removed from its head: BullMQ's LTRIM, which leaves a
  scheduler's run in place only while such runs sit at the list's tail. ]]
local base, major = ARGV[1], tonumber(ARGV[3])

local schedulerRuns = {}
local schedulers = redis.call("ZRANGE", KEYS[5], 0, -1, "WITHSCORES")
for i = 1, #schedulers, 2 do
  schedulerRuns["repeat:" .. schedulers[i] .. ":" .. schedulers[i + 1]] = true
end

local function withoutSchedulerRuns(ids)
  local kept = {}
  for _, id in ipairs(ids) do
    if not schedulerRuns[id] then kept[#kept + 1] = id end
  end
  return kept
end

local function leaveParentForGood(jobKey)
  local named = redis.call("HMGET", jobKey, "parentKey", "deid")
  local parentKey, dedupId = named[1], named[2]
  if type(parentKey) ~= "string" or parentKey == "" then return end
  if redis.call("EXISTS", parentKey) == 0 then return end
  local deps = parentKey .. ":dependencies"
  if redis.call("SREM", deps, jobKey) == 0 or redis.call("SCARD", deps) > 0 then return end
  local parentId = string.match(parentKey, ".*:(.*)")
  local parentBase = string.sub(parentKey, 1, #parentKey - #parentId)
  if redis.call("ZREM", parentBase .. "waiting-children", parentId) ~= 1 then return end
  if parentBase == base then
    leaveParentForGood(parentKey)
    deleteJobKeys(parentKey)
    if dedupId then redis.call("DEL", parentBase .. "de:" .. dedupId) end
  else
    local q = queueAt(parentBase, major)
    pushReady(q, parentId, 0, "RPUSH")
    announce(q, q.pausedOrMaxed)
  end
end

local function removeAll(ids)
  for _, id in ipairs(ids) do
    local jobKey = base .. id
    leaveParentForGood(jobKey)
    local dedupId = redis.call("HGET", jobKey, "deid")
    if dedupId and redis.call("GET", base .. "de:" .. dedupId) == id then
      redis.call("DEL", base .. "de:" .. dedupId, base .. "dn:" .. dedupId)
    end
    deleteJobKeys(jobKey)
  end
end

local function drainList(key)
  local ids = withoutSchedulerRuns(redis.call("LRANGE", key, 0, -1))
  removeAll(ids)
  redis.call("LTRIM", key, #ids, -1)
end

local function drainZSet(key)
  local ids = withoutSchedulerRuns(redis.call("ZRANGE", key, 0, -1))
  removeAll(ids)
  -- In slices: unpack has a stack limit.
  for from = 1, #ids, 5000 do
    redis.call("ZREM", key, unpack(ids, from, math.min(from + 4999, #ids)))
  end
end

drainList(KEYS[1])
drainList(KEYS[2])
if ARGV[2] == "1" then drainZSet(KEYS[3]) end
drainZSet(KEYS[4])
return 0
