--[[ deduplicate: BullMQ's deduplication (`opts.de`) for one incoming job.
  The slot `<prefix>de:<id>` holds the id of the job that owns the deduplication window.
  Returns the owner's id when the incoming job must not be stored (the caller then
  answers with that id), or nil when the incoming job goes ahead and now owns the slot.

  Modes, as BullMQ defines them:
    simple            slot without TTL, freed when the owner finishes
    ttl               slot expires after ttl ms
    ttl + extend      a hit re-arms the TTL, still pointing at the owner
    replace           a hit on a still-delayed owner deletes it and the new job takes over
    keepLastIfActive  a hit on an active owner parks the new job in `dn:<id>`, to be
                      created when the owner finishes
    reschedule (6)    a hit on a delayed owner moves its due time to now + new delay
  The slot itself (claiming it, a stale one, the events of a hit) is dedup_slot.lua. ]]

-- keepLastIfActive: while the owner runs, the newest duplicate waits in `dn:<id>`.
local function parkBehindActiveOwner(q, ownerId, job, de)
  if not de["keepLastIfActive"] then return false end
  if not redis.call("LPOS", q.prefix .. "active", ownerId) then return false end

  local nextKey = q.prefix .. "dn:" .. de["id"]
  redis.call("DEL", nextKey)
  redis.call("HSET", nextKey, "name", job.name, "data", job.data, "opts", job.optsJson, "jid", job.id)
  redis.call("PERSIST", q.prefix .. "de:" .. de["id"])
  reportDeduplicated(q, ownerId, job.id, de["id"])
  return true
end

local function replaceDelayedOwner(q, slotKey, ownerId, job, de)
  if redis.call("ZREM", q.delayed, ownerId) == 0 then return false end

  deleteJobKeys(q.prefix .. ownerId)
  emitEvent(q.events, nil, "removed", "jobId", ownerId, "prev", "delayed")
  reportDeduplicated(q, job.id, ownerId, de["id"])
  if q.major == 6 then
    redis.call("DEL", q.prefix .. "dn:" .. de["id"])
  end

  local ttl = tonumber(de["ttl"]) or 0
  if not de["keepLastIfActive"] and not de["extend"] and ttl > 0 then
    redis.call("SET", slotKey, job.id, "KEEPTTL")
  else
    claimSlot(slotKey, job.id, de)
  end
  return true
end

-- The slot is taken by ownerId: what becomes of the incoming job (see deduplicate).
local function deduplicateAgainst(q, job, de, slotKey, ownerId)
  if de["replace"] then
    if replaceDelayedOwner(q, slotKey, ownerId, job, de) then return nil end
    if recoverStaleSlot(q, slotKey, ownerId, job.id, de) then return nil end
    parkBehindActiveOwner(q, ownerId, job, de)
    return ownerId
  end

  if recoverStaleSlot(q, slotKey, ownerId, job.id, de) then return nil end
  if parkBehindActiveOwner(q, ownerId, job, de) then return ownerId end

  if de["extend"] and (tonumber(de["ttl"]) or 0) > 0 then
    claimSlot(slotKey, ownerId, de)
  end
  reportDeduplicated(q, ownerId, job.id, de["id"])

  if q.major == 6 and de["reschedule"] and redis.call("ZSCORE", q.delayed, ownerId) then
    redis.call("HSET", q.prefix .. ownerId, "delay", job.delay)
    scheduleDelayed(q.delayed, q.events, q.maxEvents, ownerId, job.timestamp, job.delay)
    q.delayedTouched = true
  end
  return ownerId
end

local function deduplicate(q, job, de)
  local slotKey = q.prefix .. "de:" .. de["id"]
  local ownerId = claimOrOwner(slotKey, job.id, slotTtl(de))
  if not ownerId then return nil end
  return deduplicateAgainst(q, job, de, slotKey, ownerId)
end
