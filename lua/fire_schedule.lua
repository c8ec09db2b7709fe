--[[ fire_schedule: the due fires of one schedule, atomically: each fire is
  enqueued only if its idempotency key is new (SET NX), so two schedulers that
  both think they lead still enqueue one task per due time. Then the
  schedule's state moves on (next fire, skipped count, last task).
  KEYS[1]  prefix
  ARGV[1]  {"name", "next_ms": int (omitted: unchanged, e.g. run now), "skipped": int,
            "require_registered": bool (fires for unregistered tenants are refused), "key_ttl_ms": int, "aging_ms": int,
            "fires": [{"key": fire key, "at_ms": int, "task": <push task>}, ...]}
  Reply    {fired count, duplicate count, refused count} ]]
--- @include "lib/push"

local p = params()
local now = now_ms()
local fired, dup, refused = 0, 0, 0
local state = K.schedule_state(p.name)
for _, f in ipairs(p.fires) do
  if opt(p.require_registered, false) and redis.call('SISMEMBER', K.registered, f.task.user) == 0 then
    refused = refused + 1
  elseif redis.call('SET', K.fire(f.key), f.task.id, 'NX', 'PX', p.key_ttl_ms) then
    push_task(f.task, now, p.aging_ms)
    redis.call('HSET', state, 'last_fire_ms', int(f.at_ms), 'last_task_id', f.task.id, 'last_key', f.key)
    fired = fired + 1
  else
    dup = dup + 1
  end
end
if opt(p.next_ms, nil) then redis.call('HSET', state, 'next_ms', int(p.next_ms)) end
if p.skipped > 0 then redis.call('HINCRBY', state, 'skipped', p.skipped) end
return flush({fired, dup, refused})
