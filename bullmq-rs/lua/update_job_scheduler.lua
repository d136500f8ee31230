--[[ update_job_scheduler: add the next run of a job scheduler when a worker takes its
  current run (BullMQ's updateJobScheduler, called by every worker at fetch).
  KEYS  1 repeat  2 delayed  3 wait  4 paused  5 meta  6 prioritized  7 marker  8 id
        9 events  10 pc  11 active  12 the taken run's job key
  ARGV  1 key prefix  2 BullMQ major  3 scheduler id  4 now ms
        5 the next run's time from a cron pattern ("" with `every`: computed here)
        6 the taken run's id  7 the taken run's data JSON
        8 the next run's opts JSON  9 the next run's `repeat` as JSON [key, value] pairs
  Returns the next run's id, or nil when the scheduler is gone, when the taken run is not
  its current one (a run taken again, or of a replaced scheduler), or when the next run
  exists already (then a `duplicated` event is written).
  Major 5 also writes the next run's id as `nrjid` on the taken run, and copies the run's
  data into a scheduler stored without data. ]]
local repeatKey, schedulerId, now = KEYS[1], ARGV[3], tonumber(ARGV[4])
local previous = tonumber(redis.call("ZSCORE", repeatKey, schedulerId))
if not previous then return nil end

local q = {
  prefix = ARGV[1], major = tonumber(ARGV[2]),
  wait = KEYS[3], pausedList = KEYS[4], delayed = KEYS[2], prioritized = KEYS[6],
  priorityCounter = KEYS[10], marker = KEYS[7], events = KEYS[9],
  readyAdded = false, delayedTouched = false,
}
local schedulerKey = repeatKey .. ":" .. schedulerId
local stored = redis.call("HMGET", schedulerKey, "name", "data", "every", "startDate", "offset")
local opts = decodeRunOpts(ARGV[8], ARGV[9])
local repeatOpts = opts["repeat"]

local nextMillis = tonumber(ARGV[5])
local every = tonumber(stored[3]) or tonumber(repeatOpts["every"])
if every then
  local offset = tonumber(stored[5]) or tonumber(repeatOpts["offset"]) or 0
  nextMillis = everyNextMillis(previous, every, now, offset, stored[4] or nil, q.major)
end
if not nextMillis or ARGV[6] ~= "repeat:" .. schedulerId .. ":" .. previous then return nil end

local context = readQueueContext(KEYS[5], KEYS[11])
q.maxEvents = context.maxEvents
q.paused = context.paused
local runId = "repeat:" .. schedulerId .. ":" .. nextMillis
if redis.call("EXISTS", q.prefix .. runId) == 1 then
  emitEvent(q.events, q.maxEvents, "duplicated", "jobId", runId)
  return nil
end

redis.call("ZADD", repeatKey, nextMillis, schedulerId)
redis.call("HINCRBY", schedulerKey, "ic", 1)
redis.call("INCR", KEYS[8])
local data = stored[2] or nil
if q.major == 5 then
  data = data or ARGV[7]
  if data ~= "{}" then redis.call("HSET", schedulerKey, "data", data) end
end
addScheduledRun(q, {
  id = runId, name = stored[1], data = data or "{}", timestamp = now,
  delay = math.max(nextMillis - now, 0), opts = opts, schedulerId = schedulerId,
})
if q.major == 5 then
  redis.call("HSET", KEYS[12], "nrjid", runId)
end
announce(q, context.pausedOrMaxed)
return runId
