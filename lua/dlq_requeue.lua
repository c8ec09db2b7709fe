--[[ dlq_requeue: dead letters (and tasks that ended 'failed', created with
  dead_letter = 0) go back to their lanes as if new (failures and deliveries
  reset, payload untouched, history kept). Dependents that block on
  a dead letter wait on: its success releases them (lib/deps). A requeued task
  with dependencies (one purged while it waited) waits again for those that
  have not succeeded, or is cancelled if one has ended without success.
  KEYS[1]  prefix
  ARGV[1]  {"ids": [id, ...], "aging_ms": int, "max_payload": bytes}
  Reply    {requeued count, skipped id, ...} (skipped: not dead, or a record that cannot run:
           unreadable ones stay in the DLQ, to be deleted) ]]
--- @include "lib/enqueue"
--- @include "lib/record"
--- @include "lib/dead"
--- @include "lib/deps"

local FIELDS = {'id', 'func', 'user', 'priority', 'payload'}
local p = params()
local now = now_ms()
local reply = {0}
for _, id in ipairs(p.ids) do
  local v = redis.call('HMGET', K.task(id), unpack(FIELDS))
  local fields = {}
  for i, name in ipairs(FIELDS) do fields[name] = v[i] or nil end
  local ok = fields.id and not record_problem(fields, opt(p.max_payload, nil), true)
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
    local score = sub_score(rec.user, rec.subkey, now, rec.prio, p.aging_ms)
    redis.call('HSET', key, 'failures', 0, 'deliveries', 0, 'score', int(score))
    redis.call('HDEL', key, 'dead_reason', 'finished_at', 'worker')
    stat_event(rec.user, rec.prio, 'requeued', now)
    local w = redis.call('HMGET', key, 'pipeline', 'depends_on', 'on_dep_fail')
    pipeline_count(w[1], was, -1, now)
    -- a task dead-lettered while it waited (purge) waits again for what has not succeeded yet
    local how, n = 'ready', 0
    if w[2] then how, n = deps_register(id, cjson.decode(w[2]), w[3] == 'block', {}) end
    if how == 'waiting' then
      redis.call('HSET', key, 'state', 'deferred', 'waiting', n)
      redis.call('ZADD', K.waiting, now, id)
      stat_add(rec.user, rec.prio, 'waiting', 1)
      history_add(id, now, 'deferred', {reason = 'requeued', waiting = n})
    elseif how == 'failed' then  -- a dependency has ended without success since
      end_cancelled(id, rec.user, rec.prio, w[1], 'dependency_failed', n, now)
      if redis.call('HGET', key, 'dependents') then dependents_settle(id, 'failed', now) end
    else
      enqueue_ready(id, rec.user, rec.prio, score, false, now)
      history_add(id, now, 'queued', {reason = 'requeued'})
    end
    reply[1] = reply[1] + 1
  end
end
return flush(reply)
