--[[ keys: the only Lua code that builds key names. Mirrors queueapp/engine/keys.py.
  Every key starts with KEYS[1], the hash-tagged prefix (default "{fq}"), so all
  keys of one queue share one Cluster slot. Never KEYS/SCAN. ]]
local P = KEYS[1]
local K = {}
function K.task(id) return P .. ':task:' .. id end
function K.crit(user) return P .. ':q:' .. user .. ':crit' end
function K.norm(user) return P .. ':q:' .. user .. ':norm' end
function K.ready_all() return P .. ':ready:all' end
function K.ready_assigned(worker) return P .. ':ready:' .. worker .. ':assigned' end
function K.ready_steal(worker) return P .. ':ready:' .. worker .. ':steal' end
function K.tsets(user) return P .. ':tsets:' .. user end
function K.worker_cfg(worker) return P .. ':cfg:worker:' .. worker end
function K.weights() return P .. ':cfg:weights' end
function K.paused() return P .. ':cfg:paused' end
function K.running() return P .. ':running' end
function K.delayed() return P .. ':delayed' end
function K.dlq() return P .. ':dlq' end
function K.dlq_user(user) return P .. ':dlq:' .. user end
function K.backlog() return P .. ':backlog' end
function K.tenants() return P .. ':tenants' end
function K.stats() return P .. ':stats' end
function K.stats_user(user) return P .. ':stats:t:' .. user end
function K.stats_prio(prio) return P .. ':stats:p:' .. prio end
function K.throughput(minute) return P .. ':tp:' .. minute end
function K.workers() return P .. ':workers' end
function K.worker_info(worker) return P .. ':worker:' .. worker end
