--- @include "lib/nope"
local function a_fn() end
