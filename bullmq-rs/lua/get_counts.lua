--[[ get_counts: how many jobs each given state holds (BullMQ's getCounts).
  KEYS  1 wait  2 paused  3 active  4 prioritized  5 delayed  6 completed  7 failed
        8 waiting-children
  ARGV  1.. the KEYS index of each state to count (1 to 3 are lists, the rest zsets)
  Returns one count per ARGV entry, in order ]]
local counts = {}
for position, arg in ipairs(ARGV) do
  local index = tonumber(arg)
  local key = KEYS[index]
  if index <= 2 then
    counts[position] = dropLegacyMarker(key) or redis.call("LLEN", key)
  elseif index == 3 then
    counts[position] = redis.call("LLEN", key)
  else
    counts[position] = redis.call("ZCARD", key)
  end
end
return counts
