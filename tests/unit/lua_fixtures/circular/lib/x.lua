--- @include "lib/y"
local function x_fn() end
