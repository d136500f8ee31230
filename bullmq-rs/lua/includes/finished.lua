--[[ finished: what ending a job does beyond its own hash.
  releaseDedupSlot: a slot without TTL pointing at the job is freed (an expired one too);
  a slot with a TTL lives on until it expires, so late redeliveries are still recognised.
  createParkedDuplicate: a duplicate parked by keepLastIfActive (`dn:<id>`) becomes a real
  job now that the holder is done, and takes the slot.
  trimFinished: keep finished jobs by age (s) and/or count, removing at most `limit` by age. ]]

local function releaseDedupSlot(q, dedupId, jobId)
  local slotKey = q.prefix .. "de:" .. dedupId
  local ttl = redis.call("PTTL", slotKey)
  if ttl == 0 or (ttl == -1 and redis.call("GET", slotKey) == jobId) then
    redis.call("DEL", slotKey)
  end
end

local function createParkedDuplicate(q, dedupId, idKey, now)
  local parkedKey = q.prefix .. "dn:" .. dedupId
  local parked = redis.call("HMGET", parkedKey, "name", "data", "opts", "jid")
  if not parked[1] then return end
  local counter = redis.call("INCR", idKey)
  local opts = cjson.decode(parked[3])
  local job = {
    id = parked[4] or tostring(counter), name = parked[1], data = parked[2], timestamp = now,
    opts = opts, optsJson = parked[3],
    delay = tonumber(opts["delay"]) or 0, priority = tonumber(opts["priority"]) or 0,
  }
  claimSlot(q.prefix .. "de:" .. dedupId, job.id, opts["de"] or {})
  storeJob(q, job)
  enqueueNew(q, job)
  redis.call("DEL", parkedKey)
end

local function trimFinished(prefix, setKey, now, maxAgeSecs, keepCount, limit)
  if maxAgeSecs then
    local cutoff = now - maxAgeSecs * 1000
    local old = redis.call("ZREVRANGEBYSCORE", setKey, cutoff, "-inf", "LIMIT", 0, limit)
    for _, id in ipairs(old) do deleteJobKeys(prefix .. id) end
    if #old > 0 then redis.call("ZREM", setKey, unpack(old)) end
  end
  if keepCount and keepCount > 0 then
    local surplus = redis.call("ZREVRANGE", setKey, keepCount, -1)
    for _, id in ipairs(surplus) do deleteJobKeys(prefix .. id) end
    redis.call("ZREMRANGEBYRANK", setKey, 0, -(keepCount + 1))
  end
end
