--[[ purge: move queued or deferred tasks to the dead-letter queue with a
  reason (tenant_deleted, purged): up to `limit` tasks from a tenant's lanes,
  or the given ids (deferred ones found by the caller's scan of the delayed
  set, and those waiting on dependencies, from the tenant's waiting set). Bounded per call; the caller repeats until it answers 0.
  KEYS[1]  prefix
  ARGV[1]  {"user", "reason", "limit": int, "ids": [id, ...] (optional)}
  Reply    number of tasks moved ]]
--- @include "lib/enqueue"
--- @include "lib/record"
--- @include "lib/dead"
--- @include "lib/deps"

local p = params()
local now = now_ms()
local moved = 0
local function bury(id, rec)  -- the lane's tenant: a broken record may have lost its user field
  dead_letter(id, p.user, rec.prio, p.reason, now)
  moved = moved + 1
end
local ids = opt(p.ids, nil)
if ids then
  for _, id in ipairs(ids) do
    local rec = record_core(id)
    local was_waiting = rec and rec.user == p.user and redis.call('ZREM', K.waiting, id) == 1
    if rec and rec.user == p.user then
      if rec.state == 'deferred' and was_waiting then
        deps_unregister(id)
        stat_add(rec.user, rec.prio, 'waiting', -1)
        redis.call('HSET', K.task(id), 'waiting', '0')
        bury(id, rec)
      elseif rec.state == 'deferred' and redis.call('ZREM', K.delayed, id) == 1 then
        stat_add(rec.user, rec.prio, 'delayed', -1)
        bury(id, rec)
      elseif rec.state == 'queued' and lane_remove(rec.user, id, rec.prio) == 1 then
        dequeued(rec.user, rec.prio)
        bury(id, rec)
      end
    end
  end
else
  for _ = 1, p.limit do
    local id, from_crit = lane_pop(p.user)
    if not id then break end
    local rec = record_core(id)
    if rec then
      dequeued(p.user, rec.prio, not from_crit)
      bury(id, rec)
    else  -- no record, or one without its state: dead-lettered as such, not dropped
      bury_lane_entry(id, p.user, hgetall_table(K.task(id)), from_crit, now)
      moved = moved + 1
    end
  end
end
return flush(moved)
