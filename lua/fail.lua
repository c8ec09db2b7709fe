--[[ fail: the lease holder reports an exception. Python computes the retry
  delay (engine/backoff.py); Lua applies it or dead-letters the task once
  failures exceed max_retries (or at once when retry is false).
  KEYS[1]  prefix
  ARGV[1]  {"id", "token", "error": JSON text {type, message, traceback},
            "retry_delay_ms": int, "retry": bool (default true),
            "reason": 'error' | 'timeout' | 'unknown_task' | 'decode_error' ...}
  Reply    {'retry', due_ms} | {'dead', reason} | {'failed', reason}
           | {'stale'} | {'not_found'} ]]
--- @include "lib/outcome"

return flush(fail_task(params(), now_ms()))
