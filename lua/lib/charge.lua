--[[ charge: time-fair mode (pop params fair = 'time'). A pop advances its tenant
  by the task's expected cost / weight instead of 1 / weight: the declared cost
  (the record's `cost`, ms) or else the tenant's running average of measured run
  times (cfg:weights field "<user>|cost", ms), 1 ms for a tenant never measured. The pop writes
  what it charged into the record (charge, cw = weight, cset = the ready set it
  advanced), so the ack and the failure need no mode of their own: a record
  with `charge` is settled, one without (count mode, older records) is not.
  Settling moves the tenant by (actual - charge) / weight in that set, actual
  being the declared cost or the measured run time (at least 1 ms), and folds
  the measurement into the average, and into the minute's worker time per tenant
  (fair:t:<minute>, for the dashboard). A tenant that left the set meanwhile (its
  lanes ran empty) is not moved: it rejoins at the set's minimum, like any
  tenant, so neither credit nor debt is banked while idle. ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/call"
local COST_SMOOTHING = 0.25  -- weight of the newest measurement in the running average
local CHARGE_FIELDS = {'charge', 'cw', 'cset', 'cost', 'started_at'}
-- per call: each tenant's average as read or updated (false: none stored), and the ones
-- to write; and the settlements, summed per ready set and tenant, written by charge_flush
local AVG_SLACK = 0.05
local SPENT_TTL = 1200  -- the per-minute worker-time buckets live as long as the fairness ones (lib/stats)
local AVG, STORED_AVG, AVG_DIRTY, MOVES, SPENT  -- SPENT: minute -> {user -> ms of worker time}
per_call(function() AVG, STORED_AVG, AVG_DIRTY, MOVES, SPENT = {}, {}, {}, {}, {} end)

-- the average lives beside the weight, in cfg:weights under "<user>|cost" ('|' is in no
-- tenant name), so the pop reads both with the one HMGET it needs for the weight anyway
-- (lib/limits tenant_cfg)
local function cost_field(user) return user .. '|cost' end

local function seed_average(user, text)
  local avg = tonumber(text) or false
  if avg and not (avg > 0 and avg < math.huge) then avg = false end  -- NaN, 0, inf: a hand edit
  AVG[user], STORED_AVG[user] = avg, avg
  return avg
end

-- what a pop in time mode charges for `rec` (a table of the record's fields): the
-- average in whole ms, so a steady tenant's ack usually finds nothing to settle;
-- cost_text: the stored average as the pop read it (lib/limits tenant_cfg)
local function pop_charge(user, rec, cost_text)
  local declared = tonumber(rec.cost)
  if declared and declared > 0 then return declared end
  local avg = AVG[user]
  if avg == nil then avg = seed_average(user, cost_text) end
  return math.max(1, math.floor((avg or 1) + 0.5))
end

-- settle a finished attempt; v: the record's CHARGE_FIELDS, in that order
local function charge_settle(user, v, now)
  local charge = tonumber(v[1])
  if not charge or not user then return end
  local weight = tonumber(v[2])
  if not weight or weight <= 0 then weight = 1 end
  local actual = tonumber(v[4])
  if not (actual and actual > 0) then
    actual = math.max(1, now - (tonumber(v[5]) or now))
    -- the charge was the stored average (rounded) when nothing of this call knows better:
    -- no read here. The average is only the pop's estimate (the ack settles the exact
    -- cost), so it is rewritten when it moved by more than AVG_SLACK, not on every ack.
    local avg = AVG[user] or charge
    local new = avg + COST_SMOOTHING * (actual - avg)
    AVG[user] = new
    local stored = STORED_AVG[user] or charge
    if math.abs(new - stored) > AVG_SLACK * stored then AVG_DIRTY[user] = true end
  end
  local minute = int(math.floor(now / 60000))
  local spent = SPENT[minute]
  if not spent then spent = {}; SPENT[minute] = spent end
  spent[user] = (spent[user] or 0) + actual
  local set = v[3]
  if actual ~= charge and set and string.sub(set, 1, #P + 7) == P .. ':ready:' then
    local moves = MOVES[set]
    if not moves then moves = {}; MOVES[set] = moves end
    moves[user] = (moves[user] or 0) + (actual - charge) / weight
  end
end

-- settlements are applied before the call's first pop (pop_task calls this) and at its end
local function charge_flush()
  for set, moves in pairs(MOVES) do
    for user, delta in pairs(moves) do
      -- pcall: a hand-edited record naming a key of another type must not make the ack fail
      if delta ~= 0 then redis.pcall('ZADD', set, 'XX', 'INCR', delta, user) end
    end
  end
  MOVES = {}
  for user in pairs(AVG_DIRTY) do
    redis.call('HSET', K.weights, cost_field(user), tostring(AVG[user]))
    STORED_AVG[user] = AVG[user]
  end
  AVG_DIRTY = {}
  -- worker time per tenant per minute (fair:t:<minute>, "*" = the total), for the dashboard's
  -- share of worker time in time mode; its first count creates the key and sets the expiry
  for minute, spent in pairs(SPENT) do
    local key, total = K.fair_time(minute), 0
    for user, ms in pairs(spent) do
      redis.call('ZINCRBY', key, ms, user)
      total = total + ms
    end
    if tonumber(redis.call('ZINCRBY', key, total, '*')) == total then redis.call('EXPIRE', key, SPENT_TTL) end
  end
  SPENT = {}
end
