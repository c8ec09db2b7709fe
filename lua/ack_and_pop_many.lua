--[[ ack_and_pop_many: one call per round of a worker with many slots: ack every
  task finished since its last call, then lease up to n tasks for its free
  slots. Each pop advances the served tenant's virtual time (lib/pop), so n
  pops rotate over the tenants with work, exactly as n single pops would.
  A refused ack (stale lease, task gone) does not stop the others or the
  pops: the worker reads every status, so no popped task is dropped.
  KEYS[1]  prefix
  ARGV[1]  {"acks": [<ack.lua params>, ...], "pop": <pop.lua params but the token>,
            "tokens": [one lease token per slot to fill]}
  Reply    {{ack status, ...}, pop status, {field, value, ...}, ...}: pop status
           'ok' (one record per leased task follows), 'empty' or 'disabled'
  Clock    Redis TIME (finished_at, lease deadlines). ]]
--- @include "lib/outcome"
--- @include "lib/pop"

local p = params()
local now = now_ms()
local acked = {}
for i, a in ipairs(p.acks) do acked[i] = ack_task(a, now) end
local reply = {acked, 'empty'}
local tiers = (#p.tokens > 0) and worker_tiers(p.pop.worker)
if tiers == nil then reply[2] = 'disabled' end
for _, token in ipairs(tiers and p.tokens or {}) do
  p.pop.token = token
  local r = pop_task(p.pop, now, tiers)
  if r[1] ~= 'ok' then break end
  reply[2] = 'ok'
  table.remove(r, 1)
  reply[#reply + 1] = r
end
return flush(reply)
