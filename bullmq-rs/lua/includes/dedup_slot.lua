--[[ dedup_slot: the slot `<prefix>de:<id>` of BullMQ's deduplication, which holds the id
  of the job owning the deduplication window: claiming it, recovering a stale one and the
  events of a hit, shared by every mode (deduplicate.lua has the modes).
  Major 6 drops a stale slot (no TTL, owner gone) and lets the new job take it; major 5
  emits a `debounced` event beside every `deduplicated` one. ]]

local function slotTtl(de)
  local ttl = tonumber(de["ttl"]) or 0
  if ttl > 0 and not de["keepLastIfActive"] then return ttl end
  return nil
end

local function setSlot(slotKey, jobId, ttl)
  if ttl then
    redis.call("SET", slotKey, jobId, "PX", ttl)
  else
    redis.call("SET", slotKey, jobId)
  end
end

local function claimSlot(slotKey, jobId, de)
  setSlot(slotKey, jobId, slotTtl(de))
end

-- Claims a free slot for jobId (expiring after ttl ms, when given: see slotTtl) and
-- returns nil, or returns the owner of a taken one. Redis 7 does both in one
-- `SET NX GET`; older servers read first.
local SET_NX_GET = (redis.REDIS_VERSION_NUM or 0) >= 0x070000
local function claimOrOwner(slotKey, jobId, ttl)
  if not SET_NX_GET then
    local ownerId = redis.call("GET", slotKey)
    if not ownerId then setSlot(slotKey, jobId, ttl) end
    return ownerId or nil
  end
  if ttl then
    return redis.call("SET", slotKey, jobId, "NX", "PX", ttl, "GET") or nil
  end
  return redis.call("SET", slotKey, jobId, "NX", "GET") or nil
end

local function reportDeduplicated(q, survivorId, droppedId, dedupId)
  if q.major == 5 then
    emitEvent(q.events, q.maxEvents, "debounced", "jobId", survivorId, "debounceId", dedupId)
  end
  emitEvent(q.events, q.maxEvents, "deduplicated", "jobId", survivorId,
    "deduplicationId", dedupId, "deduplicatedJobId", droppedId)
end

-- Major 6: a slot without TTL whose owner no longer exists is left over from a lost
-- finish; it is reset for the incoming job instead of swallowing it forever.
local function recoverStaleSlot(q, slotKey, ownerId, jobId, de)
  if q.major ~= 6 then return false end
  if redis.call("PTTL", slotKey) ~= -1 or redis.call("EXISTS", q.prefix .. ownerId) == 1 then
    return false
  end
  redis.call("DEL", slotKey, q.prefix .. "dn:" .. de["id"])
  claimSlot(slotKey, jobId, de)
  return true
end
