--- @include "lib/x"
return 1
