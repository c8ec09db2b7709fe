--- @include "lib/a"
--- @include "lib/a"
return 1
