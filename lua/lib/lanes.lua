--[[ lanes: a tenant's queued tasks. CRITICAL (6, lib/util) is a FIFO list served first;
  priorities 1..5 share a zset scored by enqueue time minus (priority - 1) x
  aging window, so higher priorities go first but a task enqueued W earlier
  outranks one a level higher: a low priority waits a bounded time.
  backlog (zset user -> queued count) is a copy of what the lanes hold, for
  dashboards; readiness is never decided on it: a tenant leaves the ready sets
  only when its lanes are seen empty (LLEN/ZCARD, O(1)), so no drift of the
  counter (a bug, a partial restore, a hand edit) can strand queued work.
  A pop writes the counter from the lanes (it counts them anyway, to know
  whether the tenant stays ready); pushes are summed in BACKLOG and added
  once by flush() (ZINCRBY), so a counter that drifted heals at the next pop. ]]
--- @include "lib/keys"
--- @include "lib/util"
local BACKLOG
per_call(function() BACKLOG = {} end)

local function lane_score(now, prio, aging_ms)
  return now - (prio - 1) * aging_ms
end

-- front = true puts a CRITICAL task back at the head (release, lease expiry);
-- a zset task returns to its old place by keeping its score
local function lane_push(user, id, prio, score, front)
  if prio == CRITICAL then
    if front then redis.call('LPUSH', K.crit(user), id)
    else redis.call('RPUSH', K.crit(user), id) end
  else
    redis.call('ZADD', K.norm(user), (score % 1 == 0) and int(score) or score, id)  -- text: see int()
  end
  BACKLOG[user] = (BACKLOG[user] or 0) + 1
end

-- the next task id, and true when it came from the CRITICAL list (false: that
-- list was empty, so only the zset can still hold work), and its zset score
local function lane_pop(user)
  local id = redis.call('LPOP', K.crit(user))
  if id then return id, true end
  local r = redis.call('ZPOPMIN', K.norm(user))
  return r[1], false, r[2]
end

-- undo lane_pop: the task goes back to the very place it left (the backlog never moved)
local function lane_unpop(user, id, from_crit, score)
  if from_crit then redis.call('LPUSH', K.crit(user), id)
  else redis.call('ZADD', K.norm(user), score, id) end
end

local function lane_remove(user, id, prio)
  if prio == CRITICAL then return redis.call('LREM', K.crit(user), 1, id) end
  return redis.call('ZREM', K.norm(user), id)
end

-- how many tasks the tenant's lanes hold (crit_empty: the list is known empty)
local function lane_count(user, crit_empty)
  local n = crit_empty and 0 or redis.call('LLEN', K.crit(user))
  return n + redis.call('ZCARD', K.norm(user))
end

-- write the tenant's backlog counter from its lanes; true when they are empty.
-- The lanes already hold this call's pushes, so its pending sum is dropped.
local function backlog_sync(user, crit_empty)
  BACKLOG[user] = nil
  local n = lane_count(user, crit_empty)
  if n > 0 then
    redis.call('ZADD', K.backlog, int(n), user)
    return false
  end
  redis.call('ZREM', K.backlog, user)
  return true
end

local function backlog_flush()
  for user, n in pairs(BACKLOG) do
    if n ~= 0 then redis.call('ZINCRBY', K.backlog, int(n), user) end
  end
end
