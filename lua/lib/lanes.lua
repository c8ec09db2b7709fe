--[[ lanes: a tenant's queued tasks. CRITICAL (6, lib/util) is a FIFO list served first;
  priorities 1..5 share a zset scored by enqueue time minus (priority - 1) x
  aging window, so higher priorities go first but a task enqueued W earlier
  outranks one a level higher: a low priority waits a bounded time.
  backlog (zset user -> queued count) is a copy of what the lanes hold: the
  tenant's queued gauge (dashboards, stats); readiness is never decided on it:
  a tenant leaves the ready sets only when its lanes are seen empty
  (LLEN/ZCARD, O(1)), so no drift of the counter (a bug, a partial restore, a
  hand edit) can strand queued work. Pushes are summed in BACKLOG and added
  once by flush() (ZINCRBY); a task leaving the lanes moves the counter by -1
  and checks it against the lane count it reads anyway: a counter that drifted
  is set right there, and the queued total (which moves with it) by as much. ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/stats"
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
    redis.call('ZADD', K.norm(user), score, id)
  end
  BACKLOG[user] = (BACKLOG[user] or 0) + 1
end

-- the next task id, and true when it came from the CRITICAL list (false: that
-- list was empty, so only the zset can still hold work)
local function lane_pop(user)
  local id = redis.call('LPOP', K.crit(user))
  if id then return id, true end
  local r = redis.call('ZPOPMIN', K.norm(user))
  return r[1], false
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

-- move the tenant's backlog counter by `delta` (a task left the lanes: -1) and
-- this call's pending pushes (the lanes hold them already); true when the lanes
-- are empty. One ZINCRBY when the counter agrees with the lanes.
local function backlog_sync(user, crit_empty, delta)
  local n = lane_count(user, crit_empty)
  local counted = math.floor(tonumber(redis.call('ZINCRBY', K.backlog, (BACKLOG[user] or 0) + (delta or 0), user)))
  BACKLOG[user] = nil
  if counted ~= n then stat_add(nil, nil, 'queued', n - counted) end  -- the total drifted with it
  if n == 0 then
    redis.call('ZREM', K.backlog, user)
    return true
  end
  if counted ~= n then redis.call('ZADD', K.backlog, n, user) end
  return false
end

local function backlog_flush()
  for user, n in pairs(BACKLOG) do
    if n ~= 0 then redis.call('ZINCRBY', K.backlog, n, user) end
  end
end
