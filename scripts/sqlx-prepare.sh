#!/usr/bin/env bash
# Regenerates the committed query data in .sqlx/ after a query or a migration changes, so the
# project keeps compiling without a database (SQLX_OFFLINE=true). Uses a scratch database with
# the migrations applied; LECTERN_SQLX_DB names it (default lectern_sqlx), so several checkouts
# can regenerate at once without dropping each other's scratch database.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LECTERN_ROOT"
ensure_postgres
server="${DATABASE_URL%/*}"
scratch="${LECTERN_SQLX_DB:-lectern_sqlx}"
psql -w -q "$server/postgres" -c "drop database if exists $scratch" -c "create database $scratch"
for migration in migrations/*.sql; do
    psql -w -q -v ON_ERROR_STOP=1 "$server/$scratch" -f "$migration" >/dev/null
done
rm -rf .sqlx && mkdir .sqlx
# The macros only save their data when they run, so make them run.
cargo clean -p lectern
SQLX_OFFLINE=false DATABASE_URL="$server/$scratch" SQLX_OFFLINE_DIR="$PWD/.sqlx" \
    cargo check --workspace --all-targets
echo "query data for $(ls .sqlx | wc -l) queries written to .sqlx/"
