--[[ repair_waiting: tasks waiting on dependencies that a lost release left waiting
  (a dependency record whose dependents flag went in a partial restore or a hand
  edit, so its ack released nothing). For each entry of the waiting set: a
  dependency that has succeeded is crossed off, and a task left with none is
  released as an ack would have; an entry whose record is not waiting any more
  leaves the set. Dependencies that are gone are reported, not guessed at.
  Bounded: `limit` entries from `offset`; the caller repeats until done.
  KEYS[1]  prefix
  ARGV[1]  {"offset": int, "limit": int, "dry_run": bool}
  Reply    {examined, released, crossed off, stale entries removed, waiting on a missing dependency} ]]
--- @include "lib/deps"

local p = params()
local now = now_ms()
local dry = opt(p.dry_run, false)
local ids = redis.call('ZRANGE', K.waiting, p.offset, p.offset + p.limit - 1)
local released, crossed, stale, missing = 0, 0, 0, 0
for _, id in ipairs(ids) do
  if redis.call('HGET', K.task(id), 'state') ~= 'deferred' then
    stale = stale + 1
    if not dry then
      redis.call('ZREM', K.waiting, id)
      deps_unregister(id)
    end
  else
    local waits = K.deps_waiting(id)
    local left, gone = 0, false
    for _, dep in ipairs(redis.call('SMEMBERS', waits)) do
      local state = redis.call('HGET', K.task(dep), 'state')
      if state == 'succeeded' then
        crossed = crossed + 1
        if not dry then
          redis.call('SREM', waits, dep)
          redis.call('SREM', K.deps_blocked(dep), id)
        end
      else
        left = left + 1
        if not state then gone = true end
      end
    end
    if gone then missing = missing + 1 end
    if left > 0 and not dry then redis.call('HSET', K.task(id), 'waiting', left) end
    if left == 0 then
      released = released + 1
      if not dry then release_waiter(id, now) end
    end
  end
end
return flush({#ids, released, crossed, stale, missing})
