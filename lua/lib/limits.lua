--[[ limits: per-tenant caps, enforced inside the pop. cfg:weights holds them beside
  the weight (set_tenant): "<user>|cap" = most tasks running at once across all
  workers, "<user>|rate" = "<tasks per second>:<burst>", a token bucket whose
  state is "<user>|tb" = "<tokens>:<epoch ms>". A tenant at its cap or out of
  tokens is held: taken out of every ready set and put in `held`, scored by when
  to look again (when its next token is due; for a cap RECHECK_MS from now, but
  the end of one of its tasks, marked `capped` in the record, lets it go at
  once). The pop goes on to the next tenant, so no worker idles for a capped
  tenant while another has work, and nothing is dropped: held tasks stay queued.
  The field "|due" of cfg:weights ('|' starts no tenant name) says when the
  earliest hold is due, no later: the pop reads it in the HMGET it makes for the
  tenant's settings anyway, so a queue without holds pays nothing for them, and
  lets go the due holds when it has come. A "|due" lost or hand-edited away is
  put back by the next empty pop and by every reap. A cap or rate that a hand
  edit made unreadable counts as none (never a stranded tenant). ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/stats"
--- @include "lib/lanes"
--- @include "lib/ready"
local RECHECK_MS = 1000
local HOLDS_RELEASED_PER_CALL = 32
local DUE_FIELD = '|due'
-- a cap-held tenant's running:t set also holds this member (no task id has a '|'): the end
-- of one of its tasks removes both with one SREM, and only a reply of 2 lets the tenant go
local CAP_MARK = '|held'
-- per call: user -> its settings as read; whether due holds were let go; "|due" as read
-- and written in this call (nil: not read yet, false: none)
local CFG, RELEASED, DUE
per_call(function() CFG, RELEASED, DUE = {}, false, nil end)

-- the tenant's stored settings, read once per call with one HMGET: weight (text, as
-- ready_advance takes it), cost (time-fair's average, lib/charge), cap, rate, burst, tb
local function tenant_cfg(user)
  local c = CFG[user]
  if c then return c end
  local v = redis.call('HMGET', K.weights, user, user .. '|cost', user .. '|cap', user .. '|rate', user .. '|tb',
    DUE_FIELD)
  c = {weight = v[1] or '1', cost = v[2], cap = positive(v[3]), tb = v[5]}
  if DUE == nil then DUE = tonumber(v[6]) or false end
  if v[4] then
    local rate, burst = string.match(v[4], '^([^:]+):([^:]+)$')
    c.rate, c.burst = positive(rate), positive(burst)
    if not (c.rate and c.burst) then c.rate, c.burst = nil, nil end
  end
  CFG[user] = c
  return c
end

-- a capped tenant's running tasks are also in running:t:<user> (added at the pop, taken
-- out at the lease's end, by the record's `capped` flag), counted exactly by SCARD (less
-- CAP_MARK, on these colder paths where the tenant may be held)
local function running_now(user)
  local key = K.running_of(user)
  return redis.call('SCARD', key) - redis.call('SISMEMBER', key, CAP_MARK)
end

-- a phantom (a task that left `running` without its lease ending here: a hand edit, a
-- record deleted while it ran) would hold the tenant for ever: each recheck of a held
-- tenant drops up to VERIFY such members
local VERIFY = 16
local function drop_phantoms(user)
  for _, id in ipairs(redis.call('SRANDMEMBER', K.running_of(user), VERIFY)) do
    if id ~= CAP_MARK and not redis.call('ZSCORE', K.running, id) then redis.call('SREM', K.running_of(user), id) end
  end
end

-- the bucket's tokens at `now` (a full bucket when it has no readable state)
local function tokens_now(c, now)
  local t, at
  if c.tb then
    local a, b = string.match(c.tb, '^([^:]+):([^:]+)$')
    t, at = tonumber(a), tonumber(b)
  end
  if not (t and at) or t ~= t or at ~= at or at > now then return c.burst end
  return math.min(c.burst, t + (now - at) * c.rate / 1000)
end

local function due_read()
  if DUE == nil then DUE = tonumber(redis.call('HGET', K.weights, DUE_FIELD)) or false end
  return DUE
end

-- "|due" = ms (nil: no hold)
local function due_set(ms)
  DUE = ms or false
  if ms then redis.call('HSET', K.weights, DUE_FIELD, int(ms)) else redis.call('HDEL', K.weights, DUE_FIELD) end
end

-- the first entry of `held` and its score (nil, nil: none)
local function held_head()
  local first = redis.call('ZRANGE', K.held, 0, 0, 'WITHSCORES')
  return first[1], tonumber(first[2])
end

-- "|due" from `held` itself: after the pop let holds go, and at every reap, so a lost or
-- hand-edited one strands no tenant for long
local function due_resync()
  local _, at = held_head()
  due_set(at)
end

-- cap: held for its cap (CAP_MARK goes into its running set), else for its rate
local function hold(user, until_ms, cap)
  ready_remove(user)
  redis.call('ZADD', K.held, until_ms, user)
  if cap then redis.call('SADD', K.running_of(user), CAP_MARK) end
  local due = due_read()
  if not due or until_ms < due then due_set(until_ms) end
end

-- back into the ready sets when its lanes hold work (ready_add leaves a paused tenant out);
-- marked: the lease end took CAP_MARK out already
local function unhold(user, marked)
  if not marked then redis.call('SREM', K.running_of(user), CAP_MARK) end
  if redis.call('ZREM', K.held, user) == 1 and lane_count(user) > 0 then ready_add(user) end
end

-- nil when the tenant's bucket has a token now, else when it will (read from the
-- settings the pop has read anyway: free)
local function rate_wait(c, now)
  if not c.rate then return nil end
  local t = tokens_now(c, now)
  if t < 1 then return now + math.max(1, math.ceil((1 - t) * 1000 / c.rate)) end
  return nil
end

-- nil when the tenant may start a task now, else until when to hold it and whether for
-- its cap. The cap is counted here, on the colder paths (a recheck, a changed limit): a
-- tenant in a ready set is below its cap, since the pop that fills the cap holds it (limits_taken)
local function limit_wait(user, c, now)
  if c.cap and running_now(user) >= c.cap then return now + RECHECK_MS, true end
  return rate_wait(c, now), false
end

-- once per call: look again at the holds that are due; a tenant still at its limit is
-- held again, the others go back to the ready sets; then "|due" says what is left
local function release_due_holds(now)
  if RELEASED then return end
  RELEASED = true
  local first = redis.call('ZRANGE', K.held, 0, HOLDS_RELEASED_PER_CALL - 1, 'WITHSCORES')
  for i = 1, #first, 2 do
    local user = first[i]
    if tonumber(first[i + 1]) > now then break end
    drop_phantoms(user)
    local wait, cap = limit_wait(user, tenant_cfg(user), now)
    if wait then
      redis.call('ZADD', K.held, wait, user)
      if cap then redis.call('SADD', K.running_of(user), CAP_MARK) end
    else
      unhold(user)
    end
  end
  due_resync()
end

-- the pop read "|due" with the tenant's settings: let go the holds once it has come
local function release_if_due(now)
  if DUE and DUE <= now then release_due_holds(now) end
end

-- the reply of a pop that found nothing: {'empty'}, and while a tenant is held, in how
-- many ms its hold is due. Holds are let go only by pops, so an idle worker sleeps
-- until then rather than a whole poll interval (a rate-limited tenant alone keeps its rate)
local function empty_at(at, now)
  if at then return {'empty', int(math.max(0, at - now))} end
  return {'empty'}
end

local function empty_reply(now)
  local _, at = held_head()
  return empty_at(at, now)
end

-- a pop that found no tenant: nil when a hold had come (whatever "|due" said: this heals a
-- lost one) and the due holds were let go, so the pop looks once more; else its reply
local function empty_unless_released(now)
  local _, at = held_head()
  if at and at <= now and not RELEASED then
    release_due_holds(now)
    return nil
  end
  return empty_at(at, now)
end

-- task `id` of the tenant started: count it, spend a token; hold the tenant at once
-- when it has reached its cap or has no token left, so no pop looks at it meanwhile
local function limits_taken(user, id, c, now)
  local full = false
  if c.cap then
    local key = K.running_of(user)
    redis.call('SADD', key, id)
    full = redis.call('SCARD', key) >= c.cap
  end
  if c.rate then
    local t = tokens_now(c, now) - 1
    c.tb = tostring(t) .. ':' .. int(now)
    redis.call('HSET', K.weights, user .. '|tb', c.tb)
  end
  local wait = full and now + RECHECK_MS or rate_wait(c, now)
  if wait then hold(user, wait, full) end
end

-- the end of a capped tenant's task (its record's `capped`): one of its cap's slots is free
local function cap_slot_freed(user, id)
  if redis.call('SREM', K.running_of(user), id, CAP_MARK) == 2 then unhold(user, true) end
end
