--[[ ack: the lease holder reports success; the result is kept result_ttl s.
  KEYS[1]  prefix
  ARGV[1]  {"id", "token", "result": JSON text of the return value}
  Reply    {'ok'} | {'stale'} | {'not_found'} ]]
--- @include "lib/outcome"

return flush({ack_task(params(), now_ms())})
