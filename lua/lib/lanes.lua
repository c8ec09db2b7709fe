--[[ lanes: a tenant's queued tasks. CRITICAL (6, lib/util) is a FIFO list served first;
  priorities 1..5 share a zset scored by enqueue time minus (priority - 1) x
  aging window, so higher priorities go first but a task enqueued W earlier
  outranks one a level higher: a low priority waits a bounded time.
  backlog (zset user -> queued count) says when a tenant's lanes are empty;
  increments are summed and written by flush(). ]]
--- @include "lib/keys"
--- @include "lib/util"
local BACKLOG = {}

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

local function lane_pop(user)
  local id = redis.call('LPOP', K.crit(user))
  if id then return id end
  local r = redis.call('ZPOPMIN', K.norm(user))
  return r[1]
end

local function lane_remove(user, id, prio)
  if prio == CRITICAL then return redis.call('LREM', K.crit(user), 1, id) end
  return redis.call('ZREM', K.norm(user), id)
end

-- one task left the tenant's lanes; true when none is left
local function backlog_take(user)
  local n = (BACKLOG[user] or 0) - 1
  BACKLOG[user] = nil
  if tonumber(redis.call('ZINCRBY', K.backlog, n, user)) <= 0 then
    redis.call('ZREM', K.backlog, user)
    return true
  end
  return false
end

local function backlog_flush()
  for user, n in pairs(BACKLOG) do
    if n ~= 0 then redis.call('ZINCRBY', K.backlog, n, user) end
  end
end
