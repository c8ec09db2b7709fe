--[[ tenant_apply: a tenant's weight (share of service) and paused flag. A
  paused tenant leaves every ready set (its tasks stay queued); resuming puts
  it back when it has work.
  KEYS[1]  prefix
  ARGV[1]  {"user", "weight": number >= 1, "paused": bool}
  Reply    {'ok'} ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/fields"
--- @include "lib/stats"
--- @include "lib/record"
--- @include "lib/ready"
--- @include "lib/lanes"

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
elseif redis.call('SREM', K.paused(), p.user) == 1 and not lane_empty(p.user) then
  ready_add(p.user)
end
return {'ok'}
