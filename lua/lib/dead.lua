--[[ dead: terminal failure. A task with dead_letter (the default) goes to the
  DLQ (global zset + per-tenant zset, score = time) with its reason; one
  created with dead_letter = 0 ends as 'failed' and expires like a result.
  A lane entry without a usable record (dead_letter_broken) goes to the DLQ
  too: nothing queued is ever dropped silently. ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/stats"
--- @include "lib/record"
--- @include "lib/enqueue"
local function dead_letter(id, user, prio, reason, now)
  local key = K.task(id)
  local v = redis.call('HMGET', key, 'dead_letter', 'result_ttl', 'history', 'history_n')
  local h = {history = v[3], history_n = v[4]}
  if v[1] == '0' then
    history_push(h, now, 'failed', {reason = reason})
    redis.call('HSET', key, 'state', 'failed', 'dead_reason', reason, 'finished_at', int(now),
      'history', h.history, 'history_n', h.history_n)
    redis.call('EXPIRE', key, tonumber(v[2] or '86400'))
    recent_add(user, id)
    return 'failed'
  end
  history_push(h, now, 'dead', {reason = reason})
  redis.call('HSET', key, 'state', 'dead', 'dead_reason', reason, 'finished_at', int(now),
    'history', h.history, 'history_n', h.history_n)
  redis.call('ZADD', K.dlq, now, id)
  redis.call('ZADD', K.dlq_user(user), now, id)
  stat_add(user, prio, 'dead', 1)
  stat_event(user, prio, 'dead_lettered', now)
  recent_add(user, id)
  return 'dead'
end

-- a lane entry with no usable record: 'missing' (the record is gone: a stub
-- with its id and tenant is written so the DLQ shows it) or 'malformed' (no
-- state). prio is what is known of it (nil: nothing).
local function dead_letter_broken(id, user, prio, reason, now)
  if reason == 'missing' then
    redis.call('HSET', K.task(id), 'id', id, 'user', user)
    if prio then redis.call('HSET', K.task(id), 'priority', int(prio)) end
    stat_add(user, prio, 'missing', 1)
  end
  return dead_letter(id, user, prio, reason, now)
end
