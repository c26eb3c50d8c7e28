# Shared steps of the shell benchmarks that run a release `lectern serve` (sourced after
# scripts/lib.sh, from the repository root).

# A scratch database on DATABASE_URL's server and a work directory under target/ (the
# repository's disk), both removed on exit with the server. Sets server_url, database, work and
# server_pid. Usage: bench_scratch NAME (database lectern_bench_NAME_PID, work bench-NAME.*).
bench_scratch() {
    server_url="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
    server_url="${server_url%/*}"
    database="lectern_bench_$1_$$"
    work="$(mktemp -d -p "$LECTERN_ROOT/target" "bench-$1.XXXXXX")"
    server_pid=""
    trap bench_cleanup EXIT
}

bench_cleanup() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
    psql -w -q "$server_url/postgres" -c "drop database if exists $database" >/dev/null 2>&1 || true
    rm -rf "$work"
}

# Creates the admin bench@example.com, starts `$lectern serve` on the scratch database (the
# caller exports the other LECTERN_* settings first) listening on 127.0.0.1:PORT, waits for
# /readyz. Sets password, server_pid and base. Usage: bench_serve PORT
bench_serve() {
    export DATABASE_URL="$server_url/$database"
    export LECTERN_DATA_DIR="$work/data" LECTERN_LISTEN="127.0.0.1:$1"
    password="bench-password-$$-long-enough"
    echo "$password" | "$lectern" users create-admin --email bench@example.com >/dev/null
    "$lectern" serve >"$work/server.log" 2>&1 &
    server_pid=$!
    base="http://127.0.0.1:$1"
    for _ in $(seq 1 100); do
        curl -sf "$base/readyz" >/dev/null && break
        sleep 0.2
    done
    curl -sf "$base/readyz" >/dev/null || die "lectern serve did not become ready; see $work/server.log"
}

# Logs the admin in (after bench_serve) and sets token.
bench_login() {
    token=$(curl -sf "$base/v1/auth/login" -H 'Content-Type: application/json' \
        -d "{\"email\":\"bench@example.com\",\"password\":\"$password\"}" | json "['access_token']")
}

# Prints the field of the JSON document on stdin that the Python subscript $1 names.
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
