--[[ lease: a running task is in the running zset (score = lease deadline from
  Redis TIME) and its record holds the random lease token. Every outcome
  presents the token: a worker that lost its lease cannot overwrite anything. ]]
local function lease_grant(id, worker, token, now, lease_ms)
  local deadline = now + lease_ms
  redis.call('ZADD', K.running(), deadline, id)
  local deliveries = redis.call('HINCRBY', K.task(id), 'deliveries', 1)
  redis.call('HSET', K.task(id), 'state', 'running', 'lease_token', token,
    'worker', worker, 'lease_deadline', int(deadline), 'started_at', int(now))
  return deliveries
end

-- the record when (id, token) holds the lease, else nil and a status
local function lease_check(id, token)
  local v = redis.call('HMGET', K.task(id), 'state', 'lease_token', 'user', 'priority', 'score')
  if not v[1] then return nil, 'not_found' end
  if v[1] ~= 'running' or v[2] ~= token then return nil, 'stale' end
  return {state = v[1], user = v[3], prio = tonumber(v[4]), score = tonumber(v[5])}
end

local function lease_end(id, user, prio)
  redis.call('ZREM', K.running(), id)
  redis.call('HDEL', K.task(id), 'lease_token', 'lease_deadline')
  stat_add(user, prio, 'running', -1)
end
