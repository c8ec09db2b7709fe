--[[ diamond: b and c both include a ]]
--- @include "lib/b"
--- @include "lib/c"
return b_fn() .. c_fn()
