#!/usr/bin/env bash
# Makes sure Debian's Chromium exists for the browser tests (Playwright drives it;
# Playwright's own browser download does not work here). Installs the package
# when missing and possible.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
[ -n "${FAIRQUEUE_CHROMIUM:-}" ] && [ -x "$FAIRQUEUE_CHROMIUM" ] && exit 0
"$(dirname "$0")/apt-install.sh" chromium "for the browser tests" && exit 0
echo "Chromium is missing and could not be installed: sudo apt-get install chromium," >&2
echo "or set FAIRQUEUE_CHROMIUM to a Chromium binary. The browser tests will fail without it." >&2
exit 0
