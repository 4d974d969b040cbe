# Sourced by scripts/test-all.sh and bench/run.sh: a throwaway PostgreSQL cluster for the
# PostgreSQL backend's tests and benchmark rows. `havip_pg_up` installs PostgreSQL from
# Debian's packages when initdb is missing, starts a cluster in a temporary directory (under
# $TMPDIR, else /tmp) on 127.0.0.1 and a free port, and exports HAVIP_TEST_POSTGRES_URL;
# `havip_pg_down` stops it and removes the directory. Any failure is fatal: the PostgreSQL
# tests are never skipped silently.
#
# An HAVIP_TEST_POSTGRES_URL already set (a server of your own, whose user may CREATE
# DATABASE) is used as it is, and nothing is started.

HAVIP_PG_DIR=""
HAVIP_PG_BIN=""
HAVIP_PG_AS=()

havip_pg_find_bin() {
    local d
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return 0
    fi
    # Debian keeps the server binaries off PATH, one directory per major version.
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
    if [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
        echo "$d"
        return 0
    fi
    return 1
}

havip_pg_fail() {
    echo "postgres.sh: cannot bring up PostgreSQL: $*" >&2
    if [ -n "$HAVIP_PG_DIR" ] && [ -f "$HAVIP_PG_DIR/log" ]; then
        echo "--- $HAVIP_PG_DIR/log" >&2
        tail -n 30 "$HAVIP_PG_DIR/log" >&2 || true
    fi
    exit 1
}

havip_pg_up() {
    if [ -n "${HAVIP_TEST_POSTGRES_URL:-}" ]; then
        echo "==> PostgreSQL: using HAVIP_TEST_POSTGRES_URL from the environment"
        return 0
    fi
    if ! HAVIP_PG_BIN="$(havip_pg_find_bin)"; then
        echo "==> PostgreSQL: initdb not found; apt-get install -y postgresql"
        command -v apt-get >/dev/null 2>&1 || havip_pg_fail "initdb is missing and apt-get is not available"
        export DEBIAN_FRONTEND=noninteractive
        timeout 300 apt-get update -qq || havip_pg_fail "apt-get update failed"
        timeout 600 apt-get install -y -qq postgresql >/dev/null || havip_pg_fail "apt-get install postgresql failed"
        HAVIP_PG_BIN="$(havip_pg_find_bin)" || havip_pg_fail "installed, but no initdb under /usr/lib/postgresql/*/bin"
    fi
    HAVIP_PG_DIR="$(mktemp -d "${TMPDIR:-/tmp}/havip-pg.XXXXXX")" || havip_pg_fail "mktemp failed"
    # initdb refuses to run as root: run the cluster as the postgres user (the Debian
    # package creates it; create it if a bare image lacks it).
    if [ "$(id -u)" = 0 ]; then
        if ! id postgres >/dev/null 2>&1; then
            useradd --system --no-create-home --shell /usr/sbin/nologin postgres \
                || havip_pg_fail "cannot create the postgres user"
        fi
        chown -R postgres "$HAVIP_PG_DIR"
        chmod 700 "$HAVIP_PG_DIR"
        HAVIP_PG_AS=(runuser -u postgres --)
    fi
    local port
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')" \
        || havip_pg_fail "no free port"
    "${HAVIP_PG_AS[@]}" "$HAVIP_PG_BIN/initdb" -D "$HAVIP_PG_DIR/data" -U postgres --auth=trust \
        -E UTF8 --locale=C >"$HAVIP_PG_DIR/initdb.log" 2>&1 \
        || { cat "$HAVIP_PG_DIR/initdb.log" >&2; havip_pg_fail "initdb failed"; }
    "${HAVIP_PG_AS[@]}" "$HAVIP_PG_BIN/pg_ctl" -D "$HAVIP_PG_DIR/data" -l "$HAVIP_PG_DIR/log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $HAVIP_PG_DIR -c max_connections=200" start >/dev/null \
        || havip_pg_fail "pg_ctl start failed"
    export HAVIP_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
    echo "==> PostgreSQL $("$HAVIP_PG_BIN/pg_ctl" --version | awk '{print $3}') on 127.0.0.1:$port ($HAVIP_PG_DIR)"
}

havip_pg_down() {
    if [ -n "$HAVIP_PG_DIR" ] && [ -d "$HAVIP_PG_DIR/data" ]; then
        "${HAVIP_PG_AS[@]}" "$HAVIP_PG_BIN/pg_ctl" -D "$HAVIP_PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ -n "$HAVIP_PG_DIR" ]; then
        rm -rf "$HAVIP_PG_DIR"
    fi
    HAVIP_PG_DIR=""
}
