--[[ dlq_requeue: dead letters go back to their lanes as if new (failures and
  deliveries reset, payload untouched, history kept).
  KEYS[1]  prefix
  ARGV[1]  {"ids": [id, ...], "aging_ms": int}
  Reply    {requeued count, skipped id, ...} (skipped: not dead / gone, or a
           stub without a tenant or priority to queue it under) ]]
--- @include "lib/enqueue"
--- @include "lib/record"

local p = params()
local now = now_ms()
local reply = {0}
for _, id in ipairs(p.ids) do
  local rec = record_core(id)
  if not rec or rec.state ~= 'dead' or not rec.user or not rec.prio then
    reply[#reply + 1] = id
  else
    local key = K.task(id)
    redis.call('ZREM', K.dlq, id)
    redis.call('ZREM', K.dlq_user(rec.user), id)
    stat_add(rec.user, rec.prio, 'dead', -1)
    local score = lane_score(now, rec.prio, p.aging_ms)
    redis.call('HSET', key, 'failures', 0, 'deliveries', 0, 'score', int(score))
    redis.call('HDEL', key, 'dead_reason', 'finished_at', 'worker')
    enqueue_ready(id, rec.user, rec.prio, score, false, now)
    stat_event(rec.user, rec.prio, 'requeued', now)
    history_add(id, now, 'queued', {reason = 'requeued'})
    reply[1] = reply[1] + 1
  end
end
return flush(reply)
