--[[ child_retried: a finished child sent back to run again is pending again for its
  parent, when the parent (still existing) recorded its end: a completed child leaves
  `<parent>:processed`; a failed one `<parent>:unsuccessful`, else `<parent>:failed`
  (BullMQ 5's reprocessJob reads that hash as a zset, so Redis's WRONGTYPE error is
  passed on as BullMQ 5 passes it). A parent that already left `waiting-children` stays
  where it is. ]]
local function backIntoParent(childKey, state, major)
  local parentKey = redis.call("HGET", childKey, "parentKey")
  if not parentKey or redis.call("EXISTS", parentKey) == 0 then return end
  local recorded
  if state == "failed" then
    recorded = redis.call("ZREM", parentKey .. ":unsuccessful", childKey) == 1
    if not recorded and major == 5 then
      recorded = redis.call("ZREM", parentKey .. ":failed", childKey) == 1
    elseif not recorded then
      recorded = redis.call("HDEL", parentKey .. ":failed", childKey) == 1
    end
  else
    recorded = redis.call("HDEL", parentKey .. ":processed", childKey) == 1
  end
  if recorded then redis.call("SADD", parentKey .. ":dependencies", childKey) end
end
