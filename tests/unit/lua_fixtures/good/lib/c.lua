-- c: needs a too (a diamond with b)
  ---   @include   "lib/a"  
local function c_fn() return a_fn() .. 'c' end
