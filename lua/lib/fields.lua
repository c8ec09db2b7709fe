--[[ fields: store a decoded JSON object as hash fields. ]]
local function field_str(v)
  local t = type(v)
  if t == 'number' then
    if v == math.floor(v) then return string.format('%d', v) end
    return string.format('%.17g', v)
  elseif t == 'boolean' then
    return v and '1' or '0'
  elseif t == 'table' then
    return cjson.encode(v)
  end
  return tostring(v)
end

local function hset_table(key, tbl)
  local flat = {}
  for k, v in pairs(tbl) do
    if v ~= cjson.null then
      flat[#flat + 1] = k
      flat[#flat + 1] = field_str(v)
    end
  end
  if #flat > 0 then redis.call('HSET', key, unpack(flat)) end
end
