--[[ push: enqueue a chunk of tasks; idempotent on the task id, so a resend
  after a connection reset creates nothing twice.
  KEYS[1]  prefix (hash-tagged root of every key)
  ARGV[1]  {"aging_ms": int, "tasks": [task, ...]} where task is
           {id, func, user, priority 1..6, payload (JSON text of {args, kwargs}),
            queue, max_retries, max_deliveries, timeout, result_ttl,
            dead_letter, run_after (epoch ms, optional), v}
           unknown task fields are stored as they are.
  Reply    one status per task: 'created' | 'duplicate'
  Clock    Redis TIME (enqueued_at, lane score, due check). ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/fields"
--- @include "lib/stats"
--- @include "lib/record"
--- @include "lib/ready"
--- @include "lib/lanes"
--- @include "lib/enqueue"

local p = params()
local now = now_ms()
local out = {}
for i, t in ipairs(p.tasks) do
  local key = K.task(t.id)
  if redis.call('EXISTS', key) == 1 then
    out[i] = 'duplicate'
  else
    local prio = tonumber(t.priority)
    local score = lane_score(now, prio, p.aging_ms)
    hset_table(key, t)
    redis.call('HSET', key, 'enqueued_at', int(now), 'score', int(score),
      'deliveries', 0, 'failures', 0)
    redis.call('ZADD', K.tenants(), 'NX', now, t.user)
    stat_event(t.user, prio, 'enqueued', now)
    local due = tonumber(opt(t.run_after, 0))
    if due > now then
      enqueue_delayed(t.id, t.user, prio, due)
      history_add(t.id, now, 'deferred', {reason = 'run_after'})
    else
      enqueue_ready(t.id, t.user, prio, score, now, false)
      history_add(t.id, now, 'queued')
    end
    out[i] = 'created'
  end
end
return out
