--[[ set_tenant: a registered tenant's weight (share of service) and paused
  flag, or its removal from the registered set. A paused tenant leaves every
  ready set (its tasks stay queued); resuming puts it back when it has work.
  A removed tenant's tasks keep being served as unregistered (weight 1).
  KEYS[1]  prefix
  ARGV[1]  {"user", "weight": number >= 1, "paused": bool, "delete": bool}
  Reply    {'ok'} ]]
--- @include "lib/fields"
--- @include "lib/ready"
--- @include "lib/lanes"
--- @include "lib/stats"

local p = params()
local deleting = opt(p.delete, false)
local weight = tonumber(opt(p.weight, 1))
if deleting then
  redis.call('SREM', K.registered, p.user)
  redis.call('HDEL', K.weights, p.user .. '|cost')  -- time-fair's average (lib/charge)
else
  redis.call('SADD', K.registered, p.user)
  redis.call('ZADD', K.tenants_lex, 'NX', 0, p.user)
end
if deleting or weight == 1 then
  redis.call('HDEL', K.weights, p.user)
else
  redis.call('HSET', K.weights, p.user, field_str(weight))
end
if opt(p.paused, false) and not deleting then
  redis.call('SADD', K.paused, p.user)
  ready_remove(p.user)
elseif redis.call('SREM', K.paused, p.user) == 1 and lane_count(p.user) > 0 then  -- the lanes, not a counter
  ready_add(p.user)
end
return {'ok'}
