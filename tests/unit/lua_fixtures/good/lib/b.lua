-- b: needs a
--- @include "lib/a"
local function b_fn() return a_fn() .. 'b' end
