--[[ release: graceful shutdown gives a running task back at once, at the head
  of its lane, without counting the delivery.
  KEYS[1]  prefix
  ARGV[1]  {"id", "token"}
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

return {release_task(params(), now_ms())}
