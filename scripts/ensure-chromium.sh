#!/usr/bin/env bash
# Makes sure Debian's Chromium exists for the browser tests (Playwright drives it;
# Playwright's own browser download does not work here). Installs the package
# when missing and possible.
set -u
command -v chromium >/dev/null 2>&1 && exit 0
[ -n "${FAIRQUEUE_CHROMIUM:-}" ] && [ -x "$FAIRQUEUE_CHROMIUM" ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
if command -v apt-get >/dev/null 2>&1; then
  echo "chromium not found: installing Debian's chromium package (for the browser tests)"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null && exit 0
fi
echo "Chromium is missing and could not be installed: sudo apt-get install chromium," >&2
echo "or set FAIRQUEUE_CHROMIUM to a Chromium binary. The browser tests will fail without it." >&2
exit 0
