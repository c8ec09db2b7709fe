--[[ pipeline_cancel: every task of a pipeline run that has not started is
  cancelled (their dependents with them); running tasks finish, and what waits on
  them was cancelled already.
  KEYS[1]  prefix
  ARGV[1]  {"id": run id}
  Reply    {tasks cancelled, counting the dependents cancelled with them} | {'not_found'} ]]
--- @include "lib/cancel"

local p = params()
local now = now_ms()
if redis.call('EXISTS', K.pipeline(p.id)) == 0 then return {'not_found'} end
local function cancelled() return tonumber(redis.call('HGET', K.pipeline(p.id), 'cancelled')) or 0 end
local before = cancelled()
for _, id in ipairs(redis.call('LRANGE', K.pipeline_tasks(p.id), 0, -1)) do
  local state = redis.call('HGET', K.task(id), 'state')
  if state == 'queued' or state == 'deferred' then cancel_task(id, now) end
end
return flush({cancelled() - before})
