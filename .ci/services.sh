#!/usr/bin/env bash
# Start or stop the scale-mode services on loopback for tests: PostgreSQL and Redis from Debian's
# packages (installed when missing; CI runs as root). Prints the environment to export on start.
#   .ci/services.sh start   ->  DATABASE_URL=... REDIS_URL=...
#   .ci/services.sh stop
set -euo pipefail
PG_PORT=${POSTFLOW_TEST_PG_PORT:-55432}
REDIS_PORT=${POSTFLOW_TEST_REDIS_PORT:-56379}
BASE=${POSTFLOW_TEST_SERVICES_DIR:-/tmp/postflow-services}
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)

install_missing() {
  local need=()
  [ -n "$PGBIN" ] || need+=(postgresql)
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >&2
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  fi
}

as_postgres() {
  # initdb and postgres refuse to run as root.
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  install_missing
  mkdir -p "$BASE"
  if [ "$(id -u)" = 0 ]; then chown postgres "$BASE"; fi
  if [ ! -f "$BASE/pg/PG_VERSION" ]; then
    as_postgres "$PGBIN/initdb" -D "$BASE/pg" -U postgres -A trust >/dev/null
  fi
  as_postgres "$PGBIN/pg_ctl" -D "$BASE/pg" -l "$BASE/pg.log" -w \
    -o "-p $PG_PORT -k $BASE -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >&2
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
    --pidfile "$BASE/redis.pid" --logfile "$BASE/redis.log"
  echo "DATABASE_URL=postgres://postgres@127.0.0.1:$PG_PORT/postflow"
  echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0"
}

stop() {
  if [ -n "$PGBIN" ] && [ -f "$BASE/pg/postmaster.pid" ]; then
    as_postgres "$PGBIN/pg_ctl" -D "$BASE/pg" -m fast -w stop >&2 || true
  fi
  if [ -f "$BASE/redis.pid" ]; then kill "$(cat "$BASE/redis.pid")" 2>/dev/null || true; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
