-- a: no dependencies
local function a_fn() return 'a' end
