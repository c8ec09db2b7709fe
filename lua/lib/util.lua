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

-- integers as strings without exponent (Lua's tostring uses %.14g)
local function int(n)
  return string.format('%d', n)
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
