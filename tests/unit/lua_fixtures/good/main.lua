--[[ main: includes b, then a again (already inlined through b) ]]
--- @include "lib/b"
--- @include "lib/a"
return b_fn()
