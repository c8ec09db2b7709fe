--[[ keys: the only Lua code that builds key names. Mirrors queueapp/engine/keys.py.
  Every key starts with KEYS[1], the hash-tagged prefix (default "{fq}"), so all
  keys of one queue share one Cluster slot. Never KEYS/SCAN. (A table
  constructor: cheaper per call than assigning functions one by one.) ]]
local P = KEYS[1]
local K = {
  task = function(id) return P .. ':task:' .. id end,
  crit = function(user) return P .. ':q:' .. user .. ':crit' end,
  norm = function(user) return P .. ':q:' .. user .. ':norm' end,
  ready_all = function() return P .. ':ready:all' end,
  ready_assigned = function(worker) return P .. ':ready:' .. worker .. ':assigned' end,
  ready_steal = function(worker) return P .. ':ready:' .. worker .. ':steal' end,
  tsets = function(user) return P .. ':tsets:' .. user end,
  worker_cfg = function(worker) return P .. ':cfg:worker:' .. worker end,
  weights = function() return P .. ':cfg:weights' end,
  paused = function() return P .. ':cfg:paused' end,
  registered = function() return P .. ':cfg:tenants' end,
  configured = function() return P .. ':cfg:workers' end,
  steal_all = function() return P .. ':cfg:steal_all' end,
  synced = function() return P .. ':cfg:synced' end,
  schedules = function() return P .. ':sched:all' end,
  schedule = function(name) return P .. ':sched:' .. name end,
  schedule_state = function(name) return P .. ':sched:' .. name .. ':state' end,
  schedules_version = function() return P .. ':sched:version' end,
  fire = function(key) return P .. ':sched:fire:' .. key end,
  scheduler_leader = function() return P .. ':sched:leader' end,
  running = function() return P .. ':running' end,
  delayed = function() return P .. ':delayed' end,
  dlq = function() return P .. ':dlq' end,
  dlq_user = function(user) return P .. ':dlq:' .. user end,
  backlog = function() return P .. ':backlog' end,
  tenants = function() return P .. ':tenants' end,
  stats = function() return P .. ':stats' end,
  stats_user = function(user) return P .. ':stats:t:' .. user end,
  stats_prio = function(prio) return P .. ':stats:p:' .. prio end,
  throughput = function(minute) return P .. ':tp:' .. minute end,
  workers = function() return P .. ':workers' end,
  worker_info = function(worker) return P .. ':worker:' .. worker end,
}
