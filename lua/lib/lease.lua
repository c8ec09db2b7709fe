--[[ lease: a running task is in the running zset (score = lease deadline from
  Redis TIME) and its record holds the random lease token. Every outcome
  presents the token: a worker that lost its lease cannot overwrite anything.
  The token stays in the record after the lease ends (state is no longer
  'running', so it matches nothing). ]]
--- @include "lib/keys"
--- @include "lib/stats"
--- @include "lib/limits"

-- the record when (id, token) holds the lease, else nil and a status
local function lease_check(id, token)
  local v = redis.call('HMGET', K.task(id), 'state', 'lease_token', 'user', 'priority', 'score', 'capped')
  if not v[1] then return nil, 'not_found' end
  if v[1] ~= 'running' or v[2] ~= token then return nil, 'stale' end
  return {state = v[1], user = v[3], prio = tonumber(v[4]), score = tonumber(v[5]), capped = v[6]}
end

-- capped: the record's flag (lib/limits): its tenant has a cap, and a held tenant
-- may start its next task now
local function lease_end(id, user, prio, capped)
  redis.call('ZREM', K.running, id)
  stat_add(user, prio, 'running', -1)
  if capped and user then cap_slot_freed(user, id) end
end
