--[[ repair_ready: make ready again every tenant whose lanes hold work but that
  is missing from a ready set it belongs to (stranded by a bug, a partial
  restore or a hand edit), and set its backlog counter (which is its queued
  gauge) to what its lanes hold. Walks tenants:lex (every tenant seen or registered) in
  key order, `limit` tenants per call: the caller repeats with the cursor it
  gets back until that is ''. Paused tenants are taken out of the ready sets,
  tenants with empty lanes too. Idempotent; safe while workers run.
  KEYS[1]  prefix
  ARGV[1]  {"after": the last tenant of the previous call ('' to start),
            "limit": int, "dry_run": bool (count only, change nothing)}
  Reply    {cursor ('' = done), tenants made ready, tasks queued in their
            lanes, backlog counters fixed, per-tenant queued fields dropped:
            an older release kept that gauge in stats:t:<user> (and moved the
            totals with it, so the totals are corrected by its error)}
  Cost     O(1) per tenant plus O(log n) per ready set it belongs to.
  Note     the per-priority queued gauges are left alone (the zset mixes
           priorities; counting them would read every queued record). ]]
--- @include "lib/keys"
--- @include "lib/util"
--- @include "lib/stats"
--- @include "lib/lanes"
--- @include "lib/ready"

local p = params()
local dry = opt(p.dry_run, false)
local low = (opt(p.after, '') ~= '') and ('(' .. p.after) or '-'
local users = redis.call('ZRANGE', K.tenants_lex, low, '+', 'BYLEX', 'LIMIT', 0, p.limit)
local readied, tasks, counters, gauges = 0, 0, 0, 0
for _, user in ipairs(users) do
  local n = lane_count(user)
  local counted = math.floor(tonumber(redis.call('ZSCORE', K.backlog, user) or '0'))
  -- a tenant gauge an older release kept beside the counter: the totals moved with it
  local legacy = redis.call('HGET', K.stats_user(user), 'queued')
  if counted ~= n then counters = counters + 1 end
  if legacy then gauges = gauges + 1 end
  if not dry then
    if legacy then
      stat_add(nil, nil, 'queued', counted - math.floor(tonumber(legacy) or counted))  -- + (n - counted) below
      redis.call('HDEL', K.stats_user(user), 'queued')
    end
    if counted ~= n then backlog_sync(user, false, 0) end
  end
  local paused = redis.call('SISMEMBER', K.paused, user) == 1
  if n > 0 and not paused then
    local stranded = false
    for _, set in ipairs(ready_sets(user)) do
      if not redis.call('ZSCORE', set, user) then
        stranded = true
        if not dry then ready_join(set, user) end
      end
    end
    if stranded then
      readied = readied + 1
      tasks = tasks + n
    end
  elseif not dry then
    ready_remove(user)
  end
end
if not dry then stats_flush() end
local cursor = (#users == p.limit) and users[#users] or ''
return {cursor, readied, tasks, counters, gauges}
