--[[ dlq_delete: remove dead letters for good.
  KEYS[1]  prefix
  ARGV[1]  {"ids": [id, ...]}
  Reply    {deleted count, skipped id, ...} (skipped: not dead / gone) ]]
--- @include "lib/stats"
--- @include "lib/record"

local p = params()
local now = now_ms()
local reply = {0}
for _, id in ipairs(p.ids) do
  local rec = record_core(id)
  if not rec or rec.state ~= 'dead' then
    reply[#reply + 1] = id
  else
    redis.call('ZREM', K.dlq, id)
    redis.call('ZREM', K.dlq_user(rec.user), id)
    redis.call('DEL', K.task(id))
    stat_add(rec.user, rec.prio, 'dead', -1)
    stat_event(rec.user, rec.prio, 'deleted', now)
    reply[1] = reply[1] + 1
  end
end
stats_flush()
return reply
