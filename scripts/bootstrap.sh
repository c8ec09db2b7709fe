#!/usr/bin/env bash
# Creates .venv from uv.lock (reproducible), finding Python 3.12+ and uv first.
# Arguments go to `uv sync` (`make race`: --group bench, and the arq venv's --project).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$(scripts/find-python.sh)
UV=$(command -v uv 2>/dev/null || true)
if [ -z "$UV" ]; then
  if [ ! -x var/tools/bin/uv ]; then
    echo "uv not found: installing it into var/tools (a private venv)"
    "$PY" -m venv var/tools
    var/tools/bin/pip install --quiet --disable-pip-version-check 'uv>=0.9'
  fi
  UV=var/tools/bin/uv
fi
export UV_PYTHON_DOWNLOADS=never
# Bytecode written now, not by each process: with PYTHONDONTWRITEBYTECODE set (as on some
# machines) every `manage.py runworker` would otherwise compile Django and redis from source
# again (about 1 s of its start-up). The project's own modules too: Python ignores a .pyc
# whose source changed since, so a stale one only costs a stat.
"$UV" sync --frozen --python "$PY" --quiet --compile-bytecode "$@"
.venv/bin/python -m compileall -q -j 0 fairqueue_site queueapp tests >/dev/null
scripts/dev-secret-key.sh >/dev/null  # so the README's manage.py lines run as printed
