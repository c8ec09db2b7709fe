--[[ pop: the fair pop. A configured worker serves its assigned tenants first,
  round-robin by virtual time, then its steal targets, then (steal target "*")
  every tenant with work; a worker without configuration serves every tenant.
  The chosen task goes under a lease in the same step: it is never recorded
  nowhere. A record too broken to run is dead-lettered (reason malformed,
  decode_error or oversized; missing when the lane names a record that is
  gone) and the pop goes on to the next task. ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/record"
--- @include "lib/lanes"
--- @include "lib/ready"
--- @include "lib/enqueue"
--- @include "lib/dead"
local MAX_SKIPS = 32  -- broken records and stale ready entries one pop gets past
local MAX_NO_ROOM = 64  -- tenants skipped for want of room, per call: the rest wait for the next call
local WINDOW = 16  -- ready-set entries read at once while tenants are skipped
-- what a worker needs from the record: not the errors, result or tracebacks of
-- earlier attempts, which can be large and would travel with every pop (pipeline: XCom's scope)
local POP_FIELDS = {'v', 'id', 'func', 'user', 'priority', 'payload', 'queue', 'timeout', 'max_retries',
                    'max_deliveries', 'result_ttl', 'dead_letter', 'deliveries', 'failures', 'enqueued_at',
                    'started_at', 'lease_deadline', 'lease_token', 'state', 'worker', 'history', 'pipeline', 'step', 'kind',
                    'subkey'}

local function worker_tiers(worker)
  local cfg = redis.call('HMGET', K.worker_cfg(worker), 'enabled', 'steal_all')
  if not cfg[1] then return {K.ready_all} end
  if cfg[1] == '0' then return nil end
  local tiers = {K.ready_assigned(worker), K.ready_steal(worker)}
  if cfg[2] == '1' then tiers[3] = K.ready_all end
  return tiers
end

-- the tenant with the lowest virtual time in the first tier that has one, leaving
-- out the tenants skipped for want of room (room.skipped, see no_room). While
-- none is skipped: the head. Then each tier's first room.pos[set] entries are
-- skipped ones (a served tenant only moves back, so they stay in front) and the
-- scan goes on from there, WINDOW entries per read: never quadratic.
local function next_tenant(tiers, room)
  for _, set in ipairs(tiers) do
    if not (room and room.skipped) then
      local head = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
      if head[1] then return head[1], set, tonumber(head[2]) end
    else
      local from = room.pos[set] or 0
      while true do
        local heads = redis.call('ZRANGE', set, from, from + WINDOW - 1, 'WITHSCORES')
        if not heads[1] then break end
        for i = 1, #heads, 2 do
          if not room.skipped[heads[i]] then
            room.pos[set] = from + (i - 1) / 2
            return heads[i], set, tonumber(heads[i + 1])
          end
        end
        from = from + #heads / 2
        room.pos[set] = from
      end
    end
  end
  return nil
end

-- room {s = free thread slots, a = free coroutine slots}: a worker running
-- sync and async tasks takes only what it has a free slot for. The popped record
-- says its kind; one without room goes back to its place at once and its tenant
-- keeps its turn (skipped for the rest of the call). Nothing is read ahead, so a
-- task that fits costs nothing more.
local function no_room(rec, room)
  if not room or not rec.state then return false end  -- no record: take() buries the entry
  return room[rec.kind == 'a' and 'a' or 's'] <= 0
end

-- true when the call has skipped as many tenants as it may
local function skip_tenant(room, user)
  if not room.skipped then room.skipped, room.pos, room.nskip = {}, {}, 0 end
  room.skipped[user], room.nskip = true, room.nskip + 1
  return room.nskip >= MAX_NO_ROOM
end

-- `id` left `user`'s lane (from_crit: the CRITICAL list, else the zset, and
-- then the list was empty): lease it (returns its fields) or dead-letter it
-- extra: fields the pop writes into the record besides the lease: what time-fair
-- charged (lib/charge), `capped` for a tenant with a cap (lib/limits)
local NO_EXTRA = {}
local function take(id, user, from_crit, p, now, rec, extra)
  if not rec.state then  -- no record at all, or one without its state: never run, never dropped
    bury_lane_entry(id, user, rec, from_crit, now)
    return nil
  end
  local prio = tonumber(rec.priority) or (from_crit and CRITICAL or nil)
  dequeued(user, prio, not from_crit)
  local problem = record_problem(rec, p.max_payload)
  if problem then
    dead_letter(id, user, prio, problem, now)
    return nil
  end
  rec.lease_deadline, rec.started_at = int(now + p.lease_ms), int(now)
  redis.call('ZADD', K.running, rec.lease_deadline, id)
  rec.state, rec.lease_token, rec.worker = 'running', p.token, p.worker
  rec.deliveries = int((tonumber(rec.deliveries) or 0) + 1)
  history_push_running(rec, now, p.worker)
  redis.call('HSET', K.task(id), 'state', 'running', 'lease_token', p.token, 'worker', p.worker,
    'lease_deadline', rec.lease_deadline, 'started_at', rec.started_at,
    'deliveries', rec.deliveries, 'history', rec.history, 'history_n', rec.history_n,
    unpack(extra or NO_EXTRA))
  stat_add(user, prio, 'running', 1)
  fair_add(user, now - (tonumber(rec.ready_at or rec.enqueued_at) or now), now)
  return rec
end

-- reply: {'ok', field, value, ...} (POP_FIELDS) | {'empty'[, ms to the next hold's end]}
-- (lib/limits empty_reply) | {'disabled'};
-- tiers: the worker's, when the caller read them already (a batch of pops);
-- room: what kinds of task there is room for (no_room), nil: any
local function pop_task(p, now, tiers, room)
  charge_flush()  -- this call's acks settled their tenants: the choice below sees it
  tiers = tiers or worker_tiers(p.worker)
  if not tiers then return {'disabled'} end
  local tries = 0  -- skips for want of room do not count: skip_tenant bounds them
  while tries < MAX_SKIPS do
    local user, set, score = next_tenant(tiers, room)
    if not user then
      local reply = empty_unless_released(now)
      if reply then return reply end
      user, set, score = next_tenant(tiers, room)
      if not user then return empty_reply(now) end
    end
    local c = tenant_cfg(user)
    release_if_due(now)  -- the holds let go join the ready sets: from the next pop on
    local wait = c.rate and rate_wait(c, now)
    local id, from_crit, lane_score, rec
    if not wait then
      id, from_crit, lane_score = lane_pop(user)
      rec = id and hgetall_table(K.task(id))
    end
    if wait then  -- out of tokens: held; the pop goes on to the next tenant
      tries = tries + 1
      hold(user, wait, false)
    elseif not id then  -- lanes empty: the tenant was ready by mistake
      tries = tries + 1
      ready_remove(user)
      backlog_sync(user, true)
    elseif no_room(rec, room) then  -- back in its place; the tenant waits for a slot of that kind
      lane_unpop(user, id, from_crit, lane_score)
      if skip_tenant(room, user) then return empty_reply(now) end
    else
      tries = tries + 1
      local charge, mark
      if p.fair == 'time' and rec.state then charge, mark = pop_charge(user, rec, c.cost, c.weight, set) end
      ready_advance(set, user, score, charge, c.weight)
      local extra = NO_EXTRA
      if charge or c.cap then
        extra = charge and {'ch', mark} or {}
        if c.cap then extra[#extra + 1] = 'capped'; extra[#extra + 1] = '1' end
      end
      rec = take(id, user, from_crit, p, now, rec, extra)
      if rec then
        if c.cap or c.rate then limits_taken(user, id, c, now) end
        if room then
          local kind = rec.kind == 'a' and 'a' or 's'
          room[kind] = room[kind] - 1
        end
        local reply = {'ok'}
        for _, k in ipairs(POP_FIELDS) do
          local v = rec[k]
          if v then
            reply[#reply + 1] = k
            reply[#reply + 1] = v
          end
        end
        return reply
      end
    end
  end
  return empty_reply(now)
end
