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
--- @include "lib/deps"
-- dead letters whose func is no task (or not readable) are not counted per function: a hand-made
-- path must not grow stats:f (and /metrics) by one series each
local UNCOUNTED = {unknown_task = true, malformed = true, decode_error = true, missing = true, oversized = true}

local function dead_letter(id, user, prio, reason, now)
  local key = K.task(id)
  local v = redis.call('HMGET', key, 'dead_letter', 'result_ttl', 'history', 'history_n', 'pipeline', 'dependents',
    'func')
  local h = {history = v[3], history_n = v[4]}
  -- a dead letter can be requeued, so dependents that block wait for it; a 'failed' end cannot
  if v[6] then dependents_settle(id, v[1] == '0' and 'failed' or 'dead', now) end
  if v[1] == '0' then
    pipeline_count(v[5], 'failed', 1, now)
    stat_func(v[7], 'failed')
    history_push(h, now, 'failed', {reason = reason})
    redis.call('HSET', key, 'state', 'failed', 'dead_reason', reason, 'finished_at', int(now),
      'history', h.history, 'history_n', h.history_n)
    redis.call('EXPIRE', key, tonumber(v[2]) or DEFAULT_RESULT_TTL)
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
  if not UNCOUNTED[reason] then stat_func(v[7], 'dead') end
  recent_add(user, id)
  pipeline_count(v[5], 'dead', 1, now)
  return 'dead'
end

-- a dead letter leaves the DLQ (requeue, delete): its core fields, or nil when `id` is no dead
-- letter. A record gone, or too broken to name its tenant, still leaves the global DLQ (and the
-- per-tenant one of `user_hint`): whatever its state, an operator can clear every entry.
local function dlq_take(id, user_hint)
  local rec = record_core(id)
  if rec and rec.state ~= 'dead' then return nil end
  local listed = redis.call('ZREM', K.dlq, id) == 1
  if not rec and not listed then return nil end
  rec = rec or {}
  rec.user = rec.user or user_hint
  if rec.user then redis.call('ZREM', K.dlq_user(rec.user), id) end
  stat_add(rec.user, rec.prio, 'dead', -1)
  return rec
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

-- a lane entry of `user` (just taken out of its lane; from_crit: the CRITICAL list) whose record
-- has no state: `fields` is what is stored, maybe nothing. Shared by pop and purge.
local function bury_lane_entry(id, user, fields, from_crit, now)
  local prio = tonumber(fields.priority) or (from_crit and CRITICAL or nil)
  dequeued(user, prio, not from_crit)
  dead_letter_broken(id, user, prio, next(fields) and 'malformed' or 'missing', now)
end
