--[[ enqueue: the one routine that puts a task where it belongs: its tenant's
  lane (and the tenant into the ready sets) or the delayed zset. place_*
  leave the record alone (push writes it whole); enqueue_* also set the state. ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/stats"
--- @include "lib/lanes"
--- @include "lib/ready"
--- @include "lib/charge"
--- @include "lib/limits"
--- @include "lib/subkeys"
-- true when the tenant was ready already
local function place_ready(id, user, prio, score, front)
  lane_push(user, id, prio, score, front)
  stat_add(user, prio, 'queued', 1)
  return ready_add(user)
end

local function place_delayed(id, user, prio, due)
  redis.call('ZADD', K.delayed, due, id)
  stat_add(user, prio, 'delayed', 1)
end

local function enqueue_ready(id, user, prio, score, front, now)
  place_ready(id, user, prio, score, front)
  redis.call('HSET', K.task(id), 'state', 'queued', 'ready_at', int(now))
end

-- the last finished tasks of a tenant, newest first (for its page)
local RECENT_MAX = 50
local function recent_add(user, id)
  local key = K.recent(user)
  if redis.call('LPUSH', key, id) > RECENT_MAX + 10 then  -- trim in steps: one call per ack, mostly
    redis.call('LTRIM', key, 0, RECENT_MAX - 1)
  end
end

local function enqueue_delayed(id, user, prio, due)
  place_delayed(id, user, prio, due)
  redis.call('HSET', K.task(id), 'state', 'deferred', 'run_after', int(due))
end

-- one queued task of `user` left its lane (pop, cancel, purge): the tenant
-- stays ready exactly while its lanes hold work (counted, not trusted to a counter)
local function dequeued(user, prio, crit_empty)
  stat_add(user, prio, 'queued', -1)
  if backlog_sync(user, crit_empty) then ready_remove(user) end
end

-- write what the script summed up; every command script ends with this
local function flush(reply)
  charge_flush()
  subs_flush()
  stats_flush()
  backlog_flush()
  return reply
end
