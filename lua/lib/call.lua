--[[ call: state that lives for one call. Loaded once as a Redis Functions
  library (see scripts.py), the libraries' top-level tables would outlive the
  call that filled them, so each file declares its per-call state with
  per_call(init): init runs at the start of every call (begin_call, from the
  function's wrapper) and, under EVAL (KEYS already set while the file runs),
  at once. ]]
local PER_CALL = {}
local function per_call(init)
  PER_CALL[#PER_CALL + 1] = init
  if KEYS[1] then init() end
end

local function begin_call()
  for i = 1, #PER_CALL do PER_CALL[i]() end
end
