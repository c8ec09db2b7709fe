--- @include "main"
return 1
