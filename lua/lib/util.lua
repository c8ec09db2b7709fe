--[[ util: clock, parameters, constants and small helpers shared by every script. ]]
local CRITICAL = 6  -- Priority.CRITICAL (task.py): the FIFO lane, and the highest priority
local DEFAULT_RESULT_TTL = 86400  -- EngineConfig.result_ttl's default, for records without result_ttl
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- ARGV[1] is one JSON object; fields are read by name, never by position.
local function params()
  return cjson.decode(ARGV[1])
end

-- cjson.null is truthy: treat it as absent.
local function opt(v, default)
  if v == nil or v == cjson.null then return default end
  return v
end

-- integers as strings without exponent (Lua's tostring uses %.14g). Every number a script
-- hands redis.call is formatted by Redis with snprintf (%.17g, ~2,300 instructions): the hot
-- path passes text instead. The texts of integers below 1e9 (counts, deltas, buckets, TTLs) and of
-- the last two large ones (epoch ms: a call's `now` and a deadline) are kept: formatting is
-- not free either. Bounded: a full table starts again.
local INT_TEXT, INT_CACHED = {}, 0
local BIG_N1, BIG_T1, BIG_N2, BIG_T2
local function int(n)
  local s = INT_TEXT[n]
  if s then return s end
  if n == BIG_N1 then return BIG_T1 end
  if n == BIG_N2 then return BIG_T2 end
  s = string.format('%d', n)
  if n > -1e9 and n < 1e9 then
    if INT_CACHED >= 4096 then INT_TEXT, INT_CACHED = {}, 0 end
    INT_TEXT[n], INT_CACHED = s, INT_CACHED + 1
  else
    BIG_N2, BIG_T2, BIG_N1, BIG_T1 = BIG_N1, BIG_T1, n, s
  end
  return s
end

-- the epoch minute of `now` (ms) as text, the name of the per-minute buckets; the last one
-- is kept across calls (a Functions library outlives them): formatting costs as much as a command
local MINUTE_FROM, MINUTE_TEXT = 0, nil
local function minute_of(now)
  if not (now >= MINUTE_FROM and now < MINUTE_FROM + 60000) then
    local m = math.floor(now / 60000)
    MINUTE_FROM, MINUTE_TEXT = m * 60000, int(m)
  end
  return MINUTE_TEXT
end

-- a stored number that is usable: nil for what a hand edit can leave (NaN, 0, inf, text)
local function positive(x)
  x = tonumber(x)
  if x and x > 0 and x < math.huge then return x end
  return nil
end

local function hgetall_table(key)
  local flat = redis.call('HGETALL', key)
  local t = {}
  for i = 1, #flat, 2 do t[flat[i]] = flat[i + 1] end
  return t
end
