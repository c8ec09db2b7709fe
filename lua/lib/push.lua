--[[ push: create one task from its caller-set fields (an object of string
  values) unless its id exists. Shared by push.lua and fire_schedule.lua.
  depends_on (JSON text of ids) makes it wait (lib/deps); pipeline and step tie it to a run. ]]
--- @include "lib/record"
--- @include "lib/enqueue"
--- @include "lib/deps"

local TENANTS_SEEN, FIRST, CREATED  -- FIRST: the first history entry, per state (now is fixed within a call)
per_call(function() TENANTS_SEEN, FIRST, CREATED = {}, {}, {} end)

local function first_entry(now, state, reason)
  local k = state .. ':' .. (reason or '')
  local first = FIRST[k]
  if not first then
    first = cjson.encode({at = now, state = state, reason = reason})
    FIRST[k] = first
  end
  return first
end

-- the dependency ids of push params' tasks that neither exist nor come earlier in the call
local function unknown_dependency(tasks)
  local earlier = {}
  for _, t in ipairs(tasks) do
    if t.depends_on then
      for _, dep in ipairs(cjson.decode(t.depends_on)) do
        if not earlier[dep] then
          if redis.call('EXISTS', K.task(dep)) == 0 then return t.id, dep end
          earlier[dep] = true  -- a batch sharing its dependencies checks each once
        end
      end
    end
    earlier[t.id] = true
  end
  return nil
end

-- 'created' | 'duplicate'
local function push_task(t, now, aging_ms)
  local key = K.task(t.id)
  if redis.call('EXISTS', key) == 1 then
    CREATED[t.id] = redis.call('HGET', key, 'state')
    return 'duplicate'
  end
  local user, prio = t.user, tonumber(t.priority)
  local score = sub_score(user, t.subkey, now, prio, aging_ms)
  local due = tonumber(opt(t.run_after, 0))
  local state, reason = 'queued', nil
  if due > now then state, reason = 'deferred', 'run_after' end
  local waits, failed_dep = 0, nil
  if t.depends_on then
    local how, n = deps_register(t.id, cjson.decode(t.depends_on), t.on_dep_fail == 'block', CREATED)
    if how == 'waiting' then state, reason, waits = 'deferred', 'dependencies', n
    elseif how == 'failed' then state, reason, failed_dep = 'cancelled', 'dependency_failed', n end
  end
  local flat = {'enqueued_at', int(now), 'score', int(score), 'state', state,
                'history', first_entry(now, state, reason), 'history_n', '1'}
  for k, v in pairs(t) do
    flat[#flat + 1] = k
    flat[#flat + 1] = v
  end
  local shared = getmetatable(t)  -- push.lua's "base": fields t reads through, not its own
  if shared then
    for k, v in pairs(shared.__index) do
      if rawget(t, k) == nil then
        flat[#flat + 1] = k
        flat[#flat + 1] = v
      end
    end
  end
  if waits > 0 then
    flat[#flat + 1] = 'waiting'
    flat[#flat + 1] = int(waits)
  elseif failed_dep then
    for _, x in ipairs({'dead_reason', 'dependency_failed', 'finished_at', int(now)}) do flat[#flat + 1] = x end
  end
  redis.call('HSET', key, unpack(flat))
  CREATED[t.id] = state
  stat_event(user, prio, 'enqueued', now)
  local known = false  -- a ready tenant is listed already (it was, when it became ready)
  if failed_dep then
    redis.call('EXPIRE', key, tonumber(t.result_ttl) or DEFAULT_RESULT_TTL)
    stat_event(user, prio, 'cancelled', now)
    recent_add(user, t.id)
    pipeline_count(t.pipeline, 'cancelled', 1, now)
  elseif waits > 0 then
    redis.call('ZADD', K.waiting, int(now), t.id)
    stat_add(user, prio, 'waiting', 1)
  elseif state == 'deferred' then
    place_delayed(t.id, user, prio, due)
  else
    known = place_ready(t.id, user, prio, score, false)
  end
  if not known and not TENANTS_SEEN[user] then
    TENANTS_SEEN[user] = true
    redis.call('ZADD', K.tenants, 'NX', int(now), user)
    redis.call('ZADD', K.tenants_lex, 'NX', 0, user)
  end
  return 'created'
end
