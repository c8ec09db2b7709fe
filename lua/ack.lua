--[[ ack: the lease holder reports success; the result is kept result_ttl s.
  KEYS[1]  prefix
  ARGV[1]  {"id", "token", "result": JSON text of the return value}
  Reply    {'ok'} | {'stale'} | {'not_found'} ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/fields"
--- @include "lib/stats"
--- @include "lib/record"
--- @include "lib/ready"
--- @include "lib/lanes"
--- @include "lib/enqueue"
--- @include "lib/lease"
--- @include "lib/dead"
--- @include "lib/outcome"

return {ack_task(params(), now_ms())}
