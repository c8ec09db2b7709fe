#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries exist (the DB-bound tests run a second
# time on a private cluster). Installs Debian's package when missing and possible.
set -u
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && exit 0
command -v initdb >/dev/null 2>&1 && exit 0
"$(dirname "$0")/apt-install.sh" postgresql "for the database tests" && exit 0
echo "PostgreSQL is missing and could not be installed (sudo apt-get install postgresql)." >&2
exit 1
