--[[ pop: lease the next task for a worker, fairly (see lib/pop).
  KEYS[1]  prefix
  ARGV[1]  {"worker": id, "token": random lease token, "lease_ms": int,
            "max_payload": bytes}
  Reply    {'ok', field, value, ...} (the task record, under lease)
           | {'empty'} | {'disabled'} (worker configuration disabled)
  Clock    Redis TIME (lease deadline). ]]
--- @include "lib/pop"

return flush(pop_task(params(), now_ms()))
