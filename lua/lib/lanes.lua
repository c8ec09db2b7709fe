--[[ lanes: a tenant's queued tasks. CRITICAL (6) is a FIFO list served first;
  priorities 1..5 share a zset scored by enqueue time minus (priority - 1) x
  aging window, so higher priorities go first but a task enqueued W earlier
  outranks one a level higher: a low priority waits a bounded time. ]]
local CRITICAL = 6

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

local function lane_empty(user)
  return redis.call('LLEN', K.crit(user)) == 0 and redis.call('ZCARD', K.norm(user)) == 0
end
