--[[ dlq_delete: remove dead letters for good, whatever state their record is in
  (unreadable, or gone with only its DLQ entry left). Its dependents, which
  could only wait for it to be requeued, are cancelled (dependency_failed).
  KEYS[1]  prefix
  ARGV[1]  {"ids": [id, ...], "user": the tenant filter the ids were listed under (optional)}
  Reply    {deleted count, skipped id, ...} (skipped: not a dead letter) ]]
--- @include "lib/dead"

local p = params()
local now = now_ms()
local reply = {0}
for _, id in ipairs(p.ids) do
  local rec = dlq_take(id, opt(p.user, nil))
  if not rec then
    reply[#reply + 1] = id
  else
    local v = redis.call('HMGET', K.task(id), 'pipeline', 'dependents')
    if v[2] then dependents_settle(id, 'deleted', now) end
    if v[1] then
      pipeline_count(v[1], 'dead', -1, now)
      pipeline_count(v[1], 'deleted', 1, now)
    end
    redis.call('DEL', K.task(id))
    stat_event(rec.user, rec.prio, 'deleted', now)
    reply[1] = reply[1] + 1
  end
end
return flush(reply)
