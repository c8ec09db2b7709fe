--[[ schedule_apply: store (or delete) one cron schedule's configuration, as
  the scheduler reads it, and bump the version schedulers watch. A changed
  expression, time zone or start restarts the schedule from now on.
  KEYS[1]  prefix
  ARGV[1]  {"name", "delete": bool, "config": {cron, tz, func, payload, user,
            priority, enabled, policy, start_ms, end_ms, ...} (string values)}
  Reply    {'ok'} ]]
--- @include "lib/keys"
--- @include "lib/util"

local p = params()
local key = K.schedule(p.name)
local old = redis.call('HMGET', key, 'cron', 'tz', 'start_ms')
redis.call('DEL', key)
if opt(p.delete, false) then
  redis.call('SREM', K.schedules, p.name)
  redis.call('DEL', K.schedule_state(p.name))
else
  local flat = {}
  for k, v in pairs(p.config) do
    flat[#flat + 1] = k
    flat[#flat + 1] = v
  end
  redis.call('HSET', key, unpack(flat))
  redis.call('SADD', K.schedules, p.name)
  local function changed(before, now) return (before or '') ~= opt(now, '') end
  if changed(old[1], p.config.cron) or changed(old[2], p.config.tz) or changed(old[3], p.config.start_ms) then
    redis.call('HDEL', K.schedule_state(p.name), 'next_ms')
  end
end
redis.call('INCR', K.schedules_version)
return {'ok'}
