--[[ dlq_delete: remove dead letters for good, whatever state their record is in
  (unreadable, or gone with only its DLQ entry left).
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
    redis.call('DEL', K.task(id))
    stat_event(rec.user, rec.prio, 'deleted', now)
    reply[1] = reply[1] + 1
  end
end
return flush(reply)
