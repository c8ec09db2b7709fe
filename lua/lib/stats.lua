--[[ stats: counters kept inside the scripts, never computed by scanning.
  Gauges (current numbers): queued, delayed, running, dead.
  Counters (totals): enqueued, succeeded, failed, retried, dead_lettered,
  cancelled, expired, released, requeued, deleted, missing.
  Terminal outcomes are also counted per task function (stat_func).
  Each change goes to two hashes: per tenant and per priority (stats:p:0 for a
  record too broken to know its priority); the totals are the sum of the
  priority hashes (reads.py), so no third write per change. Events also go to
  a per-minute throughput bucket that expires after TP_TTL s.
  Changes are summed in Lua and written once by flush() at the end of a
  script: a batch of 500 pushes costs a few dozen HINCRBYs, not thousands,
  and ack-then-pop's running -1 / +1 cancel out. ]]
--- @include "lib/keys"
--- @include "lib/util"
local TP_TTL = 7200
local FAIR_TTL = 1200
local STATS, TP, FAIR  -- FAIR: minute -> {n = {user -> served}, w = {"user:bucket" -> waits}}

local function acc(tbl, key, field, n)
  local h = tbl[key]
  if not h then h = {}; tbl[key] = h end
  h[field] = (h[field] or 0) + n
end

per_call(function() STATS, TP, FAIR = {}, {}, {} end)

-- user nil (a record too broken to know it) skips the per-tenant hash; a priority
-- that is not 1..CRITICAL counts under 0, so the totals (the sum over 0..CRITICAL) see it
local function stat_add(user, prio, field, n)
  if user then acc(STATS, K.stats_user(user), field, n) end
  if not (prio and prio >= 1 and prio <= CRITICAL and prio % 1 == 0) then prio = 0 end
  acc(STATS, K.stats_prio(prio), field, n)
end

-- a counter event: totals plus the throughput bucket of this minute
local function stat_event(user, prio, field, now)
  stat_add(user, prio, field, 1)
  acc(TP, K.throughput(minute_of(now)), field, 1)
end

-- a task's terminal outcome ('succeeded', 'failed', 'dead') per task function: one hash for the
-- queue (field "<outcome>:<func>"), summed with the other counters and written by the same flush,
-- so a batch of acks of one function costs one HINCRBY (no per-minute bucket, no expiry)
local function stat_func(func, outcome)
  if func then acc(STATS, K.stats_func, outcome .. ':' .. func, 1) end
end

-- one task of `user` started after waiting wait_ms in its lane: the fairness
-- buckets keep, per minute, how many each tenant was served and a histogram of
-- its waits in quarter-octaves (bucket b holds waits up to 2^((b+1)/4) - 1 ms)
local LOG2 = 0.69314718055994531  -- math.log(2); math is not loaded yet when Redis loads a Functions library
local FAIR_MAX_BUCKET = 80  -- 2^(81/4) ms is about 20 minutes: longer waits share the last bucket
local function fair_add(user, wait_ms, now)
  local minute = minute_of(now)
  local bucket = math.min(FAIR_MAX_BUCKET, math.floor(4 * math.log(math.max(wait_ms, 0) + 1) / LOG2))
  local m = FAIR[minute]
  if not m then m = {n = {}, w = {}}; FAIR[minute] = m end
  m.n[user] = (m.n[user] or 0) + 1
  local field = user .. ':' .. int(bucket)
  m.w[field] = (m.w[field] or 0) + 1
end

local function stats_flush()
  for key, fields in pairs(STATS) do
    for field, n in pairs(fields) do
      if n ~= 0 then redis.call('HINCRBY', key, field, int(n)) end
    end
  end
  -- per-minute keys: set the expiry when a write created the key's first count
  for key, fields in pairs(TP) do
    local fresh = false
    for field, n in pairs(fields) do fresh = redis.call('HINCRBY', key, field, int(n)) == n or fresh end
    if fresh then redis.call('EXPIRE', key, TP_TTL) end
  end
  for minute, m in pairs(FAIR) do
    local served, waits = K.fair_served(minute), K.fair_wait(minute)
    local total = 0
    for user, n in pairs(m.n) do
      redis.call('ZINCRBY', served, int(n), user)
      total = total + n
    end
    for field, n in pairs(m.w) do redis.call('HINCRBY', waits, field, int(n)) end
    -- "*" (never a tenant name) holds the minute's total; its first count creates both keys
    if tonumber(redis.call('ZINCRBY', served, int(total), '*')) == total then
      redis.call('EXPIRE', served, FAIR_TTL)
      redis.call('EXPIRE', waits, FAIR_TTL)
    end
  end
end
