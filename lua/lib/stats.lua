--[[ stats: counters kept inside the scripts, never computed by scanning.
  Gauges (current numbers): queued, delayed, running, dead.
  Counters (totals): enqueued, succeeded, failed, retried, dead_lettered,
  cancelled, expired, released, requeued, deleted.
  Each change goes to three hashes: global, per tenant, per priority; events
  also go to a per-minute throughput bucket that expires after TP_TTL seconds. ]]
local TP_TTL = 7200

-- prio nil (a record too broken to know it) skips the per-priority hash
local function stat_add(user, prio, field, n)
  redis.call('HINCRBY', K.stats(), field, n)
  redis.call('HINCRBY', K.stats_user(user), field, n)
  if prio then redis.call('HINCRBY', K.stats_prio(prio), field, n) end
end

local function stat_move(user, prio, from, to)
  if from then stat_add(user, prio, from, -1) end
  if to then stat_add(user, prio, to, 1) end
end

local function tp_add(now, field, n)
  local key = K.throughput(int(math.floor(now / 60000)))
  redis.call('HINCRBY', key, field, n)
  redis.call('EXPIRE', key, TP_TTL)
end

-- a counter event: totals plus the throughput bucket
local function stat_event(user, prio, field, now)
  stat_add(user, prio, field, 1)
  tp_add(now, field, 1)
end
