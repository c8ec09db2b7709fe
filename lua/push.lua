--[[ push: enqueue a chunk of tasks; idempotent on the task id, so a resend
  after a connection reset creates nothing twice.
  KEYS[1]  prefix (hash-tagged root of every key)
  ARGV[1]  {"aging_ms": int, "require_registered": bool, "tasks": [task, ...]}
           where task is an object of
           string values: {id, func, user, priority "1".."6", payload (JSON
           text of {args, kwargs}), max_retries, max_deliveries, result_ttl,
           and when not default: queue, timeout, dead_letter "0", run_after
           (epoch ms), v}; unknown fields are stored as they are.
  Reply    one status per task: 'created' | 'duplicate'; or, with
           require_registered, {'unknown_tenant', user} and nothing written
  Clock    Redis TIME (enqueued_at, lane score, due check).
  Cost     per task: EXISTS + one HSET + one lane write; counters, backlog and
           ready sets once per tenant per call. ]]
--- @include "lib/record"
--- @include "lib/enqueue"

local p = params()
if opt(p.require_registered, false) then
  for _, t in ipairs(p.tasks) do
    if redis.call('SISMEMBER', K.registered(), t.user) == 0 then return {'unknown_tenant', t.user} end
  end
end
local now = now_ms()
local now_s = int(now)
local first = {queued = cjson.encode({at = now, state = 'queued'}),
               deferred = cjson.encode({at = now, state = 'deferred', reason = 'run_after'})}
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
    local state = (due > now) and 'deferred' or 'queued'
    local flat = {'enqueued_at', now_s, 'score', int(score), 'state', state,
                  'history', first[state], 'history_n', '1'}
    for k, v in pairs(t) do
      flat[#flat + 1] = k
      flat[#flat + 1] = v
    end
    redis.call('HSET', key, unpack(flat))
    if not seen[user] then
      seen[user] = true
      redis.call('ZADD', K.tenants(), 'NX', now, user)
    end
    stat_event(user, prio, 'enqueued', now)
    if state == 'deferred' then
      place_delayed(t.id, user, prio, due)
    else
      place_ready(t.id, user, prio, score, false)
    end
    out[i] = 'created'
  end
end
return flush(out)
