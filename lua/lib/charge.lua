--[[ charge: time-fair mode (pop params fair = 'time'). A pop advances its tenant
  by the task's expected cost / weight instead of 1 / weight: the declared cost
  (the record's `cost`, ms) or else the tenant's running average of measured run
  times (cfg:weights field "<user>|cost", ms), 1 ms for a tenant never measured. The pop writes
  what it charged into the record, one field `ch` = "<charge>:<weight>:<exact
  average>:<ready set>" (the set it advanced, after its "<prefix>:ready:"; the
  average, empty for a declared cost, is the one the pop rounded: the ack's
  running average goes on from it, not from the rounded charge, which would
  never converge). So the ack and the failure need no mode of their own: a record
  with `ch` is settled, one without (count mode, older records) is not.
  Settling moves the tenant by (actual - charge) / weight in that set, actual
  being the declared cost or the measured run time (at least 1 ms), and folds
  the measurement into the average, and into the minute's worker time per tenant
  (fair:ms:<minute>, for the dashboard). A tenant that left the set meanwhile (its
  lanes ran empty) is not moved: it rejoins at the set's minimum, like any
  tenant, so neither credit nor debt is banked while idle. Every field is one
  more the pop writes and the ack reads, on every task: hence one packed field. ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/call"
local COST_SMOOTHING = 0.25  -- weight of the newest measurement in the running average
local CHARGE_FIELDS = {'ch', 'cost', 'started_at'}
-- the average is rewritten when it moved by more than 5 % and by more than 0.2 ms: run
-- times are measured in whole ms, so a ~1.5 ms task measures 1 or 2 and each measurement
-- moves the average by 0.125 ms, which is no news. A smaller move is kept by one ack in
-- AVG_SAMPLE (by the clock), so a slow drift still arrives: an update not written is lost,
-- the next ack going on from the stored average again. The charge is only the pop's
-- estimate: the ack settles the exact cost either way.
local AVG_SLACK, AVG_SLACK_MS, AVG_SAMPLE = 0.05, 0.2, 16
local SPENT_TTL = 1200  -- the per-minute worker-time buckets live as long as the fairness ones (lib/stats)
-- per call: each tenant's average as read or updated (false: none stored); the text it was
-- read as, while this call has not changed it (the pop copies it into `ch`: formatting a
-- number costs more than the rest of the charge); the averages as stored, and the ones to
-- write; the settlements, summed per ready set and tenant; each tenant's worker time (ms)
-- and the call's clock (one minute bucket per call)
local AVG, AVG_TEXT, STORED_AVG, AVG_DIRTY, MOVES, SPENT, SPENT_AT
per_call(function() AVG, AVG_TEXT, STORED_AVG, AVG_DIRTY, MOVES, SPENT, SPENT_AT = {}, {}, {}, {}, {}, {}, nil end)

-- the average lives beside the weight, in cfg:weights under "<user>|cost" ('|' is in no
-- tenant name), so the pop reads both with the one HMGET it needs for the weight anyway
-- (lib/limits tenant_cfg)
local function cost_field(user) return user .. '|cost' end

local function seed_average(user, text)
  local avg = positive(text) or false
  AVG[user], STORED_AVG[user], AVG_TEXT[user] = avg, avg, avg and text or ''
  return avg
end

-- what a pop in time mode charges for `rec` (a table of the record's fields): the
-- average in whole ms, so a steady tenant's ack usually finds nothing to settle. Returns
-- it and the record's `ch`; cost_text: the stored average as the pop read it, weight_text:
-- the weight (lib/limits tenant_cfg), set: the ready set the pop advances
local function pop_charge(user, rec, cost_text, weight_text, set)
  local suffix = string.sub(set, #P + 8)  -- after "<prefix>:ready:"
  local declared = tonumber(rec.cost)
  if declared and declared > 0 then return declared, rec.cost .. ':' .. weight_text .. '::' .. suffix end
  local avg = AVG[user]
  if avg == nil then avg = seed_average(user, cost_text) end
  local text = AVG_TEXT[user]
  if text == nil then
    text = avg and tostring(avg) or ''
    AVG_TEXT[user] = text
  end
  local charge = math.max(1, math.floor((avg or 1) + 0.5))
  return charge, int(charge) .. ':' .. weight_text .. ':' .. text .. ':' .. suffix
end

-- settle a finished attempt from the record's CHARGE_FIELDS
local function charge_settle(user, ch, cost_text, started_at, now)
  if not (ch and user) then return end
  local c, w, a, set = string.match(ch, '^([^:]*):([^:]*):([^:]*):(.+)$')
  local charge = tonumber(c)
  if not charge then return end  -- a hand edit: nothing to settle
  local actual = positive(cost_text)
  if not actual then
    actual = math.max(1, now - (tonumber(started_at) or now))
    -- the record's average is the one the pop rounded, when nothing of this call knows
    -- better: no read here. The average is only the pop's estimate (the ack settles the
    -- exact cost), so it is rewritten when it moved by more than the slack, not on every ack.
    local known = positive(a) or charge
    local avg = AVG[user] or known
    local new = avg + COST_SMOOTHING * (actual - avg)
    AVG[user], AVG_TEXT[user] = new, nil
    local stored = STORED_AVG[user] or known
    local moved = math.abs(new - stored)
    if moved > math.max(AVG_SLACK * stored, AVG_SLACK_MS) or (moved > 0 and now % AVG_SAMPLE == 0) then
      AVG_DIRTY[user] = true
    end
  end
  SPENT_AT = SPENT_AT or now
  SPENT[user] = (SPENT[user] or 0) + actual
  if actual ~= charge then
    set = P .. ':ready:' .. set
    local moves = MOVES[set]
    if not moves then moves = {}; MOVES[set] = moves end
    moves[user] = (moves[user] or 0) + (actual - charge) / (positive(w) or 1)
  end
end

-- settlements are applied before the call's first pop (pop_task calls this) and at its end
local function charge_flush()
  if next(MOVES) then
    for set, moves in pairs(MOVES) do
      for user, delta in pairs(moves) do
        -- pcall: a hand-edited record naming a key of another type must not make the ack fail
        if delta ~= 0 then redis.pcall('ZADD', set, 'XX', 'INCR', delta, user) end
      end
    end
    MOVES = {}
  end
  if next(AVG_DIRTY) then
    for user in pairs(AVG_DIRTY) do
      local text = tostring(AVG[user])
      redis.call('HSET', K.weights, cost_field(user), text)
      STORED_AVG[user], AVG_TEXT[user] = AVG[user], text
    end
    AVG_DIRTY = {}
  end
  -- worker time per tenant per minute (fair:ms:<minute>, whole ms), for the dashboard's share
  -- of worker time in time mode, which sums the minute for the total (no total field: one
  -- write less per ack; HINCRBY: an integer reply, cheaper than a zset's); a tenant's first
  -- count in the minute sets the expiry
  if SPENT_AT then
    local key = K.fair_ms(minute_of(SPENT_AT))
    for user, ms in pairs(SPENT) do
      ms = math.floor(ms + 0.5)
      if ms > 0 and redis.call('HINCRBY', key, user, ms) == ms then redis.call('EXPIRE', key, SPENT_TTL) end
    end
    SPENT, SPENT_AT = {}, nil
  end
end
