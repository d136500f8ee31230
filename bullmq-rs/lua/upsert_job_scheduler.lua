--[[ upsert_job_scheduler: create or replace a job scheduler and add its next run
  (BullMQ's addJobScheduler).
  KEYS  1 repeat  2 delayed  3 wait  4 paused  5 meta  6 prioritized  7 marker  8 id
        9 events  10 pc  11 active
  ARGV  1 key prefix  2 BullMQ major  3 scheduler id  4 now ms
        5 the run's time from a cron pattern ("" with `every`: computed here)
        6 scheduler fields JSON {name, tz, pattern, every, limit, startDate, endDate,
          offset (with every only)}
        7 template data JSON  8 template opts JSON (stored names)
        9 the run's opts JSON  10 the run's `repeat` as JSON [key, value] pairs
  Returns {run id, delay ms}, or -10 when a pattern's run id is taken by another job,
  -11 when every slot tried for an `every` run is taken.

  Replacing a scheduler removes its pending run (delayed, prioritized, or in the list a
  paused check points at: `paused` while the queue is paused, in both majors, as BullMQ
  does) and, with an unchanged `every`, keeps that run's time. The iteration count and,
  unless given, the offset survive the replacement. ]]
local q = {
  prefix = ARGV[1], major = tonumber(ARGV[2]),
  wait = KEYS[3], pausedList = KEYS[4], delayed = KEYS[2], prioritized = KEYS[6],
  priorityCounter = KEYS[10], marker = KEYS[7], events = KEYS[9],
  readyAdded = false, delayedTouched = false,
}
local context = readQueueContext(KEYS[5], KEYS[11])
q.maxEvents = context.maxEvents
q.paused = context.paused

local repeatKey, schedulerId, now = KEYS[1], ARGV[3], tonumber(ARGV[4])
local schedulerKey = repeatKey .. ":" .. schedulerId
local fields = cjson.decode(ARGV[6])
local every = fields["every"]
local offset = fields["offset"] or 0
local nextMillis = tonumber(ARGV[5])

local previous = tonumber(redis.call("ZSCORE", repeatKey, schedulerId))
local everyChanged = false
if every then
  local from = previous
  if previous and tonumber(redis.call("HGET", schedulerKey, "every")) ~= every then
    from = nil
    everyChanged = true
  end
  nextMillis, offset = everyNextMillis(from, every, now, offset, fields["startDate"], q.major)
end

-- The pending run goes; only a run still waiting to start can be replaced.
local function removePendingRun(runId)
  local runKey = q.prefix .. runId
  local removed = redis.call("ZREM", q.delayed, runId) == 1
    or redis.call("ZREM", q.prioritized, runId) == 1
    or redis.call("LREM", q.paused and q.pausedList or q.wait, 1, runId) > 0
  if not removed then return false end
  local dedupId = redis.call("HGET", runKey, "deid")
  if dedupId and redis.call("GET", q.prefix .. "de:" .. dedupId) == runId then
    redis.call("DEL", q.prefix .. "de:" .. dedupId, q.prefix .. "dn:" .. dedupId)
  end
  deleteJobKeys(runKey)
  return true
end

local replaced = false
if previous then
  local runId = "repeat:" .. schedulerId .. ":" .. previous
  if redis.call("EXISTS", q.prefix .. runId) == 1 then
    replaced = removePendingRun(runId)
  end
end
if replaced then
  if every and not everyChanged then nextMillis = previous end
else
  fields["offset"] = offset
end

local runId = "repeat:" .. schedulerId .. ":" .. nextMillis
if redis.call("EXISTS", q.prefix .. runId) == 1 then
  if not every then
    if not replaced then return -10 end
  else
    -- Runs of an older scheduler with the same id may hold the next slots.
    local free = false
    for _ = 1, (q.major == 5 and 1 or 32) do
      nextMillis = nextMillis + every
      runId = "repeat:" .. schedulerId .. ":" .. nextMillis
      if redis.call("EXISTS", q.prefix .. runId) == 0 then
        free = true
        break
      end
    end
    if not free then return -11 end
  end
end

local delay = math.max(nextMillis - now, 0)
storeScheduler(repeatKey, schedulerKey, schedulerId, nextMillis, fields, ARGV[7], ARGV[8])
redis.call("INCR", KEYS[8])
addScheduledRun(q, {
  id = runId, name = fields["name"], data = ARGV[7], timestamp = now, delay = delay,
  opts = decodeRunOpts(ARGV[9], ARGV[10]), schedulerId = schedulerId,
})
announce(q, context.pausedOrMaxed)
return { runId, delay }
