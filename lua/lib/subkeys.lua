--[[ subkeys: fair order among a tenant's sub-keys (a task's `subkey`: the
  tenant's own users or projects) inside the tenant's share. Start-time fair
  queueing in the tenant's zset lane: a task of sub-key s is tagged
  max(V, last[s] + 1), where V is the tenant's virtual time (the tag of the
  head of its lane, what it serves next: its score plus its priority's aging
  offset; with an empty lane, the largest tag given so far) and last[s] the tag of s's previous task; its score is that tag
  minus (priority - 1) x aging, as for any task. A sub-key with 10,000 queued
  tasks holds tags V .. V+9999, a quiet sub-key's next task gets V: served
  next. (A quiet sub-key ties with the head: equal scores go in id order, and
  ids grow with time.) The ready sets never see sub-keys, so a tenant's share does not depend
  on how many it uses, and the pop costs nothing more.
  Once a tenant has used a sub-key (subs:<user> exists), its tasks without one
  are sub-key '' in the same scheme. CRITICAL tasks keep their FIFO list.
  subs:<user> (hash: sub-key -> its last tag, '~max' -> the largest tag) is
  only a memory: lost or garbled, tags restart from the lane's head and the
  order stays sound. A tag counts one task, so inside such a tenant one
  priority level is worth AGING_SECONDS x 1000 tasks, not that many ms. ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/call"
--- @include "lib/lanes"
local SUBS  -- per call: user -> {max, head (false: lane empty), last = {sub -> tag}, dirty = {sub -> true}}
per_call(function() SUBS = {} end)

local function sub_state(user)
  local st = SUBS[user]
  if not st then
    local max = tonumber(redis.call('HGET', K.subs(user), '~max'))
    if max and max ~= max then max = nil end  -- NaN: a hand edit
    st = {max = max, last = {}, dirty = {}}
    SUBS[user] = st
  end
  return st
end

-- the lane score of a task entering `user`'s lanes now (base_ms: its enqueue or due
-- time); nil subkey and a tenant that never used one: the plain score (lib/lanes)
local function sub_score(user, subkey, base_ms, prio, aging_ms)
  if prio == CRITICAL then return lane_score(base_ms, prio, aging_ms) end
  local st = sub_state(user)
  if not subkey and not st.max then return lane_score(base_ms, prio, aging_ms) end
  local s = subkey or ''
  if st.head == nil then  -- the head's tag: its score plus its priority's aging offset
    local head = redis.call('ZRANGE', K.norm(user), 0, 0, 'WITHSCORES')
    local score = tonumber(head[2])
    if score then
      local hp = tonumber(redis.call('HGET', K.task(head[1]), 'priority')) or 1
      if not (hp >= 1 and hp < CRITICAL) then hp = 1 end
      st.head = score + (math.floor(hp) - 1) * aging_ms
    else
      st.head = false
    end
  end
  local v = st.head or st.max or base_ms
  local last = st.last[s]
  if last == nil then
    last = tonumber(redis.call('HGET', K.subs(user), s)) or false
    if last and last ~= last then last = false end
  end
  local tag = last and math.max(v, last + 1) or v  -- start-time fair queueing: S = max(V, F_prev)
  st.last[s], st.dirty[s] = tag, true
  st.max = math.max(st.max or tag, tag)
  return tag - (prio - 1) * aging_ms
end

local function subs_flush()
  for user, st in pairs(SUBS) do
    local flat = {}
    for s in pairs(st.dirty) do
      flat[#flat + 1] = s
      flat[#flat + 1] = tostring(st.last[s])
    end
    if #flat > 0 then redis.call('HSET', K.subs(user), '~max', tostring(st.max), unpack(flat)) end
  end
  SUBS = {}
end
