-- not an include: -- @include "lib/a" (two dashes) nor --- @include lib/a (no quotes)
-- @include "lib/a"
--- @include lib/a
return 1
