--[[ cancel: a queued or deferred task (also one waiting on dependencies) will
  not run; its dependents are cancelled or keep blocking (lib/deps). Running and
  finished tasks are refused with their state.
  KEYS[1]  prefix
  ARGV[1]  {"id"}
  Reply    {'ok'} | {'not_found'} | {'invalid_state', state} ]]
--- @include "lib/cancel"

local p = params()
return flush(cancel_task(p.id, now_ms()) or {'ok'})
