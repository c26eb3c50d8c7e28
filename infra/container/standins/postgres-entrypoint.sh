#!/bin/bash
# First start: a cluster whose superuser is POSTGRES_USER with the password from
# POSTGRES_PASSWORD_FILE, and the database POSTGRES_DB; then PostgreSQL in the foreground.
set -euo pipefail
user="${POSTGRES_USER:-postgres}"
database="${POSTGRES_DB:-$user}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    password_file="${POSTGRES_PASSWORD_FILE:?POSTGRES_PASSWORD_FILE is required}"
    initdb --username="$user" --pwfile="$password_file" --auth-host=scram-sha-256 --auth-local=trust \
        --encoding=UTF8 >/dev/null
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$database" != postgres ]; then
        echo "CREATE DATABASE \"$database\" OWNER \"$user\"" | postgres --single -D "$PGDATA" postgres >/dev/null
    fi
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
