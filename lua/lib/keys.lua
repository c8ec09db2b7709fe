--[[ keys: the only Lua code that builds key names. Mirrors queueapp/engine/keys.py.
  Every key starts with KEYS[1], the hash-tagged prefix (default "{fq}"), so all
  keys of one queue share one Cluster slot. Never KEYS/SCAN. Keys without a
  part are plain strings (K.running), the others functions (K.task(id)): every
  call builds this table (under Redis Functions once per prefix), and a closure
  costs more than a string. ]]
--- @include "lib/call"
local P, K
local K_BY_PREFIX, K_CACHED = {}, 0
local MEMO_MAX = 4096
-- a key builder that remembers (per prefix, across calls: a Functions library outlives its
-- calls) the names it built: a tenant's or a minute's keys are built by every call, and
-- building a string costs about as much as a cheap Redis command. Bounded: a full cache
-- starts again. Not for task ids, which are seen once or twice each.
local function memo(build)
  local cache, n = {}, 0
  return function(x)
    local key = cache[x]
    if key then return key end
    if n >= MEMO_MAX then cache, n = {}, 0 end
    key = build(x)
    cache[x], n = key, n + 1
    return key
  end
end
local function build_keys()
  return {
  task = function(id) return P .. ':task:' .. id end,
  crit = memo(function(user) return P .. ':q:' .. user .. ':crit' end),
  norm = memo(function(user) return P .. ':q:' .. user .. ':norm' end),
  ready_all = P .. ':ready:all',
  ready_assigned = memo(function(worker) return P .. ':ready:' .. worker .. ':assigned' end),
  ready_steal = memo(function(worker) return P .. ':ready:' .. worker .. ':steal' end),
  tsets = memo(function(user) return P .. ':tsets:' .. user end),
  worker_cfg = memo(function(worker) return P .. ':cfg:worker:' .. worker end),
  weights = P .. ':cfg:weights',
  paused = P .. ':cfg:paused',
  registered = P .. ':cfg:tenants',
  configured = P .. ':cfg:workers',
  steal_all = P .. ':cfg:steal_all',
  synced = P .. ':cfg:synced',
  -- pins: shards.py only (SHARDS > 1, read in shard 0); here so the mirror stays whole
  pins = P .. ':cfg:pins',
  schedules = P .. ':sched:all',
  schedule = function(name) return P .. ':sched:cfg:' .. name end,
  schedule_state = function(name) return P .. ':sched:state:' .. name end,
  schedules_version = P .. ':sched:version',
  fire = function(key) return P .. ':sched:fire:' .. key end,
  scheduler_leader = P .. ':sched:leader',
  tenants_lex = P .. ':tenants:lex',
  recent = memo(function(user) return P .. ':recent:' .. user end),
  subs = memo(function(user) return P .. ':subs:' .. user end),
  fair_served = memo(function(minute) return P .. ':fair:n:' .. minute end),
  fair_wait = memo(function(minute) return P .. ':fair:w:' .. minute end),
  fair_ms = memo(function(minute) return P .. ':fair:ms:' .. minute end),
  running = P .. ':running',
  held = P .. ':held',
  running_of = memo(function(user) return P .. ':running:t:' .. user end),
  delayed = P .. ':delayed',
  dlq = P .. ':dlq',
  dlq_user = memo(function(user) return P .. ':dlq:' .. user end),
  backlog = P .. ':backlog',
  tenants = P .. ':tenants',
  stats_user = memo(function(user) return P .. ':stats:t:' .. user end),
  stats_prio = memo(function(prio) return P .. ':stats:p:' .. prio end),
  stats_func = P .. ':stats:f',
  throughput = memo(function(minute) return P .. ':tp:' .. minute end),
  workers = P .. ':workers',
  worker_info = function(worker) return P .. ':worker:' .. worker end,
  deps_waiting = function(id) return P .. ':deps:waiting:' .. id end,
  deps_blocked = function(id) return P .. ':deps:blocked:' .. id end,
  waiting = P .. ':waiting',
  pipeline = function(run) return P .. ':pipe:' .. run end,
  pipeline_tasks = function(run) return P .. ':pipe:tasks:' .. run end,
  pipeline_steps = function(run) return P .. ':pipe:steps:' .. run end,
  pipelines = P .. ':pipes',
  pipelines_ending = P .. ':pipes:ending',
  pipelines_user = function(user) return P .. ':pipes:t:' .. user end,
  xcom = function(ns, user) return P .. ':xcom:' .. ns .. ':' .. user end,
}
end

per_call(function()
  P = KEYS[1]
  K = K_BY_PREFIX[P]
  if not K then
    if K_CACHED >= 64 then K_BY_PREFIX, K_CACHED = {}, 0 end  -- many prefixes (tests): bounded
    K = build_keys()
    K_BY_PREFIX[P], K_CACHED = K, K_CACHED + 1
  end
end)
