--[[ ack_and_pop_many: one call per round of a worker with many slots: ack every
  task finished since its last call, then lease up to n tasks for its free
  slots. Each pop advances the served tenant's virtual time (lib/pop), so n
  pops rotate over the tenants with work, exactly as n single pops would.
  A refused ack (stale lease, task gone) does not stop the others or the
  pops: the worker reads every status, so no popped task is dropped.
  KEYS[1]  prefix
  ARGV[1]  {"acks": [<ack.lua params>, ...], "pop": <pop.lua params but the token>,
            "n": slots to fill, "token_base": 12 hex digits (lease i's token is the base
            and i in 4 hex digits), "room": {"s": free thread slots, "a": free coroutine
            slots} (optional: without it any task fills any slot; lib/pop no_room)}
  Reply    {{ack status, ...}, pop status, {field, value, ...}, ...}: pop status
           'ok' (one record per leased task follows), 'empty' (then, while a tenant
           is held, ms to the next hold's end: lib/limits empty_reply) or 'disabled'
  Clock    Redis TIME (finished_at, lease deadlines). ]]
--- @include "lib/outcome"
--- @include "lib/pop"

local p = params()
local now = now_ms()
local acked = {}
for i, a in ipairs(p.acks) do acked[i] = ack_task(a, now) end
local reply = {acked, 'empty'}
local tiers = (p.n > 0) and worker_tiers(p.pop.worker)
if tiers == nil then reply[2] = 'disabled' end
for i = 0, (tiers and p.n or 0) - 1 do
  p.pop.token = string.format('%s%04x', p.token_base, i)
  local r = pop_task(p.pop, now, tiers, p.room)
  if r[1] ~= 'ok' then
    if i == 0 then reply[3] = r[2] end
    break
  end
  reply[2] = 'ok'
  table.remove(r, 1)
  reply[#reply + 1] = r
end
return flush(reply)
