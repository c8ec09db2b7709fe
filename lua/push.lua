--[[ push: enqueue a chunk of tasks; idempotent on the task id, so a resend
  after a connection reset creates nothing twice.
  KEYS[1]  prefix (hash-tagged root of every key)
  ARGV[1]  {"aging_ms": int, "require_registered": bool, "tasks": [task, ...],
            "pipeline": {id, user, name, ttl} (optional: the tasks are one pipeline run)}
           where task is an object of
           string values: {id, func, user, priority "1".."6", payload (JSON
           text of {args, kwargs}), max_retries, max_deliveries, result_ttl,
           and when not default: queue, timeout, dead_letter "0", run_after
           (epoch ms), v, depends_on (JSON text of task ids: existing ones or
           tasks earlier in this call), on_dep_fail 'block', pipeline, step};
           unknown fields are stored as they are.
           "base" (optional): fields every task of the call has unless it sets them itself
           (push_each sends a task's options once, each task only its id and payload).
  Reply    one status per task: 'created' | 'duplicate'; or, nothing written:
           {'unknown_tenant', user} (with require_registered) or
           {'unknown_dependency', task id, dependency id}
  Clock    Redis TIME (enqueued_at, lane score, due check).
  Cost     per task: EXISTS + one HSET + one lane write; counters, backlog and
           ready sets once per tenant per call. ]]
--- @include "lib/push"

local p = params()
if p.base then  -- push_each: the fields its tasks share, sent once; read through (lib/push)
  local shared = {__index = p.base}
  for _, t in ipairs(p.tasks) do setmetatable(t, shared) end
end
if opt(p.require_registered, false) then
  for _, t in ipairs(p.tasks) do
    if redis.call('SISMEMBER', K.registered, t.user) == 0 then return {'unknown_tenant', t.user} end
  end
end
local task_id, dep = unknown_dependency(p.tasks)
if task_id then return {'unknown_dependency', task_id, dep} end
local now = now_ms()
if p.pipeline then pipeline_create(p.pipeline, p.tasks, now) end
local out = {}
for i, t in ipairs(p.tasks) do
  out[i] = push_task(t, now, p.aging_ms)
end
return flush(out)
