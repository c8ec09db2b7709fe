--[[ set_worker_config: store (or delete) one worker's configuration and rebuild its
  ready sets from the tenants that have work now. A disabled worker keeps its
  stored configuration but serves nobody (pop answers 'disabled'), so its
  tenants count as orphaned unless another worker serves them.
  Cost: the size of the old and new tenant lists.
  KEYS[1]  prefix
  ARGV[1]  {"worker", "delete": bool, "enabled": bool, "assigned": [user, ...],
            "steal": [user, ...], "steal_all": bool (steal target "*"),
            "concurrency", "poll_interval", "lease_seconds": numbers, each optional
            (stored for the worker to follow; WorkerSettings.from_fields reads them)}
  Reply    {'ok'} ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/fields"

local p = params()
local w = p.worker
local cfg = K.worker_cfg(w)
local tiers = {assigned = K.ready_assigned(w), steal = K.ready_steal(w)}
local old = redis.call('HMGET', cfg, 'assigned', 'steal')
for i, name in ipairs({'assigned', 'steal'}) do
  for _, user in ipairs(cjson.decode(old[i] or '[]')) do
    redis.call('SREM', K.tsets(user), tiers[name])
  end
end
redis.call('DEL', cfg, tiers.assigned, tiers.steal)
redis.call('SREM', K.steal_all, w)
if opt(p.delete, false) then
  redis.call('SREM', K.configured, w)
  return {'ok'}
end

local enabled, steal_all = opt(p.enabled, true), opt(p.steal_all, false)
for _, name in ipairs({'concurrency', 'poll_interval', 'lease_seconds'}) do
  if opt(p[name], nil) ~= nil then redis.call('HSET', cfg, name, field_str(p[name])) end
end
redis.call('HSET', cfg, 'enabled', enabled and '1' or '0', 'steal_all', steal_all and '1' or '0',
  'assigned', cjson.encode(p.assigned), 'steal', cjson.encode(p.steal), 'updated_at', int(now_ms()))
redis.call('SADD', K.configured, w)
if not enabled then return {'ok'} end
if steal_all then redis.call('SADD', K.steal_all, w) end
for _, name in ipairs({'assigned', 'steal'}) do
  for _, user in ipairs(p[name]) do
    redis.call('SADD', K.tsets(user), tiers[name])
    if redis.call('ZSCORE', K.ready_all, user) then
      redis.call('ZADD', tiers[name], 0, user)
    end
  end
end
return {'ok'}
