#!/usr/bin/env bash
# Makes sure a redis-server binary exists (the tests start their own private
# server from it). Installs Debian's package when missing and possible.
set -u
command -v redis-server >/dev/null 2>&1 && exit 0
[ -x /usr/sbin/redis-server ] && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
if command -v apt-get >/dev/null 2>&1; then
  echo "redis-server not found: installing Debian's redis-server package"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null \
    && exit 0
fi
echo "redis-server is missing and could not be installed automatically." >&2
echo "Install it (sudo apt-get install redis-server) or set FAIRQUEUE_TEST_REDIS_URL to a disposable Redis." >&2
exit 1
