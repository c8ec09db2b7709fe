--[[ release: graceful shutdown gives a running task back at once, at the head
  of its lane, without counting the delivery.
  KEYS[1]  prefix
  ARGV[1]  {"id", "token"}
  Reply    {'ok'} | {'stale'} | {'not_found'} ]]
--- @include "lib/outcome"

return flush({release_task(params(), now_ms())})
