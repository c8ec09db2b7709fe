--[[ pop: the fair pop. A configured worker serves its assigned tenants first,
  round-robin by virtual time, then its steal targets, then (steal target "*")
  every tenant with work; a worker without configuration serves every tenant.
  The chosen task goes under a lease in the same step: it is never recorded
  nowhere. A record too broken to run is dead-lettered (reason malformed,
  decode_error or oversized) and the pop goes on to the next task. ]]
local MAX_SKIPS = 32

local function worker_tiers(worker)
  local cfg = redis.call('HMGET', K.worker_cfg(worker), 'enabled', 'steal_all')
  if not cfg[1] then return {K.ready_all()} end
  if cfg[1] == '0' then return nil end
  local tiers = {K.ready_assigned(worker), K.ready_steal(worker)}
  if cfg[2] == '1' then tiers[3] = K.ready_all() end
  return tiers
end

local function next_tenant(tiers)
  for _, set in ipairs(tiers) do
    local head = redis.call('ZRANGE', set, 0, 0, 'WITHSCORES')
    if head[1] then return head[1], set, tonumber(head[2]) end
  end
  return nil
end

-- one queued task of `user` left its lane: lease it, or dead-letter it
local function take(id, rec, user, p, now)
  if not rec then
    stat_add(user, nil, 'missing', 1)
    return nil
  end
  local problem = record_problem(id, p.max_payload)
  if problem then
    dead_letter(id, user, rec.prio, problem, now)
    return nil
  end
  stat_add(user, rec.prio, 'running', 1)
  lease_grant(id, p.worker, p.token, now, p.lease_ms)
  history_add(id, now, 'running', {worker = p.worker})
  return id
end

-- reply: {'ok', field, value, ...} | {'empty'} | {'disabled'}
local function pop_task(p, now)
  local tiers = worker_tiers(p.worker)
  if not tiers then return {'disabled'} end
  for _ = 1, MAX_SKIPS do
    local user, set, score = next_tenant(tiers)
    if not user then return {'empty'} end
    local id = lane_pop(user)
    if not id then
      ready_remove(user)
    else
      ready_advance(set, user, score)
      local rec = record_core(id)
      dequeued(user, rec and rec.prio)
      if take(id, rec, user, p, now) then
        local reply = redis.call('HGETALL', K.task(id))
        table.insert(reply, 1, 'ok')
        return reply
      end
    end
  end
  return {'empty'}
end
