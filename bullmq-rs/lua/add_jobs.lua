--[[ add_jobs: add a batch of jobs, each exactly as BullMQ's addStandardJob,
  addPrioritizedJob or addDelayedJob would (one call of those per job), in one script call.
  KEYS  1 wait  2 paused  3 meta  4 id  5 delayed  6 prioritized  7 pc  8 marker
        9 events  10 active
  ARGV  1 key prefix ("<prefix>:<queue>:")  2 BullMQ major (5 or 6)
        then 5 values per job: custom id ("" = next counter value), name, timestamp ms,
        data JSON, opts JSON (BullMQ's stored option names: de, kl, ...)
  Returns the job ids in argument order: the new job's id, or for a duplicate custom id or
  a deduplicated add the id of the job that already exists.

  Every job advances the `id` counter, whatever becomes of it, as BullMQ does. Queue facts
  (event cap, paused or maxed) and the marker are handled once per batch: nothing in the
  batch changes them, and the marker ends as BullMQ's per-job writes leave it. ]]

local q = {
  prefix = ARGV[1], major = tonumber(ARGV[2]),
  wait = KEYS[1], pausedList = KEYS[2], delayed = KEYS[5], prioritized = KEYS[6],
  priorityCounter = KEYS[7], marker = KEYS[8], events = KEYS[9],
  delayedTouched = false, readyAdded = false,
}
local context = readQueueContext(KEYS[3], KEYS[10])
q.maxEvents = context.maxEvents
q.paused = context.paused

local FIELDS_PER_JOB = 5
local jobCount = (#ARGV - 2) / FIELDS_PER_JOB
local lastCounter = redis.call("INCRBY", KEYS[4], jobCount)

-- Jobs of a batch often share their options: decode and re-encode each distinct text once.
local decodedOpts = {}
local function decodeOpts(optsJson)
  local decoded = decodedOpts[optsJson]
  if not decoded then
    local opts = cjson.decode(optsJson)
    decoded = { opts = opts, json = cjson.encode(opts) }
    decodedOpts[optsJson] = decoded
  end
  return decoded
end

local function addOne(index, customId, name, timestamp, data, optsJson)
  local decoded = decodeOpts(optsJson)
  local opts = decoded.opts
  local job = {
    name = name, timestamp = timestamp, data = data, opts = opts, optsJson = decoded.json,
    delay = tonumber(opts["delay"]) or 0, priority = tonumber(opts["priority"]) or 0,
  }

  if customId == "" then
    job.id = tostring(lastCounter - jobCount + index)
  else
    job.id = customId
    if redis.call("EXISTS", q.prefix .. customId) == 1 then
      emitEvent(q.events, q.maxEvents, "duplicated", "jobId", customId)
      return customId
    end
  end

  local de = opts["de"]
  if de and de["id"] then
    local ownerId = deduplicate(q, job, de)
    if ownerId then return ownerId end
  end

  storeJob(q, job)
  enqueueNew(q, job)
  return job.id
end

local ids = {}
for index = 1, jobCount do
  local base = 2 + (index - 1) * FIELDS_PER_JOB
  ids[index] = addOne(index, ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4], ARGV[base + 5])
end

announce(q, context.pausedOrMaxed)
return ids
