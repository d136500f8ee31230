--[[ remove_job: remove one job, and unless asked not to its children, from whatever state
  it is in, with all its keys (BullMQ's removeJob, called by Queue.remove / Job.remove).
  KEYS  1 job  2 repeat
  ARGV  1 job id  2 "1" to remove the children too  3 key prefix  4 BullMQ major
  Returns 1 removed, -1 no such job (nothing was left to remove), 0 refused because the job
  (or, with children, one of its pending children) holds a lock, -8 refused because the
  job is the pending run of a job scheduler.

  As BullMQ does, for the job and each child, depth first:
    it leaves its parent's `dependencies`; when it was the last one, a parent still in
      `waiting-children` goes to the front of `wait` (BullMQ 5: of `paused` when the
      queue is paused), whatever its delay or priority, with `waiting prev
      waiting-children` and a marker unless that queue is paused or maxed;
    its children go next: processed, failed, unsuccessful, then pending ones;
    it leaves the first state found (completed, waiting-children, delayed, failed,
      prioritized, wait, paused, active), its deduplication slot when the slot points at
      it, and its keys; `removed jobId prev <state>` goes to its own queue's events when
      any key of it existed. ]]
local jobKey, repeatKey = KEYS[1], KEYS[2]
local jobId, withChildren, prefix, major = ARGV[1], ARGV[2] == "1", ARGV[3], tonumber(ARGV[4])

local function idAndBase(key)
  local id = string.match(key, ".*:(.*)")
  return id, string.sub(key, 1, #key - #id)
end

local function isSchedulerRun()
  local schedulerId = redis.call("HGET", jobKey, "rjk")
  if not schedulerId then return false end
  local nextRun = redis.call("ZSCORE", repeatKey, schedulerId)
  return nextRun and jobId == "repeat:" .. schedulerId .. ":" .. nextRun
end

-- A lock on the job, or with children on any pending child, down the tree.
local function isLocked(key)
  if redis.call("EXISTS", key .. ":lock") == 1 then return true end
  if not withChildren then return false end
  for _, childKey in ipairs(redis.call("SMEMBERS", key .. ":dependencies")) do
    if isLocked(childKey) then return true end
  end
  return false
end

local function leaveParent(key, parentKey)
  if parentKey then
    dropRemovedChild(key, parentKey, major)
    return
  end
  local named = redis.call("HGET", key, "parentKey")
  if type(named) == "string" and named ~= "" and redis.call("EXISTS", named) == 1 then
    dropRemovedChild(key, named, major)
  end
end

local function leaveState(base, id)
  for _, set in ipairs({ "completed", "waiting-children", "delayed", "failed", "prioritized" }) do
    if redis.call("ZREM", base .. set, id) == 1 then return set end
  end
  for _, list in ipairs({ "wait", "paused", "active" }) do
    if redis.call("LREM", base .. list, 1, id) == 1 then return list end
  end
  return "unknown"
end

local removeTree

local function removeChildren(key)
  local children = {}
  local processed = redis.call("HGETALL", key .. ":processed")
  for i = 1, #processed, 2 do children[#children + 1] = processed[i] end
  local failed = redis.call("HGETALL", key .. ":failed")
  for i = 1, #failed, 2 do children[#children + 1] = failed[i] end
  for _, childKey in ipairs(redis.call("ZRANGE", key .. ":unsuccessful", 0, -1)) do
    children[#children + 1] = childKey
  end
  for _, childKey in ipairs(children) do removeTree(childKey, key) end
  for _, childKey in ipairs(redis.call("SMEMBERS", key .. ":dependencies")) do
    removeTree(childKey, key)
  end
end

-- Returns whether any key of the job existed.
removeTree = function(key, parentKey)
  local id, base = idAndBase(key)
  leaveParent(key, parentKey)
  if withChildren then removeChildren(key) end
  local state = leaveState(base, id)
  local dedupId = redis.call("HGET", key, "deid")
  if dedupId and redis.call("GET", base .. "de:" .. dedupId) == id then
    redis.call("DEL", base .. "de:" .. dedupId, base .. "dn:" .. dedupId)
  end
  if deleteJobKeys(key) == 0 then return false end
  emitEvent(base .. "events", maxEventsOf(base .. "meta"), "removed", "jobId", id, "prev", state)
  return true
end

if isSchedulerRun() then return -8 end
if isLocked(jobKey) then return 0 end
if removeTree(jobKey, nil) then return 1 end
return -1
