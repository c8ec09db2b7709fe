#!/usr/bin/env bash
# Prints the path of a Python >= 3.12 interpreter, or explains how to get one.
# Order: $PYTHON, .python-version via pyenv/python3, python3.13, python3.12,
# pyenv's installed versions, uv-managed Pythons.
set -u
ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
try() { local p; p=$(command -v "$1" 2>/dev/null) || return 1; ok "$p" && { "$p" -c 'import sys; print(sys.executable)'; exit 0; }; return 1; }

[ -n "${PYTHON:-}" ] && { try "$PYTHON" || { echo "PYTHON=$PYTHON is not Python 3.12+" >&2; exit 1; }; }
for name in python3 python3.13 python3.12 python3.14 python; do try "$name"; done
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
for p in "$root"/versions/3.1[2-9]*/bin/python3; do [ -x "$p" ] && ok "$p" && { echo "$p"; exit 0; }; done
if command -v uv >/dev/null 2>&1; then
  p=$(uv python find '>=3.12' 2>/dev/null) && ok "$p" && { echo "$p"; exit 0; }
fi
cat >&2 <<'MSG'
FairQueue needs Python 3.12 or newer, and none was found.
Get one with any of:
  sudo apt-get install python3.12 python3.12-venv   (Debian 13, Ubuntu 24.04)
  pyenv install 3.12                                (https://github.com/pyenv/pyenv)
  uv python install 3.12                            (https://docs.astral.sh/uv/)
or point PYTHON=/path/to/python3.12 at one, then run make again.
MSG
exit 1
