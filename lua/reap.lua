--[[ reap: return expired leases. The task goes back to the head of its lane,
  or to the DLQ (reason lease_expired) once it has been delivered
  max_deliveries times: a task that kills its worker cannot loop forever.
  Idempotent and bounded per call; any worker may run it. Also takes up to 20
  expired pipeline runs out of the indexes (lib/deps pipelines_prune), and
  rewrites when the earliest hold is due (lib/limits due_resync).
  KEYS[1]  prefix
  ARGV[1]  {"limit": max leases handled}
  Reply    {requeued count, dead-lettered count}
  Clock    Redis TIME. ]]
--- @include "lib/enqueue"
--- @include "lib/lease"
--- @include "lib/dead"
--- @include "lib/deps"
--- @include "lib/limits"

local p = params()
local now = now_ms()
local requeued, dead = 0, 0
local ids = redis.call('ZRANGE', K.running, '-inf', now, 'BYSCORE', 'LIMIT', 0, p.limit)
for _, id in ipairs(ids) do
  local rec = record_core(id)
  if not rec or rec.state ~= 'running' then
    redis.call('ZREM', K.running, id)
  else
    lease_end(id, rec.user, rec.prio, rec.capped)
    stat_event(rec.user, rec.prio, 'expired', now)
    local v = redis.call('HMGET', K.task(id), 'deliveries', 'max_deliveries')
    if tonumber(v[1] or '0') >= tonumber(v[2] or '1') then
      error_add(id, cjson.encode({type = 'fairqueue.LeaseExpired', traceback = '', message =
        'the lease expired on each of its ' .. (v[1] or '?') .. ' deliveries (max_deliveries): its worker '
        .. 'died or hung every time, so it was dead-lettered instead of run again'}))
      dead_letter(id, rec.user, rec.prio, 'lease_expired', now)
      dead = dead + 1
    else
      enqueue_ready(id, rec.user, rec.prio, rec.score, true, now)
      history_add(id, now, 'queued', {reason = 'lease_expired'})
      requeued = requeued + 1
    end
  end
end
pipelines_prune(now, 20)
due_resync()  -- lib/limits
return flush({requeued, dead})
