#!/usr/bin/env bash
# Makes sure PostgreSQL's server binaries exist (the DB-bound tests run a second
# time on a private cluster). Installs Debian's package when missing and possible.
set -u
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && exit 0
command -v initdb >/dev/null 2>&1 && exit 0
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo -n"
if command -v apt-get >/dev/null 2>&1; then
  echo "PostgreSQL not found: installing Debian's postgresql package (for the database tests)"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq postgresql >/dev/null && exit 0
fi
echo "PostgreSQL is missing and could not be installed (sudo apt-get install postgresql)." >&2
exit 1
