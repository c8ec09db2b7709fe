--- @include "lib/absent"
return 1
