--[[ record: the task hash task:<id>. Lua reads only the fields it needs, by
  name; the payload (args/kwargs) and the result stay opaque JSON strings that
  Lua never re-encodes, so user numbers keep their precision.
  history is a comma-joined list of JSON objects (Python wraps it in [ ]),
  appended without decoding, capped at HISTORY_MAX entries. ]]
local HISTORY_MAX = 100

local function history_add(id, now, state, extra)
  local entry = extra or {}
  entry.at = now
  entry.state = state
  list_append(K.task(id), 'history', cjson.encode(entry), HISTORY_MAX)
end

-- the fields every transition needs; nil when the record is gone
local function record_core(id)
  local v = redis.call('HMGET', K.task(id), 'state', 'user', 'priority', 'score')
  if not v[1] then return nil end
  return {state = v[1], user = v[2], prio = tonumber(v[3]), score = tonumber(v[4])}
end

-- why a stored record cannot be run, or nil when it is well-formed
local function record_problem(id, max_payload)
  local v = redis.call('HMGET', K.task(id), 'func', 'user', 'priority', 'payload')
  if not v[1] or not v[2] or not v[3] or not v[4] then return 'malformed' end
  local prio = tonumber(v[3])
  if not prio or prio < 1 or prio > 6 then return 'malformed' end
  if max_payload and #v[4] > max_payload then return 'oversized' end
  local ok, doc = pcall(cjson.decode, v[4])
  if not ok or type(doc) ~= 'table' then return 'decode_error' end
  return nil
end
