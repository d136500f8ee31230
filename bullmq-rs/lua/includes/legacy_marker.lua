--[[ legacy_marker: BullMQ before 5 marked a non-empty queue with an id "0:<delay>" at the
  tail of wait (or paused). BullMQ 5 and 6 getters drop that entry when they meet it and
  never count it; so do ours.
  Returns the list's length without the marker, or nil when its tail is a real id. ]]
local function dropLegacyMarker(listKey)
  local tail = redis.call("LINDEX", listKey, -1)
  if not tail or string.sub(tail, 1, 2) ~= "0:" then
    return nil
  end
  local length = redis.call("LLEN", listKey)
  if length <= 1 then
    return 0
  end
  redis.call("RPOP", listKey)
  return length - 1
end
