--[[ xcom_push: store one XCom value in its namespace hash (xcom:<ns>:<user>); the
  hash expires with its longest-lived value (Redis 7.0 has no per-field expiry:
  each value carries its own deadline, checked when read).
  KEYS[1]  prefix
  ARGV[1]  {"ns", "user", "key", "value": JSON text, "ttl": seconds}
  Reply    {'ok'} ]]
--- @include "lib/keys"
--- @include "lib/util"

local p = params()
local key = K.xcom(p.ns, p.user)
local ttl_ms = math.floor(p.ttl * 1000)
redis.call('HSET', key, p.key, int(now_ms() + ttl_ms) .. '|' .. p.value)
if redis.call('PTTL', key) < ttl_ms then redis.call('PEXPIRE', key, ttl_ms) end
return {'ok'}
