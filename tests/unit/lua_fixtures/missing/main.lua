--- @include "lib/a"
return 1
