--[[ cancel: the one routine that stops a queued or deferred task (also one waiting on
  dependencies) before it runs; its dependents are cancelled or keep blocking (lib/deps).
  Shared by cancel.lua and pipeline_cancel.lua. ]]
--- @include "lib/enqueue"
--- @include "lib/record"
--- @include "lib/deps"

-- nil when cancelled, else {'not_found'} | {'invalid_state', state}
local function cancel_task(id, now)
  local rec = record_core(id)
  if not rec then return {'not_found'} end
  if rec.state == 'queued' then
    -- a record too broken to name its lane cannot be taken out of it: the next pop dead-letters it
    if not rec.user or not rec.prio then return {'invalid_state', 'unreadable'} end
    if lane_remove(rec.user, id, rec.prio) == 0 then return {'invalid_state', rec.state} end
    dequeued(rec.user, rec.prio)
  elseif rec.state == 'deferred' and rec.user and rec.prio and not redis.call('ZSCORE', K.delayed, id) then
    -- waiting on dependencies (or a deferred record in no set at all, after a hand edit: cancelled too)
    cancel_waiter(id, waiter(id), nil, nil, now)
    if redis.call('HGET', K.task(id), 'dependents') then dependents_settle(id, 'failed', now) end
    return nil
  elseif rec.state == 'deferred' then
    if redis.call('ZREM', K.delayed, id) == 0 then return {'invalid_state', rec.state} end
    stat_add(rec.user, rec.prio, 'delayed', -1)
  else
    return {'invalid_state', rec.state}
  end
  local key = K.task(id)
  local v = redis.call('HMGET', key, 'pipeline', 'dependents', 'result_ttl')
  if v[2] then dependents_settle(id, 'failed', now) end
  pipeline_count(v[1], 'cancelled', 1, now)
  redis.call('HSET', key, 'state', 'cancelled', 'finished_at', int(now))
  redis.call('EXPIRE', key, tonumber(v[3]) or DEFAULT_RESULT_TTL)
  stat_event(rec.user, rec.prio, 'cancelled', now)
  history_add(id, now, 'cancelled')
  return nil
end
