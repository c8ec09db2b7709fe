--[[ dead: terminal failure. A task with dead_letter (the default) goes to the
  DLQ (global zset + per-tenant zset, score = time) with its reason; one
  created with dead_letter = 0 ends as 'failed' and expires like a result. ]]
local function dead_letter(id, user, prio, reason, now)
  local key = K.task(id)
  if redis.call('HGET', key, 'dead_letter') == '0' then
    redis.call('HSET', key, 'state', 'failed', 'dead_reason', reason, 'finished_at', int(now))
    local ttl = tonumber(redis.call('HGET', key, 'result_ttl') or '86400')
    redis.call('EXPIRE', key, ttl)
    history_add(id, now, 'failed', {reason = reason})
    return 'failed'
  end
  redis.call('HSET', key, 'state', 'dead', 'dead_reason', reason, 'finished_at', int(now))
  redis.call('ZADD', K.dlq(), now, id)
  redis.call('ZADD', K.dlq_user(user), now, id)
  stat_add(user, prio, 'dead', 1)
  stat_event(user, prio, 'dead_lettered', now)
  history_add(id, now, 'dead', {reason = reason})
  return 'dead'
end
