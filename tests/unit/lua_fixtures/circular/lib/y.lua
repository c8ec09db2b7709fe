--- @include "lib/x"
local function y_fn() end
