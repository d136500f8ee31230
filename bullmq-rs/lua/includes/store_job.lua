--[[ store_job: write a new job's hash and announce it with `added`.
  The `opts` field is re-encoded here by cjson, as BullMQ's own scripts do: its bytes (key
  order, number format) are then the ones a Node producer's job gets for the same options
  given in the same order. A child also gets `parentKey` and `parent` (see parent.lua);
  `deid` records the deduplication id. ]]
local function storeJob(q, job)
  local fields = { "name", job.name, "data", job.data, "opts", job.optsJson,
    "timestamp", job.timestamp, "delay", job.delay, "priority", job.priority }
  if job.parentKey then
    table.insert(fields, "parentKey")
    table.insert(fields, job.parentKey)
    table.insert(fields, "parent")
    table.insert(fields, job.parentJson)
  end
  local de = job.opts["de"]
  if de and de["id"] then
    table.insert(fields, "deid")
    table.insert(fields, de["id"])
  end
  redis.call("HMSET", q.prefix .. job.id, unpack(fields))
  emitEvent(q.events, nil, "added", "jobId", job.id, "name", job.name)
end
