--[[ parent: the bookkeeping between a child job and its parent (BullMQ's flows).
  A parent waits in `waiting-children` while `<parent>:dependencies` holds the full keys
  of its pending children. A child's `parent` field is JSON {id, queueKey[, fpof|cpof|idof|
  rdof]}; the parent may live in another queue, so its keys are built here from its queue
  key (on a cluster every queue of a flow shares one hash tag).
  Finishing a child, as BullMQ does:
    completed: leaves `dependencies`, its return value goes to `<parent>:processed`, and the
      parent is released when no dependency is left;
    failed with fpof: goes to `<parent>:unsuccessful`, the parent gets the deferred failure
      `defa` = "child <key> failed" and is released, so that the next worker fails it (and
      its own parent in turn, when that one asked for it);
    failed with cpof: goes to `<parent>:failed` and the parent is released at once;
    failed with idof: goes to `<parent>:failed`; with rdof: is just dropped; either way the
      parent is released when no dependency is left.
  Releasing puts the parent in `delayed` (its `delay`, counted from now, no same-ms
  sequence), `prioritized` or in front of `wait`, with a marker unless its queue is paused
  or at its global concurrency; BullMQ 5 uses the `paused` list of a paused queue. ]]

-- A queue reached through a job key or a parent's queue key: its keys and whether it may
-- announce jobs now.
local function queueAt(base, major)
  local q = {
    prefix = base, major = major, wait = base .. "wait", pausedList = base .. "paused",
    delayed = base .. "delayed", prioritized = base .. "prioritized",
    priorityCounter = base .. "pc", marker = base .. "marker", events = base .. "events",
    readyAdded = false, delayedTouched = false,
  }
  local state = redis.call("HMGET", base .. "meta", "paused", "concurrency")
  q.paused = state[1] ~= false
  q.pausedOrMaxed = q.paused
  if not q.paused and state[2] then
    q.pausedOrMaxed = redis.call("LLEN", base .. "active") >= tonumber(state[2])
  end
  return q
end

-- {id, base, key, deps} of the parent named by a child's `parent` JSON.
local function parentOf(parentJson)
  local parent = cjson.decode(parentJson)
  local base = parent["queueKey"] .. ":"
  local key = base .. parent["id"]
  return { id = parent["id"], base = base, key = key, deps = key .. ":dependencies", flags = parent }
end

local function releaseParent(parent, now, major)
  local q = queueAt(parent.base, major)
  local fields = redis.call("HMGET", parent.key, "priority", "delay")
  local priority, delay = tonumber(fields[1]) or 0, tonumber(fields[2]) or 0
  if delay > 0 then
    local due = tonumber(now) + delay
    redis.call("ZADD", q.delayed, due * 4096, parent.id)
    emitEvent(q.events, nil, "delayed", "jobId", parent.id, "delay", due)
    refreshDelayMarker(q.marker, q.delayed)
    return
  end
  pushReady(q, parent.id, priority, "RPUSH")
  emitEvent(q.events, nil, "waiting", "jobId", parent.id, "prev", "waiting-children")
  announce(q, q.pausedOrMaxed)
end

-- Out of `waiting-children`, when the parent still exists and still waits there.
local function releaseParentIfWaiting(parent, now, major)
  if redis.call("EXISTS", parent.key) == 1
    and redis.call("ZREM", parent.base .. "waiting-children", parent.id) == 1 then
    releaseParent(parent, now, major)
  end
end

local function releaseParentIfDone(parent, now, major)
  if redis.call("SCARD", parent.deps) == 0 then
    releaseParentIfWaiting(parent, now, major)
  end
end

local function childCompleted(childKey, parentJson, returnValue, now, major)
  local parent = parentOf(parentJson)
  if redis.call("SREM", parent.deps, childKey) == 1 then
    redis.call("HSET", parent.key .. ":processed", childKey, returnValue)
    releaseParentIfDone(parent, now, major)
  end
end

-- fpof: the parent fails when a worker next takes it. A parent still waiting (for its
-- children, or delayed) is released now; one already running or done keeps its state.
local function failParent(parent, childKey, now, major)
  if redis.call("EXISTS", parent.key) == 0 then return end
  local reason = "child " .. childKey .. " failed"
  local from = nil
  if redis.call("ZSCORE", parent.base .. "waiting-children", parent.id) then
    from = parent.base .. "waiting-children"
  elseif redis.call("ZSCORE", parent.base .. "delayed", parent.id) then
    from = parent.base .. "delayed"
    redis.call("HSET", parent.key, "delay", 0)
  end
  if from then
    redis.call("ZREM", from, parent.id)
    redis.call("HSET", parent.key, "defa", reason)
    releaseParent(parent, now, major)
  elseif not redis.call("ZSCORE", parent.base .. "failed", parent.id) then
    redis.call("HSET", parent.key, "defa", reason)
  end
end

local function childFailed(childKey, parentJson, reason, now, major)
  local parent = parentOf(parentJson)
  local flags = parent.flags
  if not (flags["fpof"] or flags["cpof"] or flags["idof"] or flags["rdof"]) then return end
  if redis.call("SREM", parent.deps, childKey) == 0 then return end
  if flags["fpof"] then
    redis.call("ZADD", parent.key .. ":unsuccessful", now, childKey)
    failParent(parent, childKey, now, major)
  elseif flags["cpof"] then
    redis.call("HSET", parent.key .. ":failed", childKey, reason)
    releaseParentIfWaiting(parent, now, major)
  else
    releaseParentIfDone(parent, now, major)
    if flags["idof"] then
      redis.call("HSET", parent.key .. ":failed", childKey, reason)
    end
  end
end

-- A finished child removed at once (removeOn* true) that its parent still counts (a
-- failure without a parent option): it leaves `dependencies`, and the last one puts the
-- parent in front of `wait` whatever its delay or priority, as BullMQ does.
local function dropRemovedChild(childKey, parentKey, major)
  local deps = parentKey .. ":dependencies"
  if redis.call("SREM", deps, childKey) == 0 or redis.call("SCARD", deps) > 0 then return end
  local parentId = string.match(parentKey, ".*:(.*)")
  local base = string.sub(parentKey, 1, #parentKey - #parentId)
  if redis.call("ZREM", base .. "waiting-children", parentId) == 1 then
    local q = queueAt(base, major)
    pushReady(q, parentId, 0, "RPUSH")
    emitEvent(q.events, nil, "waiting", "jobId", parentId, "prev", "waiting-children")
    announce(q, q.pausedOrMaxed)
  end
end

-- At add time: the parent a new job names in opts.parent {id, queue}, as the job's
-- `parentKey` and `parent` fields (the flag of the parent option the job carries).
local function parentFieldsOf(job)
  local named = job.opts["parent"]
  if not named then return end
  local parent = {}
  parent["id"] = named["id"]
  parent["queueKey"] = named["queue"]
  for _, flag in ipairs({ "fpof", "rdof", "idof", "cpof" }) do
    if job.opts[flag] then
      parent[flag] = true
      break
    end
  end
  job.parentKey = named["queue"] .. ":" .. named["id"]
  job.parentJson = cjson.encode(parent)
end

-- The refusal an add of `job` meets, checked before anything is written: -5 when its
-- parent does not exist (and is not `created` earlier in the same call), -7 when the id
-- exists already with another living parent (major 5: any other parent).
local function parentRefusal(jobKey, job, major, created)
  if not job.parentKey then return nil end
  if not created[job.parentKey] and redis.call("EXISTS", job.parentKey) == 0 then return -5 end
  local existing = redis.call("HGET", jobKey, "parentKey")
  if existing and existing ~= job.parentKey
    and (major == 5 or redis.call("EXISTS", existing) == 1) then
    return -7
  end
  return nil
end

-- A custom id that exists already, added again with a parent: the existing job becomes
-- that parent's child. Already completed, its return value counts as processed (and,
-- unless `defer`, the parent is released when nothing else is pending); else it is a
-- pending dependency.
local function adoptExisting(q, jobKey, job, now, defer)
  if not job.parentKey then return end
  local parent = parentOf(job.parentJson)
  if redis.call("ZSCORE", q.prefix .. "completed", job.id) then
    redis.call("HSET", parent.key .. ":processed", jobKey, redis.call("HGET", jobKey, "returnvalue"))
    if not defer then releaseParentIfDone(parent, now, q.major) end
  else
    redis.call("SADD", parent.deps, jobKey)
  end
  redis.call("HMSET", jobKey, "parentKey", job.parentKey, "parent", job.parentJson)
end
