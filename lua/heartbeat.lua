--[[ heartbeat: a worker renews the leases it holds and reports itself.
  KEYS[1]  prefix
  ARGV[1]  {"worker", "lease_ms", "leases": [ [id, token], ... ],
            "info": {host, pid, started_at, ...} (optional), "info_ttl": s}
  Reply    {'ok', lost id, ...}: ids whose lease this worker no longer holds
  Clock    Redis TIME. ]]
--- @include "lib/fields"
--- @include "lib/lease"

local p = params()
local now = now_ms()
local reply = {'ok'}
local deadline = now + p.lease_ms
for _, lease in ipairs(p.leases) do
  local id, token = lease[1], lease[2]
  if lease_check(id, token) then
    redis.call('ZADD', K.running, 'XX', deadline, id)
    redis.call('HSET', K.task(id), 'lease_deadline', int(deadline))
  else
    reply[#reply + 1] = id
  end
end
local info = opt(p.info, nil)
if info then
  redis.call('ZADD', K.workers, now, p.worker)
  local key = K.worker_info(p.worker)
  redis.call('DEL', key)
  hset_table(key, info)
  redis.call('HSET', key, 'last_seen', int(now))
  redis.call('EXPIRE', key, opt(p.info_ttl, 60))
end
return reply
