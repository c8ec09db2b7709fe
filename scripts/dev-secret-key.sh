#!/usr/bin/env bash
# The development SECRET_KEY: generated once into $FAIRQUEUE_VAR_DIR/secret-key (var/, not in
# git, mode 600) by `make install` and `make run`, read by the settings when SECRET_KEY is not
# set and FAIRQUEUE_ENV is not production (docs/configuration.md). Prints the file's path.
set -euo pipefail
cd "$(dirname "$0")/.."
VAR=$(realpath -m "${FAIRQUEUE_VAR_DIR:-var}")
mkdir -p "$VAR"
if [ ! -s "$VAR/secret-key" ]; then
  (umask 077 && od -An -N48 -tx1 /dev/urandom | tr -d ' \n' > "$VAR/secret-key")
fi
echo "$VAR/secret-key"
