--[[ ack_and_pop: ack one task and pop the next in one call, so a busy worker needs
  one round trip per task.
  KEYS[1]  prefix
  ARGV[1]  {"ack": <ack.lua params>, "pop": <pop.lua params>}
  Reply    {ack status, pop status, field, value, ...} ]]
--- @include "lib/outcome"
--- @include "lib/pop"

local p = params()
local now = now_ms()
local acked = ack_task(p.ack, now)
local reply = pop_task(p.pop, now)
table.insert(reply, 1, acked)
return flush(reply)
