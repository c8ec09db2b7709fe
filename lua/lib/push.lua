--[[ push: create one task from its caller-set fields (an object of string
  values) unless its id exists. Shared by push.lua and fire_schedule.lua. ]]
--- @include "lib/record"
--- @include "lib/enqueue"

local TENANTS_SEEN, FIRST  -- FIRST: the first history entry, per state (now is fixed within a call)
per_call(function() TENANTS_SEEN, FIRST = {}, {} end)

-- 'created' | 'duplicate'
local function push_task(t, now, aging_ms)
  local key = K.task(t.id)
  if redis.call('EXISTS', key) == 1 then return 'duplicate' end
  local user, prio = t.user, tonumber(t.priority)
  local score = lane_score(now, prio, aging_ms)
  local due = tonumber(opt(t.run_after, 0))
  local state = (due > now) and 'deferred' or 'queued'
  local first = FIRST[state]
  if not first then
    first = cjson.encode(state == 'deferred' and {at = now, state = state, reason = 'run_after'}
                         or {at = now, state = state})
    FIRST[state] = first
  end
  local flat = {'enqueued_at', int(now), 'score', int(score), 'state', state, 'history', first, 'history_n', '1'}
  for k, v in pairs(t) do
    flat[#flat + 1] = k
    flat[#flat + 1] = v
  end
  redis.call('HSET', key, unpack(flat))
  stat_event(user, prio, 'enqueued', now)
  local known = false  -- a ready tenant is listed already (it was, when it became ready)
  if state == 'deferred' then
    place_delayed(t.id, user, prio, due)
  else
    known = place_ready(t.id, user, prio, score, false)
  end
  if not known and not TENANTS_SEEN[user] then
    TENANTS_SEEN[user] = true
    redis.call('ZADD', K.tenants, 'NX', now, user)
    redis.call('ZADD', K.tenants_lex, 'NX', 0, user)
  end
  return 'created'
end
