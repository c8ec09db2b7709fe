--[[ cancel: a queued or deferred task will not run. Running and finished
  tasks are refused with their state.
  KEYS[1]  prefix
  ARGV[1]  {"id"}
  Reply    {'ok'} | {'not_found'} | {'invalid_state', state} ]]
--- @include "lib/enqueue"
--- @include "lib/record"

local p = params()
local now = now_ms()
local rec = record_core(p.id)
if not rec then return {'not_found'} end
if rec.state == 'queued' then
  -- a record too broken to name its lane cannot be taken out of it: the next pop dead-letters it
  if not rec.user or not rec.prio then return {'invalid_state', 'unreadable'} end
  if lane_remove(rec.user, p.id, rec.prio) == 0 then return {'invalid_state', rec.state} end
  dequeued(rec.user, rec.prio)
elseif rec.state == 'deferred' then
  if redis.call('ZREM', K.delayed, p.id) == 0 then return {'invalid_state', rec.state} end
  stat_add(rec.user, rec.prio, 'delayed', -1)
else
  return {'invalid_state', rec.state}
end
local key = K.task(p.id)
redis.call('HSET', key, 'state', 'cancelled', 'finished_at', int(now))
redis.call('EXPIRE', key, tonumber(redis.call('HGET', key, 'result_ttl')) or DEFAULT_RESULT_TTL)
stat_event(rec.user, rec.prio, 'cancelled', now)
history_add(p.id, now, 'cancelled')
return flush({'ok'})
