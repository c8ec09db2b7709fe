--[[ deps: task dependencies and pipeline runs.
  deps:waiting:<id>  set   the dependencies of <id> that have not succeeded yet
  deps:blocked:<id>  set   the tasks waiting on <id> (its record has dependents = 1)
  waiting            zset  tasks waiting on dependencies -> enqueued_at (like delayed)
  A waiting task is 'deferred' with waiting = the number of unmet dependencies: it is in no
  lane and not in the delayed set. The ack of its last dependency releases it in the same
  call (no window where a worker death loses or doubles the release). A dependency that
  ends without success (dead, failed, cancelled) cancels its dependents with reason
  dependency_failed, and theirs in turn; a dependent pushed with on_dep_fail = 'block'
  keeps waiting on a dead letter instead, until it is requeued and succeeds. A dependency
  that cannot be requeued (ended failed, cancelled, or deleted from the DLQ) can never
  succeed: it cancels every dependent, so nothing waits forever.
  pipe:<run> counts its tasks' terminal states (done, succeeded, dead, failed, cancelled,
  deleted); when done reaches total the run is finished and its keys expire like results
  (pipes:ending tells reap when to take it out of the indexes). ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/stats"
--- @include "lib/record"
--- @include "lib/enqueue"

-- a task of pipeline `run` (nil: none) reached (delta 1) or left (delta -1) terminal state `field`
local function pipeline_count(run, field, delta, now)
  if not run then return end
  local key = K.pipeline(run)
  if redis.call('EXISTS', key) == 0 then return end
  redis.call('HINCRBY', key, field, delta)
  local done = redis.call('HINCRBY', key, 'done', delta)
  local keys = {key, K.pipeline_tasks(run), K.pipeline_steps(run)}
  local v = redis.call('HMGET', key, 'total', 'ttl', 'user')
  local ending = run .. '|' .. (v[3] or '')
  if delta > 0 and done >= (tonumber(v[1]) or 0) then
    redis.call('HSET', key, 'finished_at', int(now))
    local ttl = tonumber(v[2]) or DEFAULT_RESULT_TTL
    for _, k in ipairs(keys) do redis.call('EXPIRE', k, ttl) end
    redis.call('ZADD', K.pipelines_ending, now + ttl * 1000, ending)  -- its index entries go then (prune)
  elseif delta < 0 and redis.call('HDEL', key, 'finished_at') == 1 then
    for _, k in ipairs(keys) do redis.call('PERSIST', k) end
    redis.call('ZREM', K.pipelines_ending, ending)
  end
end

-- finished runs whose keys have expired leave the indexes, and their XCom goes with them
-- (run by reap, so every worker keeps the indexes clean; bounded)
local function pipelines_prune(now, limit)
  for _, entry in ipairs(redis.call('ZRANGE', K.pipelines_ending, '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)) do
    local sep = string.find(entry, '|', 1, true)  -- nil: not an entry of ours (a hand edit): dropped
    local run, user = sep and string.sub(entry, 1, sep - 1), sep and string.sub(entry, sep + 1)
    if run and redis.call('EXISTS', K.pipeline(run)) == 0 then
      redis.call('ZREM', K.pipelines, run)
      if user ~= '' then
        redis.call('ZREM', K.pipelines_user(user), run)
        redis.call('DEL', K.xcom(run, user))
      end
    end
    redis.call('ZREM', K.pipelines_ending, entry)
  end
end

-- `id` stops waiting: its registrations on its dependencies go
local function deps_unregister(id)
  local waits = K.deps_waiting(id)
  for _, dep in ipairs(redis.call('SMEMBERS', waits)) do redis.call('SREM', K.deps_blocked(dep), id) end
  redis.call('DEL', waits)
end

local WAITER_FIELDS = {'state', 'user', 'priority', 'on_dep_fail', 'pipeline'}

local function waiter(id)
  local v = redis.call('HMGET', K.task(id), unpack(WAITER_FIELDS))
  return {state = v[1], user = v[2], prio = tonumber(v[3]), block = v[4] == 'block',
          pipeline = v[5] or nil}
end

-- every dependency met: the task enters its lane (at its enqueue-time score, so a pipeline's
-- later steps are not sent to the back of the tenant's queue) or the delayed set. One HMGET
-- and one HSET of the record: this runs for every dependent an ack releases.
local RELEASE_FIELDS = {'state', 'user', 'priority', 'run_after', 'score', 'history', 'history_n'}
local function release_waiter(id, now)
  local key = K.task(id)
  local v = redis.call('HMGET', key, unpack(RELEASE_FIELDS))
  local user, prio = v[2], tonumber(v[3])
  redis.call('ZREM', K.waiting, id)
  if v[1] ~= 'deferred' or not user or not prio then return end  -- a hand edit: left as it is
  stat_add(user, prio, 'waiting', -1)
  local due = tonumber(v[4]) or 0
  local h = {history = v[6], history_n = v[7]}
  if due > now then
    place_delayed(id, user, prio, due)
    history_push(h, now, 'deferred', {reason = 'dependencies_met'})
    redis.call('HSET', key, 'waiting', '0', 'history', h.history, 'history_n', h.history_n)
  else
    place_ready(id, user, prio, tonumber(v[5]) or now, false)
    history_push(h, now, 'queued', {reason = 'dependencies_met'})
    redis.call('HSET', key, 'state', 'queued', 'ready_at', int(now), 'waiting', '0',
      'history', h.history, 'history_n', h.history_n)
  end
end

-- a task that is in no lane or set ends 'cancelled' (expiring like a result): `reason` and the
-- dependency that caused it (both nil: an operator). Its own dependents are the caller's.
local function end_cancelled(id, user, prio, run, reason, dep, now)
  local key = K.task(id)
  redis.call('HSET', key, 'state', 'cancelled', 'finished_at', int(now), 'waiting', '0')
  if reason then redis.call('HSET', key, 'dead_reason', reason) end
  redis.call('EXPIRE', key, tonumber(redis.call('HGET', key, 'result_ttl')) or DEFAULT_RESULT_TTL)
  stat_event(user, prio, 'cancelled', now)
  history_add(id, now, 'cancelled', {reason = reason, dependency = dep})
  recent_add(user, id)
  pipeline_count(run, 'cancelled', 1, now)
end

-- a waiting task is cancelled (see end_cancelled)
local function cancel_waiter(id, w, reason, dep, now)
  deps_unregister(id)
  if redis.call('ZREM', K.waiting, id) == 1 then stat_add(w.user, w.prio, 'waiting', -1) end
  end_cancelled(id, w.user, w.prio, w.pipeline, reason, dep, now)
end

-- `id` ended: outcome 'succeeded' releases what waited only on it; 'dead' (a dead letter,
-- which can be requeued) cancels its dependents but those that block, and theirs in turn;
-- 'failed' (ended failed or cancelled: nothing can requeue it) and 'deleted' cancel them all.
-- Only called for records with dependents = 1.
local function dependents_settle(id, outcome, now)
  local todo, i = {{id, outcome}}, 1
  while todo[i] do
    local cur, how = todo[i][1], todo[i][2]
    i = i + 1
    local blocked = K.deps_blocked(cur)
    local kept = 0
    for _, d in ipairs(redis.call('SMEMBERS', blocked)) do
      local waits = K.deps_waiting(d)
      if how == 'succeeded' then
        if redis.call('SREM', waits, cur) == 1 then
          local left = redis.call('SCARD', waits)
          if left == 0 then release_waiter(d, now) else redis.call('HSET', K.task(d), 'waiting', left) end
        end
      elseif redis.call('SISMEMBER', waits, cur) == 1 then
        local w = waiter(d)
        if how == 'dead' and w.block then
          kept = kept + 1
        elseif w.state == 'deferred' and w.user then
          cancel_waiter(d, w, 'dependency_failed', cur, now)
          todo[#todo + 1] = {d, 'failed'}
        end
      end
    end
    if kept == 0 then redis.call('DEL', blocked) end
  end
end

-- push: a new task depending on `deps` (ids that exist, or were created earlier in this call
-- with the states in `created`). Reply 'waiting' (n unmet), 'ready' (all succeeded) or
-- 'failed' (one ended without success, and it is no dead letter the task blocks on: push cancels it).
local function deps_register(id, deps, block, created)
  local unmet = {}
  for _, dep in ipairs(deps) do
    local state = created[dep] or redis.call('HGET', K.task(dep), 'state')
    -- a record that is gone: push refused unknown ids before, so this is a requeue of a task
    -- whose dependency has expired since it succeeded (or was deleted): counted as met
    if not state then state = 'succeeded' end
    if state == 'dead' and block then  -- waits for the dead letter's requeue
      unmet[#unmet + 1] = dep
    elseif state == 'dead' or state == 'failed' or state == 'cancelled' then
      return 'failed', dep
    elseif state ~= 'succeeded' then
      unmet[#unmet + 1] = dep
    end
  end
  if #unmet == 0 then return 'ready', 0 end
  for _, dep in ipairs(unmet) do
    redis.call('SADD', K.deps_waiting(id), dep)
    redis.call('SADD', K.deps_blocked(dep), id)
    redis.call('HSET', K.task(dep), 'dependents', '1')
  end
  return 'waiting', redis.call('SCARD', K.deps_waiting(id))
end

-- push: a pipeline run's record and index, once (a resend finds it)
local function pipeline_create(pipe, tasks, now)
  local key = K.pipeline(pipe.id)
  if redis.call('EXISTS', key) == 1 then return end
  redis.call('HSET', key, 'id', pipe.id, 'user', pipe.user, 'name', opt(pipe.name, ''), 'total', #tasks,
    'done', 0, 'created_at', int(now), 'ttl', int(opt(pipe.ttl, DEFAULT_RESULT_TTL)))
  local ids, steps = {}, {}
  for i, t in ipairs(tasks) do
    ids[i] = t.id
    if t.step then steps[#steps + 1] = t.step; steps[#steps + 1] = t.id end
  end
  for i = 1, #ids, 1000 do  -- unpack has a stack limit
    redis.call('RPUSH', K.pipeline_tasks(pipe.id), unpack(ids, i, math.min(i + 999, #ids)))
  end
  for i = 1, #steps, 1000 do
    redis.call('HSET', K.pipeline_steps(pipe.id), unpack(steps, i, math.min(i + 999, #steps)))
  end
  redis.call('ZADD', K.pipelines, now, pipe.id)
  redis.call('ZADD', K.pipelines_user(pipe.user), now, pipe.id)
end
