--[[ enqueue: the one routine that puts a task where it belongs: its tenant's
  lane (and the tenant into the ready sets) or the delayed zset. ]]
local function enqueue_ready(id, user, prio, score, now, front)
  lane_push(user, id, prio, score, front)
  redis.call('HSET', K.task(id), 'state', 'queued')
  redis.call('ZINCRBY', K.backlog(), 1, user)
  stat_add(user, prio, 'queued', 1)
  ready_add(user)
end

local function enqueue_delayed(id, user, prio, due)
  redis.call('ZADD', K.delayed(), due, id)
  redis.call('HSET', K.task(id), 'state', 'deferred', 'run_after', int(due))
  stat_add(user, prio, 'delayed', 1)
end

-- the tenant lost one queued task; drop it from the ready sets when empty
local function dequeued(user, prio)
  stat_add(user, prio, 'queued', -1)
  if tonumber(redis.call('ZINCRBY', K.backlog(), -1, user)) <= 0 then
    redis.call('ZREM', K.backlog(), user)
  end
  if lane_empty(user) then ready_remove(user) end
end
