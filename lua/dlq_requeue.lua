--[[ dlq_requeue: dead letters (and tasks that ended 'failed', created with
  dead_letter = 0) go back to their lanes as if new (failures and deliveries
  reset, payload untouched, history kept). Dependents that block on
  a dead letter wait on: its success releases them (lib/deps).
  KEYS[1]  prefix
  ARGV[1]  {"ids": [id, ...], "aging_ms": int, "max_payload": bytes}
  Reply    {requeued count, skipped id, ...} (skipped: not dead, or a record that cannot run:
           unreadable ones stay in the DLQ, to be deleted) ]]
--- @include "lib/enqueue"
--- @include "lib/record"
--- @include "lib/dead"

local FIELDS = {'id', 'func', 'user', 'priority', 'payload'}
local p = params()
local now = now_ms()
local reply = {0}
for _, id in ipairs(p.ids) do
  local v = redis.call('HMGET', K.task(id), unpack(FIELDS))
  local fields = {}
  for i, name in ipairs(FIELDS) do fields[name] = v[i] or nil end
  local ok = fields.id and not record_problem(fields, opt(p.max_payload, nil))
  local rec, was = nil, 'dead'
  if ok and redis.call('HGET', K.task(id), 'state') == 'failed' then  -- ended without the DLQ: retried too
    rec, was = record_core(id), 'failed'
    redis.call('PERSIST', K.task(id))
  elseif ok then
    rec = dlq_take(id, nil)
  end
  if not rec then
    reply[#reply + 1] = id
  else
    local key = K.task(id)
    local score = lane_score(now, rec.prio, p.aging_ms)
    redis.call('HSET', key, 'failures', 0, 'deliveries', 0, 'score', int(score))
    redis.call('HDEL', key, 'dead_reason', 'finished_at', 'worker')
    enqueue_ready(id, rec.user, rec.prio, score, false, now)
    stat_event(rec.user, rec.prio, 'requeued', now)
    pipeline_count(redis.call('HGET', key, 'pipeline'), was, -1, now)
    history_add(id, now, 'queued', {reason = 'requeued'})
    reply[1] = reply[1] + 1
  end
end
return flush(reply)
