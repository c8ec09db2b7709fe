--[[ outcome: what a lease holder reports. Each checks the lease token first
  and answers 'stale' (token no longer holds the lease) or 'not_found'. ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/stats"
--- @include "lib/record"
--- @include "lib/enqueue"
--- @include "lib/lease"
--- @include "lib/dead"

local function ack_task(a, now)
  local key = K.task(a.id)
  local v = redis.call('HMGET', key, 'state', 'lease_token', 'user', 'priority', 'result_ttl',
    'history', 'history_n', 'pipeline', 'dependents', 'func', 'capped', unpack(CHARGE_FIELDS))
  if not v[1] then return 'not_found' end
  if v[1] ~= 'running' or v[2] ~= a.token then return 'stale' end
  local user, prio = v[3], tonumber(v[4])
  lease_end(a.id, user, prio, v[11])
  if v[12] then charge_settle(user, v[12], v[13], v[14], now) end
  local h = {history = v[6], history_n = v[7]}
  history_push(h, now, 'succeeded')
  redis.call('HSET', key, 'state', 'succeeded', 'finished_at', int(now), 'result', opt(a.result, 'null'),
    'history', h.history, 'history_n', h.history_n)
  redis.call('EXPIRE', key, int(tonumber(v[5]) or DEFAULT_RESULT_TTL))
  stat_event(user, prio, 'succeeded', now)
  stat_func(v[10], 'succeeded')
  recent_add(user, a.id)
  if v[9] then dependents_settle(a.id, 'succeeded', now) end
  if v[8] then pipeline_count(v[8], 'succeeded', 1, now) end
  return 'ok'
end

-- reply {'retry', due_ms} | {'dead'|'failed', reason} | {'stale'|'not_found'}
local function fail_task(f, now)
  local rec, status = lease_check(f.id, f.token)
  if not rec then return {status} end
  local id, user, prio = f.id, rec.user, rec.prio
  lease_end(id, user, prio, rec.capped)
  local key = K.task(id)
  local v = redis.call('HMGET', key, 'failures', 'max_retries', 'errors', 'errors_n', unpack(CHARGE_FIELDS))
  if v[5] then charge_settle(user, v[5], v[6], v[7], now) end
  local failures, max_retries = (tonumber(v[1]) or 0) + 1, tonumber(v[2]) or 0
  local err = opt(f.error, '{}')
  local errs = {errors = v[3], errors_n = v[4]}
  list_push(errs, 'errors', err, ERRORS_MAX)
  redis.call('HSET', key, 'failures', failures, 'error', err, 'errors', errs.errors, 'errors_n', errs.errors_n)
  stat_event(user, prio, 'failed', now)
  local reason = opt(f.reason, 'error')
  if opt(f.retry, true) and failures <= max_retries then
    local due = now + math.max(0, math.floor(opt(f.retry_delay_ms, 0)))
    enqueue_delayed(id, user, prio, due)
    stat_event(user, prio, 'retried', now)
    history_add(id, now, 'deferred', {reason = reason, failures = failures})
    return {'retry', int(due)}
  end
  if reason == 'error' then reason = 'max_retries' end
  return {dead_letter(id, user, prio, reason, now), reason}
end

-- graceful shutdown: the task goes back to its place at once, and this lease
-- does not count toward max_deliveries
local function release_task(r, now)
  local rec, status = lease_check(r.id, r.token)
  if not rec then return status end
  lease_end(r.id, rec.user, rec.prio, rec.capped)
  redis.call('HINCRBY', K.task(r.id), 'deliveries', -1)
  enqueue_ready(r.id, rec.user, rec.prio, rec.score, true, now)
  stat_event(rec.user, rec.prio, 'released', now)
  history_add(r.id, now, 'queued', {reason = 'released'})
  return 'ok'
end
