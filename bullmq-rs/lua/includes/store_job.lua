--[[ store_job: write a new job's hash and announce it with `added`.
  The `opts` field is re-encoded here by cjson, as BullMQ's own scripts do: its bytes (key
  order, number format) are then the ones a Node producer's job gets for the same options
  given in the same order. `deid` records the deduplication id. ]]
local function storeJob(q, job)
  local jobKey = q.prefix .. job.id
  local de = job.opts["de"]
  if de and de["id"] then
    redis.call("HMSET", jobKey, "name", job.name, "data", job.data, "opts", job.optsJson,
      "timestamp", job.timestamp, "delay", job.delay, "priority", job.priority, "deid", de["id"])
  else
    redis.call("HMSET", jobKey, "name", job.name, "data", job.data, "opts", job.optsJson,
      "timestamp", job.timestamp, "delay", job.delay, "priority", job.priority)
  end
  emitEvent(q.events, nil, "added", "jobId", job.id, "name", job.name)
end
