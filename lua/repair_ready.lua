--[[ repair_ready: make ready again every tenant whose lanes hold work but that
  is missing from a ready set it belongs to (stranded by a bug, a partial
  restore or a hand edit), and set its backlog counter and queued gauge to
  what its lanes hold. Walks tenants:lex (every tenant seen or registered) in
  key order, `limit` tenants per call: the caller repeats with the cursor it
  gets back until that is ''. Paused and held tenants are taken out of the ready sets,
  tenants with empty lanes too. Idempotent; safe while workers run.
  KEYS[1]  prefix
  ARGV[1]  {"after": the last tenant of the previous call ('' to start),
            "limit": int, "dry_run": bool (count only, change nothing)}
  Reply    {cursor ('' = done), tenants made ready, tasks queued in their
            lanes, backlog counters fixed, queued gauges fixed}
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
  if tonumber(redis.call('ZSCORE', K.backlog, user) or '0') ~= n then
    counters = counters + 1
    if not dry then backlog_sync(user) end
  end
  local queued = tonumber(redis.call('HGET', K.stats_user(user), 'queued') or '0')
  if queued ~= n then
    gauges = gauges + 1
    if not dry then stat_add(user, nil, 'queued', n - queued) end
  end
  local paused = redis.call('SISMEMBER', K.paused, user) == 1
  local held = redis.call('ZSCORE', K.held, user)  -- at its cap or rate limit: not ready (lib/limits)
  if n > 0 and not paused and not held then
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
