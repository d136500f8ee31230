--[[ add_plain_jobs: the common case of add_jobs at a lower cost per job. For jobs that are
  ready at once (no delay, no priority), have no parent and whose deduplication, if any,
  is the plain or ttl mode, it stores exactly what add_jobs stores (BullMQ's
  addStandardJob): the caller sends each job's options already in the bytes cjson gives
  them (see src/cjson.rs) and the facts the script would otherwise decode them for, so
  nothing is decoded or encoded here.
  KEYS  1 wait  2 paused  3 meta  4 id  5 delayed  6 prioritized  7 pc  8 marker
        9 events  10 active
  ARGV  1 key prefix ("<prefix>:<queue>:")  2 BullMQ major (5 or 6)
        then 8 values per job: custom id ("" = next counter value), name, timestamp ms,
        data JSON, opts JSON (final bytes), lifo ("1" or "0"), deduplication id
        ("" = none) and its ttl in ms ("" = none)
  Returns the job ids in argument order, as add_jobs does.

  Why it is flat: Redis runs a script's whole body on every call, so every table and
  function made here is paid per add; the hot path makes none per job, and the queue
  facts are those add_jobs reads (queue_context.lua). ]]

local prefix, major = ARGV[1], tonumber(ARGV[2])
local eventsKey = KEYS[9]
local context = readQueueContext(KEYS[3], KEYS[10])
-- BullMQ 5 keeps the ready jobs of a paused queue in `paused`.
local readyList = (major == 5 and context.paused) and KEYS[2] or KEYS[1]

local FIELDS_PER_JOB = 8
local jobCount = (#ARGV - 2) / FIELDS_PER_JOB
local lastCounter = redis.call("INCRBY", KEYS[4], jobCount)

-- A deduplicated add whose slot is taken: the owner's id, or nil when the slot was stale
-- and is now this job's (dedup_slot.lua).
local function afterSlotHit(slotKey, ownerId, jobId, dedupId, ttl)
  local q = { prefix = prefix, major = major, events = eventsKey, maxEvents = context.maxEvents }
  if recoverStaleSlot(q, slotKey, ownerId, jobId, { id = dedupId, ttl = ttl }) then return nil end
  reportDeduplicated(q, ownerId, jobId, dedupId)
  return ownerId
end

local ids = {}
local readyAdded = false
for index = 1, jobCount do
  local at = 2 + (index - 1) * FIELDS_PER_JOB
  local jobId = ARGV[at + 1]
  local ownerId
  if jobId == "" then
    jobId = tostring(lastCounter - jobCount + index)
  elseif redis.call("EXISTS", prefix .. jobId) == 1 then
    emitEvent(eventsKey, context.maxEvents, "duplicated", "jobId", jobId)
    ownerId = jobId
  end

  local dedupId = ARGV[at + 7]
  if not ownerId and dedupId ~= "" then
    local ttl = ARGV[at + 8]
    if ttl == "" then ttl = nil end
    local slotKey = prefix .. "de:" .. dedupId
    ownerId = claimOrOwner(slotKey, jobId, ttl)
    if ownerId then ownerId = afterSlotHit(slotKey, ownerId, jobId, dedupId, ttl) end
  end

  if ownerId then
    ids[index] = ownerId
  else
    local name = ARGV[at + 2]
    if dedupId == "" then
      redis.call("HMSET", prefix .. jobId, "name", name, "data", ARGV[at + 4], "opts", ARGV[at + 5],
        "timestamp", ARGV[at + 3], "delay", "0", "priority", "0")
    else
      redis.call("HMSET", prefix .. jobId, "name", name, "data", ARGV[at + 4], "opts", ARGV[at + 5],
        "timestamp", ARGV[at + 3], "delay", "0", "priority", "0", "deid", dedupId)
    end
    emitEvent(eventsKey, nil, "added", "jobId", jobId, "name", name)
    redis.call(ARGV[at + 6] == "1" and "RPUSH" or "LPUSH", readyList, jobId)
    emitEvent(eventsKey, context.maxEvents, "waiting", "jobId", jobId)
    readyAdded = true
    ids[index] = jobId
  end
end

-- The marker as announce (ready.lua) leaves it after ready jobs.
if readyAdded and not context.pausedOrMaxed then
  redis.call("ZADD", KEYS[8], 0, "0")
end
return ids
