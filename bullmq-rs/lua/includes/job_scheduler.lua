--[[ job_scheduler: what the scheduler scripts share.
  everyNextMillis: the time of the next run of an `every` scheduler and the offset of its
  runs within each interval. The first run is at the start date (or now, if later), else at
  the first `k * every + offset` after now when an offset is given, else now. A later run
  is one interval after the previous one; when that is already past, runs were missed and
  the next is the first slot after now: `k * every + every + offset` in major 5, the first
  `k * every + offset` after now in major 6. Without an offset, the offset is where the
  run falls within its interval.
  decodeRunOpts: a run's options; `repeat` comes as [key, value] pairs inserted in their
  order, a null inserted as nil, so that the table (and so its JSON) is laid out as the one
  BullMQ decodes from its msgpack arguments.
  storeScheduler: (re)write the scheduler's hash and its next run time in `repeat`; the
  iteration count `ic` and, when none is given, the offset are kept from before.
  addScheduledRun: store a run as a job with `rjk` = the scheduler id, and enqueue it as
  delayed (for `delay` ms from now) or ready. ]]

local function everyNextMillis(previous, every, now, offset, startDate, major)
  offset = tonumber(offset)
  local nextMillis
  if previous then
    nextMillis = previous + every
    if nextMillis < now then
      local slot = math.floor(now / every) * every
      if major == 5 then
        nextMillis = slot + every + (offset or 0)
      else
        nextMillis = slot + (offset or 0)
        if nextMillis <= now then nextMillis = nextMillis + every end
      end
    end
  elseif startDate then
    nextMillis = math.max(tonumber(startDate), now)
  elseif offset and offset > 0 then
    nextMillis = math.floor(now / every) * every + offset
    if nextMillis <= now then nextMillis = nextMillis + every end
  else
    nextMillis = now
  end
  if not offset or offset == 0 then
    offset = nextMillis - math.floor(nextMillis / every) * every
  end
  return math.floor(nextMillis), math.floor(offset)
end

local function decodeRunOpts(optsJson, repeatPairsJson)
  local opts = cjson.decode(optsJson)
  local repeatOpts = {}
  for _, pair in ipairs(cjson.decode(repeatPairsJson)) do
    local value = pair[2]
    if value == cjson.null then value = nil end
    repeatOpts[pair[1]] = value
  end
  opts["repeat"] = repeatOpts
  return opts
end

local function addScheduledRun(q, run)
  run.opts["delay"] = run.delay
  run.opts["jobId"] = run.id
  run.optsJson = cjson.encode(run.opts)
  run.priority = tonumber(run.opts["priority"]) or 0
  storeJob(q, run)
  redis.call("HSET", q.prefix .. run.id, "rjk", run.schedulerId)
  enqueueNew(q, run)
end

local function storeScheduler(repeatKey, schedulerKey, schedulerId, nextMillis, fields,
    dataJson, templateOptsJson)
  redis.call("ZADD", repeatKey, nextMillis, schedulerId)
  local values = {}
  local function add(name, value)
    if value then
      values[#values + 1] = name
      values[#values + 1] = value
    end
  end
  for _, name in ipairs({ "tz", "limit", "pattern", "startDate", "endDate", "every" }) do
    add(name, fields[name])
  end
  add("offset", fields["offset"] or tonumber(redis.call("HGET", schedulerKey, "offset")))
  local templateOpts = cjson.encode(cjson.decode(templateOptsJson))
  if templateOpts ~= "{}" then add("opts", templateOpts) end
  if dataJson ~= "{}" then add("data", dataJson) end
  add("ic", redis.call("HGET", schedulerKey, "ic") or 1)
  redis.call("DEL", schedulerKey)
  redis.call("HSET", schedulerKey, "name", fields["name"], unpack(values))
end
