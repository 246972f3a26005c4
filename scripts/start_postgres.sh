#!/usr/bin/env bash
# Start a throwaway PostgreSQL for babelcart's tests on 127.0.0.1:${PGPORT:-5432}.
#
# Idempotent: installs Debian's postgresql when missing, creates (once) a cluster, starts it when it is
# down, creates (once) the role and database babelcart/babelcart. Fails soft: on any problem it prints a
# message to stderr and exits 0 without printing a URL, so the Postgres tests are skipped, not failed.
# On success the last line on stdout is the URL, e.g.
#   export BABELCART_TEST_PG_URL="$(bash scripts/start_postgres.sh | tail -n1)"
set -u

PORT="${PGPORT:-5432}"
USER_NAME="${BABELCART_PG_USER:-babelcart}"
PASSWORD="${BABELCART_PG_PASSWORD:-babelcart}"
DB_NAME="${BABELCART_PG_DB:-babelcart_test}"
CLUSTER="${BABELCART_PG_CLUSTER:-babelcart}"

soft_fail() { echo "start_postgres: $*; PostgreSQL tests will be skipped" >&2; exit 0; }

if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ -z "$(ls /usr/lib/postgresql 2>/dev/null)" ]; then
    if [ "$(id -u)" != "0" ]; then soft_fail "postgresql is not installed and we are not root"; fi
    echo "start_postgres: installing postgresql (apt-get)" >&2
    export DEBIAN_FRONTEND=noninteractive
    (apt-get update -qq && apt-get install -y -qq postgresql >/dev/null) >&2 \
        || soft_fail "apt-get install postgresql failed"
fi

VERSION="$(ls /usr/lib/postgresql | sort -n | tail -n1)"
[ -n "$VERSION" ] || soft_fail "no PostgreSQL version found under /usr/lib/postgresql"

as_pg() { if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

if ! pg_lsclusters -h 2>/dev/null | awk '{print $1" "$2}' | grep -qx "$VERSION $CLUSTER"; then
    # A port already used by another cluster would clash: ours takes PORT only when free.
    pg_createcluster "$VERSION" "$CLUSTER" -p "$PORT" -- --auth-local=trust --auth-host=scram-sha-256 >&2 \
        || soft_fail "pg_createcluster failed"
fi

STATUS="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $4}')"
CPORT="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1==v && $2==c {print $3}')"
if [ "$STATUS" != "online" ]; then
    pg_ctlcluster "$VERSION" "$CLUSTER" start -- -o "-c listen_addresses=127.0.0.1" >&2 \
        || pg_ctlcluster "$VERSION" "$CLUSTER" start >&2 \
        || soft_fail "could not start cluster $VERSION/$CLUSTER"
fi

for _ in $(seq 1 30); do
    as_pg pg_isready -q -h 127.0.0.1 -p "$CPORT" && break
    sleep 0.5
done
as_pg pg_isready -q -h 127.0.0.1 -p "$CPORT" || soft_fail "server on port $CPORT did not become ready"

PSQL=(as_pg psql -v ON_ERROR_STOP=1 -q -p "$CPORT" -h /var/run/postgresql -d postgres)
if ! "${PSQL[@]}" -tAc "SELECT 1 FROM pg_roles WHERE rolname='$USER_NAME'" | grep -q 1; then
    "${PSQL[@]}" -c "CREATE ROLE $USER_NAME LOGIN PASSWORD '$PASSWORD'" >&2 || soft_fail "could not create role"
fi
if ! "${PSQL[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname='$DB_NAME'" | grep -q 1; then
    "${PSQL[@]}" -c "CREATE DATABASE $DB_NAME OWNER $USER_NAME" >&2 || soft_fail "could not create database"
fi

echo "start_postgres: ready on 127.0.0.1:$CPORT (cluster $VERSION/$CLUSTER, db $DB_NAME)" >&2
echo "postgresql+psycopg://$USER_NAME:$PASSWORD@127.0.0.1:$CPORT/$DB_NAME"
