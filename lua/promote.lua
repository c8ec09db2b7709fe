--[[ promote: move due delayed tasks (run_after, retry backoff) into their
  lanes, ordered by their due time. Idempotent and bounded per call.
  KEYS[1]  prefix
  ARGV[1]  {"limit": max tasks moved, "aging_ms": int}
  Reply    number of tasks moved
  Clock    Redis TIME. ]]
--- @include "lib/enqueue"
--- @include "lib/record"

local p = params()
local now = now_ms()
local moved = 0
local due = redis.call('ZRANGE', K.delayed, '-inf', now, 'BYSCORE', 'LIMIT', 0, p.limit, 'WITHSCORES')
for i = 1, #due, 2 do
  local id = due[i]
  redis.call('ZREM', K.delayed, id)
  local rec = record_core(id)
  if rec and rec.state == 'deferred' then
    stat_add(rec.user, rec.prio, 'delayed', -1)
    local score = sub_score(rec.user, rec.subkey, tonumber(due[i + 1]), rec.prio, p.aging_ms)
    redis.call('HSET', K.task(id), 'score', int(score))
    enqueue_ready(id, rec.user, rec.prio, score, false, now)
    history_add(id, now, 'queued', {reason = 'due'})
    moved = moved + 1
  end
end
return flush(moved)
