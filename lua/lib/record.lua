--[[ record: the task hash task:<id>. Lua reads only the fields it needs, by
  name; the payload (args/kwargs) and the result stay opaque JSON strings that
  Lua never re-encodes, so user numbers keep their precision.
  history and errors are comma-joined lists of JSON objects (Python wraps
  them in [ ]), appended without decoding; past their cap only the count
  (<field>_n) grows. ]]
--- @include "lib/keys"
--- @include "lib/util"
local HISTORY_MAX = 100
local ERRORS_MAX = 10

-- append the JSON text `item` to rec[field] (rec: a table of the record's
-- fields); the caller writes rec[field] and rec[field .. '_n'] with its own HSET
local function list_push(rec, field, item, cap)
  local n = (tonumber(rec[field .. '_n']) or 0) + 1
  rec[field .. '_n'] = int(n)
  local old = rec[field] or ''
  if n > cap then
    rec[field] = old
  else
    rec[field] = (old ~= '') and (old .. ',' .. item) or item
  end
end

-- state: one of the engine's state names (nothing to escape); without `extra` the entry is
-- built as text: cjson costs an ack a few thousand instructions for two fields
local function history_push(rec, now, state, extra)
  if not extra then
    list_push(rec, 'history', '{"at":' .. int(now) .. ',"state":"' .. state .. '"}', HISTORY_MAX)
    return
  end
  extra.at = now
  extra.state = state
  list_push(rec, 'history', cjson.encode(extra), HISTORY_MAX)
end

-- the pop's entry, built without cjson (on every pop): a worker id is 1-128 of
-- [A-Za-z0-9_.:@+=-] (check_name), nothing to escape; anything else goes through cjson
local function history_push_running(rec, now, worker)
  if string.find(worker, '[^%w_.:@+=-]') then
    history_push(rec, now, 'running', {worker = worker})
  else
    list_push(rec, 'history', '{"at":' .. int(now) .. ',"state":"running","worker":"' .. worker .. '"}', HISTORY_MAX)
  end
end

-- for the colder paths: read, append, write
local function history_add(id, now, state, extra)
  local v = redis.call('HMGET', K.task(id), 'history', 'history_n')
  local h = {history = v[1], history_n = v[2]}
  history_push(h, now, state, extra)
  redis.call('HSET', K.task(id), 'history', h.history, 'history_n', h.history_n)
end

-- record a failure the engine itself observed (no exception to report: a lost lease, ...)
local function error_add(id, err)
  local v = redis.call('HMGET', K.task(id), 'errors', 'errors_n')
  local errs = {errors = v[1], errors_n = v[2]}
  list_push(errs, 'errors', err, ERRORS_MAX)
  redis.call('HSET', K.task(id), 'error', err, 'errors', errs.errors, 'errors_n', errs.errors_n)
end

-- the fields every transition needs; nil when the record is gone
local function record_core(id)
  local v = redis.call('HMGET', K.task(id), 'state', 'user', 'priority', 'score', 'capped', 'subkey')
  if not v[1] then return nil end
  return {state = v[1], user = v[2], prio = tonumber(v[3]), score = tonumber(v[4]), capped = v[5], subkey = v[6]}
end

-- why a stored record (a table of its fields) cannot run, or nil when it can
-- (full: also decode the payload, for the cold paths; the pop leaves that to the worker)
local function record_problem(rec, max_payload, full)
  if not rec.func or not rec.user or not rec.priority or not rec.payload or not rec.id then
    return 'malformed'
  end
  local prio = tonumber(rec.priority)
  if not prio or prio < 1 or prio > CRITICAL then return 'malformed' end
  if max_payload and #rec.payload > max_payload then return 'oversized' end
  -- an object (not an array, not a scalar): the cheap part of the check, on every pop. Inside
  -- it, JSON that does not parse is the worker's to find (it dead-letters the task decode_error
  -- too): decoding each payload here cost the pop a few microseconds for what push already checked
  local payload = rec.payload
  if string.byte(payload, 1) ~= 123 or string.byte(payload, -1) ~= 125 then return 'decode_error' end  -- { }
  if full then
    local ok, doc = pcall(cjson.decode, payload)
    if not ok or type(doc) ~= 'table' then return 'decode_error' end
  end
  return nil
end
