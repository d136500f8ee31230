--[[ add_plain_jobs: the common case of add_jobs, cheaper per job. It stores exactly what
  add_jobs stores (BullMQ's addStandardJob, addPrioritizedJob, addDelayedJob) for jobs
  without a parent whose deduplication, if any, is the plain or ttl mode; the caller sends
  each job's options already in the bytes cjson would give them (see src/cjson.rs) and the
  facts the script needs beside them, so that nothing is decoded or encoded here.
  KEYS  1 wait  2 paused  3 meta  4 id  5 delayed  6 prioritized  7 pc  8 marker
        9 events  10 active
  ARGV  1 key prefix ("<prefix>:<queue>:")  2 BullMQ major (5 or 6)
        then 10 values per job: custom id ("" = next counter value), name, timestamp ms,
        data JSON, opts JSON (final bytes), delay ms, priority, lifo ("1" or "0"),
        deduplication id ("" = none), deduplication ttl ms ("" = none)
  Returns the job ids in argument order, as add_jobs does.

  Why it is flat: Redis runs a script's body on every call, so each table and function
  made here is paid per add; the hot path makes none per job and sends numbers as the
  strings they arrive as. ]]

local q = {
  prefix = ARGV[1], major = tonumber(ARGV[2]),
  wait = KEYS[1], pausedList = KEYS[2], delayed = KEYS[5], prioritized = KEYS[6],
  priorityCounter = KEYS[7], marker = KEYS[8], events = KEYS[9],
  delayedTouched = false, readyAdded = false,
}
local context = readQueueContext(KEYS[3], KEYS[10])
q.maxEvents = context.maxEvents
q.paused = context.paused

local FIELDS_PER_JOB = 10
local jobCount = (#ARGV - 2) / FIELDS_PER_JOB
local lastCounter = redis.call("INCRBY", KEYS[4], jobCount)
-- Ready jobs go straight to `wait` unless BullMQ 5 keeps them in `paused`.
local readyList = (q.major == 5 and q.paused) and q.pausedList or q.wait

-- The job whose add this one becomes (a duplicate custom id, a deduplicated add), or nil.
local function existingOwner(at, jobId, isCustom)
  if isCustom and redis.call("EXISTS", q.prefix .. jobId) == 1 then
    emitEvent(q.events, q.maxEvents, "duplicated", "jobId", jobId)
    return jobId
  end
  local dedupId = ARGV[at + 9]
  if dedupId == "" then return nil end
  local slotKey = q.prefix .. "de:" .. dedupId
  local ownerId = claimOrOwner(slotKey, jobId, ARGV[at + 10] ~= "" and ARGV[at + 10] or nil)
  if not ownerId then return nil end
  local job = {
    id = jobId, name = ARGV[at + 2], timestamp = ARGV[at + 3], data = ARGV[at + 4],
    optsJson = ARGV[at + 5], delay = tonumber(ARGV[at + 6]),
  }
  return deduplicateAgainst(q, job, { id = dedupId, ttl = ARGV[at + 10] }, slotKey, ownerId)
end

local ids = {}
for index = 1, jobCount do
  local at = 2 + (index - 1) * FIELDS_PER_JOB
  local customId = ARGV[at + 1]
  local jobId = customId
  if customId == "" then jobId = tostring(lastCounter - jobCount + index) end

  local ownerId = existingOwner(at, jobId, customId ~= "")
  if ownerId then
    ids[index] = ownerId
  else
    local name, timestamp, delay, priority = ARGV[at + 2], ARGV[at + 3], ARGV[at + 6], ARGV[at + 7]
    local dedupId = ARGV[at + 9]
    if dedupId == "" then
      redis.call("HMSET", q.prefix .. jobId, "name", name, "data", ARGV[at + 4], "opts", ARGV[at + 5],
        "timestamp", timestamp, "delay", delay, "priority", priority)
    else
      redis.call("HMSET", q.prefix .. jobId, "name", name, "data", ARGV[at + 4], "opts", ARGV[at + 5],
        "timestamp", timestamp, "delay", delay, "priority", priority, "deid", dedupId)
    end
    emitEvent(q.events, nil, "added", "jobId", jobId, "name", name)

    if delay ~= "0" then
      scheduleDelayed(q.delayed, q.events, q.maxEvents, jobId, timestamp, tonumber(delay))
      q.delayedTouched = true
    else
      if priority ~= "0" then
        pushReady(q, jobId, tonumber(priority), "LPUSH")
      else
        redis.call(ARGV[at + 8] == "1" and "RPUSH" or "LPUSH", readyList, jobId)
        q.readyAdded = true
      end
      emitEvent(q.events, q.maxEvents, "waiting", "jobId", jobId)
    end
    ids[index] = jobId
  end
end

announce(q, context.pausedOrMaxed)
return ids
