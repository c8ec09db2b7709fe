--[[ ready: which tenants have work, per consumer, ordered by virtual time.
  ready:all holds every tenant with queued work that is not paused (served by
  workers without configuration and by steal targets "*"); ready:<w>:assigned
  and ready:<w>:steal hold the tenants a configured worker serves. tsets:<user>
  lists the per-worker sets a tenant belongs to (written by set_worker_config).
  Score = virtual time: a pop advances the served tenant by 1/weight (stride
  scheduling), so ZRANGE 0 0 is the next tenant: O(log n) in tenants with work. ]]
--- @include "lib/keys"
local READY_DONE  -- tenants already made ready by this call
per_call(function() READY_DONE = {} end)

local function ready_sets(user)
  local sets = redis.call('SMEMBERS', K.tsets(user))
  sets[#sets + 1] = K.ready_all
  return sets
end

-- a tenant entering a set starts at the set's current minimum virtual time,
-- so it is served within one round and cannot bank credit while idle
local function ready_join(set, user)
  local head = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
  redis.call('ZADD', set, 'NX', head[2] or 0, user)
end

-- true when the tenant was ready already (then it is a known tenant: push skips
-- registering it again)
local function ready_add(user)
  if READY_DONE[user] ~= nil then return READY_DONE[user] end
  READY_DONE[user] = true
  if redis.call('ZSCORE', K.ready_all, user) then return true end
  READY_DONE[user] = false
  if redis.call('SISMEMBER', K.paused, user) == 1 then return false end
  if redis.call('ZSCORE', K.held, user) then return false end  -- at its cap or rate limit (lib/limits)
  for _, set in ipairs(ready_sets(user)) do ready_join(set, user) end
  return false
end

local function ready_remove(user)
  READY_DONE[user] = nil
  for _, set in ipairs(ready_sets(user)) do redis.call('ZREM', set, user) end
end

-- served one task: move the tenant back by one stride, charge / weight (charge 1:
-- count-fair; time-fair charges the task's cost in ms, lib/charge); weight_text: the
-- weight as stored (the pop reads it with the tenant's limits, lib/limits tenant_cfg)
local function ready_advance(set, user, score, charge, weight_text)
  local weight = tonumber(weight_text)
  if not weight or weight <= 0 then weight = 1 end  -- a hand edit must not stop the rotation
  redis.call('ZADD', set, 'XX', score + (charge or 1) / weight, user)
end
