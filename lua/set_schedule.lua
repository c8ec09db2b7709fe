--[[ set_schedule: store (or delete) one cron schedule's configuration, as
  the scheduler reads it, and bump the version schedulers watch. A changed
  expression, time zone or start restarts the schedule from now on.
  Configurations and states have namespaces of their own (sched:cfg:<name>,
  sched:state:<name>), so no name reaches sched:all, :version or :leader.
  Keys of the layout before that split (sched:<name>, sched:<name>:state) are
  moved over here, so a `syncqueue` after an upgrade keeps each next fire.
  KEYS[1]  prefix
  ARGV[1]  {"name", "delete": bool, "config": {cron, tz, func, payload, user,
            priority, enabled, policy, start_ms, end_ms, ...} (string values)}
  Reply    {'ok'} ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/fields"

local p = params()
local key, state = K.schedule(p.name), K.schedule_state(p.name)
-- a name whose old keys could be new-layout keys (cfg, state, cfg:..., state:..., fire:...) is not migrated
local n = p.name
local legacy = not (n == 'cfg' or n == 'state' or n:find('^cfg:') or n:find('^state:') or n:find('^fire:'))
local function move_legacy(from, to)
  if redis.call('TYPE', from).ok ~= 'hash' then return end
  if redis.call('EXISTS', to) == 0 then redis.call('RENAME', from, to) else redis.call('DEL', from) end
end
if legacy then
  move_legacy(P .. ':sched:' .. n .. ':state', state)
  move_legacy(P .. ':sched:' .. n, key)
end
local old = redis.call('HMGET', key, 'cron', 'tz', 'start_ms')
redis.call('DEL', key)
if opt(p.delete, false) then
  redis.call('SREM', K.schedules, p.name)
  redis.call('DEL', state)
else
  hset_table(key, p.config)
  redis.call('SADD', K.schedules, p.name)
  local function changed(before, now) return (before or '') ~= opt(now, '') end
  if changed(old[1], p.config.cron) or changed(old[2], p.config.tz) or changed(old[3], p.config.start_ms) then
    redis.call('HDEL', state, 'next_ms')
  end
end
redis.call('INCR', K.schedules_version)
return {'ok'}
