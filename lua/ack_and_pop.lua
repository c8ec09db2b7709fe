--[[ ack_and_pop: ack one task and pop the next in one call, so a busy worker needs
  one round trip per task. Pops only when the ack succeeded: a worker whose ack
  is refused (stale lease, task gone) raises and drops the reply, so a task
  leased in the same call would sit unrun until its lease expired.
  KEYS[1]  prefix
  ARGV[1]  {"ack": <ack.lua params>, "pop": <pop.lua params>}
  Reply    {ack status, pop status, field, value, ...}; {ack status, 'empty'} when the ack failed ]]
--- @include "lib/outcome"
--- @include "lib/pop"

local p = params()
local now = now_ms()
local acked = ack_task(p.ack, now)
local reply = (acked == 'ok') and pop_task(p.pop, now) or {'empty'}
table.insert(reply, 1, acked)
return flush(reply)
