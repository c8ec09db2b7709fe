#!/usr/bin/env bash
# make run: Redis (REDIS_URL if it answers, else a private redis-server under
# $VAR/redis), migrations, an admin login, demo tenants, worker configurations
# and tasks, then gunicorn on 127.0.0.1:$PORT, two workers and a scheduler. Ctrl-C stops
# everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=$PWD/.venv/bin/python
VAR=$(realpath -m "${FAIRQUEUE_VAR_DIR:-var}")
export FAIRQUEUE_VAR_DIR=$VAR
PORT=${PORT:-8000}
mkdir -p "$VAR/log" "$VAR/redis"

# secrets kept across runs
SECRET_KEY=$(cat "$(scripts/dev-secret-key.sh)")
export SECRET_KEY DEBUG=${DEBUG:-0}

pids=()
redis_pid=""
cleanup() {
  trap - INT TERM EXIT
  echo; echo "stopping..."
  [ "$(sed -n 2p "$VAR/redis-url" 2>/dev/null)" = "$$" ] && rm -f "$VAR/redis-url"  # ours, not a newer run's
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$redis_pid" ]; then kill -TERM "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
  echo "stopped."
}
trap cleanup INT TERM EXIT

redis_answers() { "$PY" -c 'import sys, redis; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1).ping()' "$1" 2>/dev/null; }

if [ -n "${REDIS_URL:-}" ] && redis_answers "$REDIS_URL"; then
  echo "using Redis at REDIS_URL"
else
  [ -n "${REDIS_URL:-}" ] && echo "REDIS_URL does not answer: starting a private redis-server instead"
  scripts/ensure-redis-server.sh
  REDIS_PORT=${REDIS_PORT:-$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
  REDIS_BIN=$(command -v redis-server || echo /usr/sbin/redis-server)
  "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$VAR/redis" --appendonly yes \
    --appendfsync everysec --save "" --maxmemory-policy noeviction --logfile "$VAR/redis/redis.log" \
    --daemonize no &
  redis_pid=$!
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
  for _ in $(seq 50); do redis_answers "$REDIS_URL" && break; sleep 0.1; done
  redis_answers "$REDIS_URL" || { echo "redis-server did not start: see $VAR/redis/redis.log"; exit 1; }
  echo "started a private redis-server on port $REDIS_PORT (data in $VAR/redis)"
fi
# for manage.py commands run from other shells meanwhile (fairqueue_site/settings.py reads it)
(umask 077 && printf '%s\n%s\n' "$REDIS_URL" "$$" > "$VAR/redis-url")  # the URL, and who is serving it

"$PY" manage.py migrate --noinput -v 0
"$PY" manage.py collectstatic --noinput -v 0
DEMO=$("$PY" manage.py setupdemo --admin-password-file "$VAR/admin-password" --noisy "${DEMO_NOISY:-3000}")
LOGIN=$(echo "$DEMO" | grep '^login:')
echo "$DEMO" | grep -v '^login:' || true

.venv/bin/gunicorn fairqueue_site.wsgi --bind "127.0.0.1:$PORT" --workers 2 --graceful-timeout 10 \
  --access-logfile "$VAR/log/access.log" --error-logfile "$VAR/log/gunicorn.log" &
pids+=($!)
"$PY" manage.py runscheduler >> "$VAR/log/scheduler.log" 2>&1 &
pids+=($!)
for worker in worker-001 worker-002; do
  "$PY" manage.py runworker --worker-id "$worker" >> "$VAR/log/$worker.log" 2>&1 &
  pids+=($!)
done

for _ in $(seq 50); do curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
cat <<MSG

FairQueue is running.
  URL:    http://127.0.0.1:$PORT/
  $LOGIN
  Redis:  ${REDIS_URL%%@*}
  workers: worker-001 (serves user:1,3,5, steals 2,4,6), worker-002 (the reverse)
  scheduler: demo-ping fires every 15 s
  logs:   $VAR/log/ (worker-001.log, worker-002.log, scheduler.log, gunicorn.log)
Press Ctrl-C to stop.
MSG
wait -n "${pids[@]}" || true
