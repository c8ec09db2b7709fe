--[[ set_tenant: a registered tenant's weight (share of service) and paused
  flag, or its removal from the registered set. A paused tenant leaves every
  ready set (its tasks stay queued); resuming puts it back when it has work.
  A removed tenant's tasks keep being served as unregistered (weight 1).
  KEYS[1]  prefix
  ARGV[1]  {"user", "weight": number >= 1, "paused": bool, "delete": bool,
            "max_running": int >= 1 (absent: no cap), "rate": tasks/s > 0 and "burst": int >= 1
            (absent: no rate limit)}. Caps live beside the weight (lib/limits); a change lets a
            held tenant go at once (the next pop holds it again if it is still at its limit).
  Reply    {'ok'} ]]
--- @include "lib/fields"
--- @include "lib/ready"
--- @include "lib/lanes"
--- @include "lib/stats"
--- @include "lib/limits"

local p = params()
local deleting = opt(p.delete, false)
local weight = tonumber(opt(p.weight, 1))
if deleting then
  redis.call('SREM', K.registered, p.user)
  -- time-fair's average (lib/charge), the caps and the token bucket (lib/limits)
  redis.call('HDEL', K.weights, p.user .. '|cost', p.user .. '|cap', p.user .. '|rate', p.user .. '|tb')
  redis.call('DEL', K.subs(p.user))  -- the sub-keys' tags (lib/subkeys)
else
  redis.call('SADD', K.registered, p.user)
  redis.call('ZADD', K.tenants_lex, 'NX', 0, p.user)
end
if deleting or weight == 1 then
  redis.call('HDEL', K.weights, p.user)
else
  redis.call('HSET', K.weights, p.user, field_str(weight))
end
if not deleting then
  local cap, rate = opt(p.max_running, nil), opt(p.rate, nil)
  if cap then redis.call('HSET', K.weights, p.user .. '|cap', int(cap))
  else redis.call('HDEL', K.weights, p.user .. '|cap') end
  if rate then
    local value = field_str(rate) .. ':' .. int(opt(p.burst, math.max(1, math.ceil(rate))))
    if redis.call('HGET', K.weights, p.user .. '|rate') ~= value then
      redis.call('HSET', K.weights, p.user .. '|rate', value)
      redis.call('HDEL', K.weights, p.user .. '|tb')  -- a new limit starts with a full bucket
    end
  else
    redis.call('HDEL', K.weights, p.user .. '|rate', p.user .. '|tb')
  end
end
-- look again with the new limits: still at its cap (or out of tokens) it stays held
local wait, cap = false, false
if not deleting then wait, cap = limit_wait(p.user, tenant_cfg(p.user), now_ms()) end
if wait then hold(p.user, wait, cap) else
  redis.call('ZREM', K.held, p.user)
  redis.call('SREM', K.running_of(p.user), CAP_MARK)
end
if opt(p.paused, false) and not deleting then
  redis.call('SADD', K.paused, p.user)
  ready_remove(p.user)
else
  redis.call('SREM', K.paused, p.user)
  -- the lanes, not a counter; a no-op when ready, or when still held
  if lane_count(p.user) > 0 then ready_add(p.user) end
end
return {'ok'}
