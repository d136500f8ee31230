--[[ move_to_finished: end jobs as completed or failed for good (BullMQ's moveToFinished),
  several in one call: the worker sends together the jobs that ended while its previous
  call was on its way, so the cost of a call (its round trip, reading the queue's meta,
  trimming the events stream) is paid once per batch. Each job is handled as a call of
  its own would handle it, in order: its checks, its writes, its events, then the next
  job it takes (BullMQ's fetchNext). Left to the call: the events stream is trimmed once
  (an approximate cap either way), and the marker is set once, at the end.
  KEYS  1 wait  2 active  3 prioritized  4 events  5 stalled  6 delayed  7 paused  8 meta
        9 pc  10 marker  11 id  12 limiter
  ARGV  1 key prefix  2 BullMQ major  3 lock duration ms of taken jobs
        4 worker limiter max ("" = none)  5 its duration ms  6 worker name ("" = none)
        then 12 per job: job id, now ms, target ("completed" or "failed"), return value
        JSON or failed reason, lock token, keep count (-1 all, 0 none, n the last n),
        keep age in s ("" = any), most jobs removed per trim, attempts allowed, fields to
        write first (JSON pairs, "" = none), most metrics data points ("" = no metrics),
        lock token of the next job to take ("" = take none)
  Returns one answer per job, in order: 0; what fetchJob answers when it took the next
  job (or found none but a reason to wait); or -1 no such job, -2 lock lost, -3 job not
  active, -4 pending children, -6 lock held by another worker, -9 a child that had to
  succeed failed; or, as text, the error its ending raised (what it had written stays, as
  after a call of its own that failed; an error reply would fail the whole call for most
  clients). A refused or failed job changes nothing of the others.
  A child tells its parent, which may be in another queue (see parent.lua). ]]
local PER_JOB = 12
local q = {
  prefix = ARGV[1], major = tonumber(ARGV[2]),
  wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], events = KEYS[4], delayed = KEYS[6],
  pausedList = KEYS[7], priorityCounter = KEYS[9], marker = KEYS[10], limiter = KEYS[12],
  readyAdded = false, delayedTouched = false,
  -- Due delayed jobs are promoted again only for a later time than already done, and the
  -- marker is set once at the end (fetch_job.lua).
  promotedUpTo = nil, markerOwed = false,
}
-- How the next jobs are taken: the same for every job but its time and token.
local fetch = {
  lockMs = ARGV[3], limitMax = tonumber(ARGV[4]), limitMs = tonumber(ARGV[5]), workerName = ARGV[6],
}
-- Read on the first job that gets past its checks, as a call of its own would.
local context

-- Only a job that is still ours and may end passes; returns its HMGET or a refusal code.
local function checkJob(jobKey, jobId, target, token)
  -- Every job hash has a name: its absence means no job (one call instead of EXISTS + HGET).
  local found = redis.call("HMGET", jobKey, "name", "deid", "parentKey", "parent")
  if not found[1] then return -1 end
  if target == "completed"
    and redis.call("EXISTS", jobKey .. ":dependencies", jobKey .. ":unsuccessful") > 0 then
    -- Empty sets do not exist: one call tells that neither check can refuse.
    if redis.call("SCARD", jobKey .. ":dependencies") > 0 then return -4 end
    if redis.call("ZCARD", jobKey .. ":unsuccessful") > 0 then return -9 end
  end
  local locked = releaseLock(jobKey, KEYS[5], jobId, token)
  if locked < 0 then return locked end
  return found
end

-- The queue's state after this job left `active`: meta is read once per call; only a
-- global concurrency makes it change from one job to the next.
local function refreshContext()
  if not context then
    context = readQueueContext(KEYS[8], q.active, true)
    q.maxEvents, q.paused = context.maxEvents, context.paused
    redis.call("XTRIM", q.events, "MAXLEN", "~", context.maxEvents)
  elseif context.concurrency and not context.paused then
    context.pausedOrMaxed = redis.call("LLEN", q.active) >= context.concurrency
  end
end

local function finishJob(base)
  q.readyAdded, q.delayedTouched = false, false
  local jobId, now, target, value = ARGV[base + 1], ARGV[base + 2], ARGV[base + 3], ARGV[base + 4]
  local jobKey = q.prefix .. jobId
  local found = checkJob(jobKey, jobId, target, ARGV[base + 5])
  if type(found) == "number" then return found end
  writeFields(jobKey, ARGV[base + 10])
  if redis.call("LREM", q.active, "-1", jobId) < 1 then return -3 end
  refreshContext()

  local dedupId = found[2]
  if dedupId then
    releaseDedupSlot(q, dedupId, jobId)
    createParkedDuplicate(q, dedupId, KEYS[11], now)
  end

  local parentKey, parentJson = found[3], found[4]
  if parentJson then
    if target == "completed" then
      childCompleted(jobKey, parentJson, value, now, q.major)
    else
      childFailed(jobKey, parentJson, value, now, q.major)
    end
  end

  local field = target == "completed" and "returnvalue" or "failedReason"
  local keepCount = tonumber(ARGV[base + 6])
  local attemptsMade
  -- A completed job removed at once needs no count of its attempts: nobody reads it.
  if keepCount ~= 0 or target == "failed" then
    attemptsMade = redis.call("HINCRBY", jobKey, "atm", "1")
  end
  if keepCount == 0 then
    deleteJobKeys(jobKey)
    if parentKey then dropRemovedChild(jobKey, parentKey, q.major) end
  else
    local finishedKey = q.prefix .. target
    redis.call("ZADD", finishedKey, now, jobId)
    redis.call("HSET", jobKey, field, value, "finishedOn", now)
    if target == "failed" then redis.call("HDEL", jobKey, "defa") end
    trimFinished(q.prefix, finishedKey, tonumber(now), tonumber(ARGV[base + 7]), keepCount,
      tonumber(ARGV[base + 8]) or 1000)
  end

  emitEvent(q.events, nil, target, "jobId", jobId, field, value, "prev", "active")
  if target == "failed" and attemptsMade >= (tonumber(ARGV[base + 9]) or 0) then
    emitEvent(q.events, nil, "retries-exhausted", "jobId", jobId, "attemptsMade", attemptsMade)
  end
  if ARGV[base + 11] ~= "" then
    recordMetrics(q.prefix .. "metrics:" .. target, tonumber(ARGV[base + 11]), tonumber(now))
  end
  announce(q, context.pausedOrMaxed)

  local nextToken = ARGV[base + 12]
  if nextToken ~= "" then
    fetch.now, fetch.token = now, nextToken
    local next = fetchJob(q, context, fetch)
    -- As BullMQ: any answer but "nothing at all" is returned, and only then is `drained` checked.
    if next then return next end
  end
  if redis.call("LLEN", q.wait) == 0 and redis.call("LLEN", q.active) == 0
    and redis.call("ZCARD", q.prioritized) == 0 then
    emitEvent(q.events, nil, "drained")
  end
  return 0
end

local answers = {}
for index = 1, (#ARGV - 6) / PER_JOB do
  local base = 6 + (index - 1) * PER_JOB
  local ended, answer = pcall(finishJob, base)
  if not ended then
    -- redis.call raises a table holding `err`; Lua's own errors are text.
    local reason = type(answer) == "table" and answer.err or tostring(answer)
    answer = "job " .. ARGV[base + 1] .. ": " .. reason
  end
  answers[index] = answer
end
if q.markerOwed then redis.call("ZADD", q.marker, "0", "0") end
return answers
