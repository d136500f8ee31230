--[[ move_to_active: hand the next job to a worker (BullMQ's moveToActive).
  KEYS  1 wait  2 active  3 prioritized  4 events  5 stalled  6 limiter  7 delayed
        8 paused  9 meta  10 pc  11 marker
  ARGV  1 key prefix  2 now ms  3 lock token ("0" = no lock)  4 lock duration ms
        5 worker limiter max ("" = none)  6 worker limiter duration ms  7 worker name ("")
        8 BullMQ major
  Returns the reply of fetchJob (includes/fetch_job.lua). ]]
local q = {
  prefix = ARGV[1], major = tonumber(ARGV[8]),
  wait = KEYS[1], active = KEYS[2], prioritized = KEYS[3], events = KEYS[4], limiter = KEYS[6],
  delayed = KEYS[7], pausedList = KEYS[8], priorityCounter = KEYS[10], marker = KEYS[11],
  readyAdded = false, delayedTouched = false,
}
local context = readQueueContext(KEYS[9], q.active, true)
q.paused = context.paused
return fetchJob(q, context, {
  now = ARGV[2], token = ARGV[3], lockMs = ARGV[4], limitMax = tonumber(ARGV[5]),
  limitMs = tonumber(ARGV[6]), workerName = ARGV[7],
}) or { 0, 0, 0, 0 }
