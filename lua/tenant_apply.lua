--[[ tenant_apply: a tenant's weight (share of service) and paused flag. A
  paused tenant leaves every ready set (its tasks stay queued); resuming puts
  it back when it has work.
  KEYS[1]  prefix
  ARGV[1]  {"user", "weight": number >= 1, "paused": bool}
  Reply    {'ok'} ]]
--- @include "lib/fields"
--- @include "lib/ready"
--- @include "lib/lanes"
--- @include "lib/stats"

local p = params()
local weight = tonumber(opt(p.weight, 1))
if weight == 1 then
  redis.call('HDEL', K.weights(), p.user)
else
  redis.call('HSET', K.weights(), p.user, field_str(weight))
end
if opt(p.paused, false) then
  redis.call('SADD', K.paused(), p.user)
  ready_remove(p.user)
elseif redis.call('SREM', K.paused(), p.user) == 1
  and tonumber(redis.call('ZSCORE', K.backlog(), p.user) or '0') > 0 then
  ready_add(p.user)
end
return {'ok'}
