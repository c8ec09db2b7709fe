#!/usr/bin/env bash
# Makes sure a redis-server binary exists (the tests and `make run` start their
# own private server from it). Installs Debian's package when missing and possible.
set -u
command -v redis-server >/dev/null 2>&1 && exit 0
[ -x /usr/sbin/redis-server ] && exit 0
"$(dirname "$0")/apt-install.sh" redis-server "a private Redis for the tests and make run" && exit 0
echo "redis-server is missing and could not be installed automatically." >&2
echo "Install it (sudo apt-get install redis-server) or set FAIRQUEUE_TEST_REDIS_URL to a disposable Redis." >&2
exit 1
