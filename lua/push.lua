--[[ push: enqueue a chunk of tasks; idempotent on the task id, so a resend
  after a connection reset creates nothing twice.
  KEYS[1]  prefix (hash-tagged root of every key)
  ARGV[1]  {"aging_ms": int, "tasks": [task, ...]} where task is
           {id, func, user, priority 1..6, payload (JSON text of {args, kwargs}),
            queue, max_retries, max_deliveries, timeout, result_ttl,
            dead_letter, run_after (epoch ms, optional), v}
           unknown task fields are stored as they are.
  Reply    one status per task: 'created' | 'duplicate'
  Clock    Redis TIME (enqueued_at, lane score, due check).
  Cost     per task: EXISTS + one HSET + one lane write; counters, backlog and
           ready sets once per tenant per call. ]]
--- @include "lib/fields"
--- @include "lib/record"
--- @include "lib/enqueue"

local p = params()
local now = now_ms()
local out = {}
local seen = {}
for i, t in ipairs(p.tasks) do
  local key = K.task(t.id)
  if redis.call('EXISTS', key) == 1 then
    out[i] = 'duplicate'
  else
    local user, prio = t.user, tonumber(t.priority)
    local score = lane_score(now, prio, p.aging_ms)
    local due = tonumber(opt(t.run_after, 0))
    local delayed = due > now
    t.enqueued_at, t.score, t.deliveries, t.failures = now, score, 0, 0
    t.state = delayed and 'deferred' or 'queued'
    history_push(t, now, t.state, delayed and {reason = 'run_after'} or nil)
    hset_table(key, t)
    if not seen[user] then
      seen[user] = true
      redis.call('ZADD', K.tenants(), 'NX', now, user)
    end
    stat_event(user, prio, 'enqueued', now)
    if delayed then
      place_delayed(t.id, user, prio, due)
    else
      place_ready(t.id, user, prio, score, false)
    end
    out[i] = 'created'
  end
end
return flush(out)
