# A real PostgreSQL server (Debian's postgresql) on 127.0.0.1, for the tests
# of `ferry server --database postgres://…`. Its own cluster, started with
# pg_ctl (no systemd), a role and a database for the tests; exports
# FERRY_TEST_POSTGRES_URL, which those tests read.
# Set FERRY_SKIP_POSTGRES_TESTS=1 to skip those tests knowingly instead.
if [ -n "${FERRY_SKIP_POSTGRES_TESTS:-}" ]; then
    log "FERRY_SKIP_POSTGRES_TESTS is set: not starting PostgreSQL"
    return 0
fi
apt_install postgresql
FERRY_PG_PORT=${FERRY_PG_PORT:-55432}
FERRY_PG_DIR=/var/lib/ferry-test-postgres
FERRY_PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
FERRY_TEST_POSTGRES_URL="postgres://ferry:ferry@127.0.0.1:$FERRY_PG_PORT/ferry_test"
export FERRY_TEST_POSTGRES_URL

ferry_pg() { runuser -u postgres -- "$@"; }
if ! ferry_pg "$FERRY_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$FERRY_PG_PORT"; then
    if [ ! -f "$FERRY_PG_DIR/PG_VERSION" ]; then
        mkdir -p "$FERRY_PG_DIR"
        chown postgres:postgres "$FERRY_PG_DIR"
        ferry_pg "$FERRY_PG_BIN/initdb" -D "$FERRY_PG_DIR" -A trust -U postgres >/dev/null
    fi
    mkdir -p /var/run/postgresql
    chown postgres:postgres /var/run/postgresql
    # Many test servers at once, each with a small pool.
    ferry_pg "$FERRY_PG_BIN/pg_ctl" -D "$FERRY_PG_DIR" -l "$FERRY_PG_DIR/server.log" -w -t 60 \
        -o "-h 127.0.0.1 -p $FERRY_PG_PORT -k /var/run/postgresql -c max_connections=300 -c fsync=off" start >/dev/null
    wait_for "PostgreSQL on 127.0.0.1:$FERRY_PG_PORT" 30 \
        ferry_pg "$FERRY_PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$FERRY_PG_PORT"
fi
ferry_psql() { ferry_pg "$FERRY_PG_BIN/psql" -h 127.0.0.1 -p "$FERRY_PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(ferry_psql -c "SELECT 1 FROM pg_roles WHERE rolname = 'ferry'")" != 1 ]; then
    ferry_psql -c "CREATE ROLE ferry LOGIN PASSWORD 'ferry' CREATEDB"
fi
if [ "$(ferry_psql -c "SELECT 1 FROM pg_database WHERE datname = 'ferry_test'")" != 1 ]; then
    ferry_psql -c "CREATE DATABASE ferry_test OWNER ferry"
fi
