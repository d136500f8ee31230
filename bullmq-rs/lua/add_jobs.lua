--[[ add_jobs: add a batch of jobs, each exactly as BullMQ's addStandardJob,
  addPrioritizedJob or addDelayedJob would (one call of those per job), in one script call.
  KEYS  1 wait  2 paused  3 meta  4 id  5 delayed  6 prioritized  7 pc  8 marker
        9 events  10 active
  ARGV  1 key prefix ("<prefix>:<queue>:")  2 BullMQ major (5 or 6)
        then 5 values per job: custom id ("" = next counter value), name, timestamp ms,
        data JSON, opts JSON (BullMQ's stored option names: de, kl, ...)
  Returns the job ids in argument order: the new job's id, or for a duplicate custom id or
  a deduplicated add the id of the job that already exists. A job naming a parent
  (opts.parent {id, queue}) becomes its pending dependency (see parent.lua); when a parent
  is missing (-5) or a custom id already belongs to another parent (-7) the whole batch is
  refused with that code and nothing is written.

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

local jobs = {}
local created = {}
for index = 1, jobCount do
  local base = 2 + (index - 1) * FIELDS_PER_JOB
  local decoded = decodeOpts(ARGV[base + 5])
  local opts = decoded.opts
  local job = {
    customId = ARGV[base + 1], name = ARGV[base + 2], timestamp = ARGV[base + 3],
    data = ARGV[base + 4], opts = opts, optsJson = decoded.json,
    delay = tonumber(opts["delay"]) or 0, priority = tonumber(opts["priority"]) or 0,
  }
  parentFieldsOf(job)
  if job.customId ~= "" then
    local refusal = parentRefusal(q.prefix .. job.customId, job, q.major, created)
    if refusal then return refusal end
    created[q.prefix .. job.customId] = true
  elseif job.parentKey and not created[job.parentKey]
    and redis.call("EXISTS", job.parentKey) == 0 then
    return -5
  end
  jobs[index] = job
end
local lastCounter = redis.call("INCRBY", KEYS[4], jobCount)

local function addOne(index, job)
  if job.customId == "" then
    job.id = tostring(lastCounter - jobCount + index)
  else
    job.id = job.customId
    local jobKey = q.prefix .. job.id
    if redis.call("EXISTS", jobKey) == 1 then
      adoptExisting(q, jobKey, job, job.timestamp, false)
      emitEvent(q.events, q.maxEvents, "duplicated", "jobId", job.id)
      return job.id
    end
  end

  local de = job.opts["de"]
  if de and de["id"] then
    local ownerId = deduplicate(q, job, de)
    if ownerId then return ownerId end
  end

  storeJob(q, job)
  enqueueNew(q, job)
  if job.parentKey then
    redis.call("SADD", job.parentKey .. ":dependencies", q.prefix .. job.id)
  end
  return job.id
end

local ids = {}
for index = 1, jobCount do
  ids[index] = addOne(index, jobs[index])
end

announce(q, context.pausedOrMaxed)
return ids
