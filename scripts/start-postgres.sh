#!/usr/bin/env bash
# Start a throwaway PostgreSQL server for the test suite and print its URL.
#
#   eval "$(scripts/start-postgres.sh --export)"   # sets SUTRA_TEST_POSTGRES_URL
#   SUTRA_TEST_POSTGRES_URL=$(scripts/start-postgres.sh) .venv/bin/pytest tests/test_store.py
#
# Meant for a disposable Debian/Ubuntu machine or container, run as root: it
# installs Debian's postgresql package when missing, keeps its data under /tmp,
# listens on 127.0.0.1:$PGPORT (default 54329) only, trusts every local
# connection (no password), and creates the database sutra_test. Running it
# again while the server is up just prints the URL. Never use it for real data.
#
# Stop it with:  scripts/start-postgres.sh --stop
set -euo pipefail

PGPORT="${PGPORT:-54329}"
PGDATA="${SUTRA_PGDATA:-/tmp/sutra-postgres-${PGPORT}}"
DB=sutra_test
URL="postgresql://postgres@127.0.0.1:${PGPORT}/${DB}"

log() { echo "start-postgres: $*" >&2; }

find_bindir() {
    # Debian keeps the server binaries out of PATH, one directory per major version.
    local dir
    dir=$(printf "%s\n" /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
    if [[ -n "$dir" && -x "$dir/pg_ctl" ]]; then
        echo "$dir"
    elif command -v pg_config >/dev/null && [[ -x "$(pg_config --bindir)/pg_ctl" ]]; then
        pg_config --bindir
    fi
    return 0 # nothing printed means not installed
}

as_postgres() {
    # The server refuses to run as root; run its tools as the postgres user,
    # from a directory that user can enter.
    (cd /tmp && if command -v runuser >/dev/null; then
        runuser -u postgres -- "$@"
    else
        su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
    fi)
}

BINDIR=$(find_bindir)
if [[ "${1:-}" == "--stop" ]]; then
    if [[ -n "$BINDIR" && -f "$PGDATA/postmaster.pid" ]]; then
        as_postgres "$BINDIR/pg_ctl" -D "$PGDATA" -m fast -w stop >&2
    fi
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    log "run as root (it installs packages and switches to the postgres user)"
    exit 1
fi

if [[ -z "$BINDIR" ]]; then
    log "installing postgresql (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    BINDIR=$(find_bindir)
    if [[ -z "$BINDIR" ]]; then
        log "postgresql installed but pg_ctl not found under /usr/lib/postgresql"
        exit 1
    fi
fi

id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres

if [[ ! -s "$PGDATA/PG_VERSION" ]]; then
    log "creating a cluster in $PGDATA"
    rm -rf "$PGDATA"
    install -d -o postgres -g postgres -m 700 "$PGDATA"
    # fsync off: the data is thrown away, and it makes initdb and tests faster.
    as_postgres "$BINDIR/initdb" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 \
        --locale=C.UTF-8 --no-sync >/dev/null
    cat >>"$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = ${PGPORT}
unix_socket_directories = '${PGDATA}'
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    # Loopback only (besides the socket, which lives inside the data directory).
    cat >"$PGDATA/pg_hba.conf" <<HBA
local all all trust
host  all all 127.0.0.1/32 trust
HBA
fi

ready() {
    # Up to $1 seconds for the server to accept connections.
    local i
    for ((i = 0; i < $1 * 10; i++)); do
        "$BINDIR/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && return 0
        sleep 0.1
    done
    return 1
}

start() {
    log "starting the server on 127.0.0.1:${PGPORT}"
    as_postgres "$BINDIR/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 30 start >/dev/null || {
        tail -n 20 "$PGDATA/server.log" >&2 || true
        exit 1
    }
}

if ! as_postgres "$BINDIR/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    start
elif ! ready 5; then
    # pg_ctl trusts postmaster.pid; a server killed hard can leave one behind
    # whose process still seems alive (an unreaped zombie) for a while.
    log "the server in $PGDATA does not answer"
    start
fi
if ! ready 30; then
    log "the server does not accept connections on 127.0.0.1:${PGPORT}; see $PGDATA/server.log"
    exit 1
fi

PSQL=("$BINDIR/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA)
if [[ -z "$(as_postgres "${PSQL[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '${DB}'")" ]]; then
    as_postgres "${PSQL[@]}" -c "CREATE DATABASE ${DB}" >/dev/null
fi

if [[ "${1:-}" == "--export" ]]; then
    echo "export SUTRA_TEST_POSTGRES_URL=${URL}"
else
    echo "$URL"
fi
