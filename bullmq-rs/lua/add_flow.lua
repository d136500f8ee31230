--[[ add_flow: add one or more flows (trees of jobs, possibly across queues) in one call,
  as BullMQ's FlowProducer does in one MULTI: addParentJob for a node with children, the
  usual add for the others, each child naming its parent in opts.parent {id, queue}.
  KEYS  1 the first root's job key (routes the call: every queue of the flows shares its
        hash tag on a cluster; the other keys are built from the queue bases)
  ARGV  1 BullMQ major (5 or 6)  2 now ms
        then 7 values per node, parents before their children (Node's order: level by
        level): queue key base ("<prefix>:<queue>:"), job id, name, timestamp ms, data
        JSON, opts JSON (BullMQ's stored names), "1" when the node has children
  Returns the ids in argument order (an existing id is returned as is), or, with nothing
  written, -5 when a named parent does not exist, -7 when an existing id already belongs
  to another parent.

  A parent waits in `waiting-children` (scored by its timestamp, no marker). Every node
  advances its queue's `id` counter. A child id that exists already is adopted by its new
  parent (see parent.lua); major 6 releases a parent left with nothing pending only once
  the whole flow is written (its "defer parent release"), major 5 at once. Where BullMQ's
  MULTI writes the rest of a flow around a refused node (and marks the parent
  flowAttachmentFailed), this call refuses the whole flow. ]]

local major, now = tonumber(ARGV[1]), ARGV[2]
local FIELDS_PER_NODE = 7

local queues, queueOrder = {}, {}
local function queueFor(base)
  local q = queues[base]
  if q then return q end
  q = queueAt(base, major)
  local context = readQueueContext(base .. "meta", base .. "active")
  q.maxEvents, q.paused, q.pausedOrMaxed = context.maxEvents, context.paused, context.pausedOrMaxed
  queues[base] = q
  table.insert(queueOrder, q)
  return q
end

local nodes, created = {}, {}
for index = 1, (#ARGV - 2) / FIELDS_PER_NODE do
  local at = 2 + (index - 1) * FIELDS_PER_NODE
  local opts = cjson.decode(ARGV[at + 6])
  local node = {
    base = ARGV[at + 1], id = ARGV[at + 2], name = ARGV[at + 3], timestamp = ARGV[at + 4],
    data = ARGV[at + 5], opts = opts, optsJson = cjson.encode(opts),
    hasChildren = ARGV[at + 7] == "1",
    delay = tonumber(opts["delay"]) or 0, priority = tonumber(opts["priority"]) or 0,
  }
  parentFieldsOf(node)
  local refusal = parentRefusal(node.base .. node.id, node, major, created)
  if refusal then return refusal end
  created[node.base .. node.id] = true
  nodes[index] = node
end

local ids, parents, parentSeen = {}, {}, {}
for index, node in ipairs(nodes) do
  local q = queueFor(node.base)
  redis.call("INCR", q.prefix .. "id")
  local jobKey = q.prefix .. node.id
  if redis.call("EXISTS", jobKey) == 1 then
    adoptExisting(q, jobKey, node, node.timestamp, major ~= 5)
    emitEvent(q.events, q.maxEvents, "duplicated", "jobId", node.id)
  else
    storeJob(q, node)
    if node.hasChildren then
      redis.call("ZADD", q.prefix .. "waiting-children", node.timestamp, node.id)
      emitEvent(q.events, q.maxEvents, "waiting-children", "jobId", node.id)
    else
      enqueueNew(q, node)
    end
    if node.parentKey then
      redis.call("SADD", node.parentKey .. ":dependencies", jobKey)
    end
  end
  if node.parentKey and not parentSeen[node.parentKey] then
    parentSeen[node.parentKey] = true
    table.insert(parents, node.parentJson)
  end
  ids[index] = node.id
end

for _, q in ipairs(queueOrder) do
  announce(q, q.pausedOrMaxed)
end
if major ~= 5 then
  for _, parentJson in ipairs(parents) do
    local parent = parentOf(parentJson)
    if redis.call("HDEL", parent.key, "flowAttachmentFailed") == 0 then
      releaseParentIfDone(parent, now, major)
    end
  end
end
return ids
