--[[ get_jobs: ids and hashes of the jobs in a window of each given state (BullMQ 5's
  getRanges, BullMQ 6's getJobs).
  KEYS  1 wait  2 paused  3 active  4 prioritized  5 delayed  6 completed  7 failed
        8 waiting-children
  ARGV  1 key prefix  2 start  3 end  4 "1" oldest first, "0" newest first
        5 passes over a bounded window: 1 reads it once (BullMQ 5); more read on past ids
          whose hash is gone until the window is full (BullMQ 6 makes 5 passes)
        6.. the KEYS index of each state (1 to 3 are lists, the rest zsets)
  Returns per state a list of {id, {hash field, value, ...}}; ids without a hash are left
  out ]]
local base = ARGV[1]
local first = tonumber(ARGV[2])
local last = tonumber(ARGV[3])
local ascending = ARGV[4] == "1"
local passes = tonumber(ARGV[5])

-- Lists are pushed on the left, so their oldest job is at the right end: the ascending
-- window from..to is counted from the right and read back to front. A bound of -1 stands
-- for the whole list, as in BullMQ.
local function idsIn(key, isList, from, to)
  if not isList then
    if ascending then
      return redis.call("ZRANGE", key, from, to)
    end
    return redis.call("ZREVRANGE", key, from, to)
  end
  if not ascending then
    return redis.call("LRANGE", key, from, to)
  end
  local fromRight = from == -1 and 0 or -(from + 1)
  local toRight = to == -1 and 0 or -(to + 1)
  local ids = redis.call("LRANGE", key, toRight, fromRight)
  local oldestFirst = {}
  for i = #ids, 1, -1 do
    oldestFirst[#oldestFirst + 1] = ids[i]
  end
  return oldestFirst
end

local function jobsIn(key, isList)
  local jobs = {}
  local function keep(ids, wanted)
    for _, id in ipairs(ids) do
      if wanted and #jobs >= wanted then
        return
      end
      local hash = redis.call("HGETALL", base .. id)
      if #hash > 0 then
        jobs[#jobs + 1] = {id, hash}
      end
    end
  end
  if first < 0 or last < 0 then
    keep(idsIn(key, isList, first, last), nil)
    return jobs
  end
  local wanted = last - first + 1
  local cursor = first
  local pass = 0
  while #jobs < wanted and pass < passes do
    local ids = idsIn(key, isList, cursor, cursor + wanted - 1)
    if #ids == 0 then
      break
    end
    keep(ids, wanted)
    cursor = cursor + #ids
    pass = pass + 1
  end
  return jobs
end

local results = {}
for position = 6, #ARGV do
  local index = tonumber(ARGV[position])
  if index <= 2 then
    dropLegacyMarker(KEYS[index])
  end
  results[#results + 1] = jobsIn(KEYS[index], index <= 3)
end
return results
