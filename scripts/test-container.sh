#!/usr/bin/env bash
# Builds the lectern image with podman and runs it against this machine's PostgreSQL: the image's
# `lectern migrate` applies the migrations to a scratch database, and its `lectern serve` answers
# /readyz (200, database and storage ok) and stops cleanly on SIGTERM. Prints the image size.
#
#   scripts/test-container.sh
#
# It does not compile Lectern: the image's `prebuilt` stage takes the binary a build already
# made (target/release/lectern when present, else target/debug/lectern; debug information is
# stripped from a copy). No image registry is needed either: the Debian bookworm base is made
# with `debootstrap --variant=minbase` and imported once (cached in .tools/container).
# Needs root (debootstrap, rootful podman), and reaches Debian's package mirror.
#
# Environment (all optional):
#   LECTERN_BIN          the binary to put in the image
#   LECTERN_IMAGE        the tag to build (default: localhost/lectern:test)
#   DATABASE_URL         the PostgreSQL server to test against (its database part is replaced
#                        by a scratch database, dropped afterwards)
#   LECTERN_DEBIAN_MIRROR  mirror for debootstrap (default: http://deb.debian.org/debian)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LECTERN_ROOT"

[ "$(id -u)" -eq 0 ] || die "run this as root: debootstrap and rootful podman need it"
ensure_packages podman buildah runc debootstrap uidmap binutils curl

WORK="$LECTERN_ROOT/.tools/container"
BASE_IMAGE=localhost/lectern-debian:bookworm
IMAGE="${LECTERN_IMAGE:-localhost/lectern:test}"
# A free loopback port for the containerised serve (it shares the host's network).
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
mkdir -p "$WORK"

# crun fails on hybrid cgroup hosts and raising ulimits is refused in some sandboxes: run with
# runc and the kernel's own limits.
cat >"$WORK/containers.conf" <<'EOF'
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]

[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF="$WORK/containers.conf"

if ! podman image exists "$BASE_IMAGE"; then
    say "making the Debian bookworm base (debootstrap --variant=minbase) and importing it as $BASE_IMAGE"
    rm -rf "$WORK/rootfs"
    debootstrap --variant=minbase bookworm "$WORK/rootfs" "${LECTERN_DEBIAN_MIRROR:-http://deb.debian.org/debian}" \
        >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log: $WORK/debootstrap.log)"; }
    rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
    tar -C "$WORK/rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null \
        || die "podman import of the debootstrapped base failed"
    rm -rf "$WORK/rootfs"
fi

binary="${LECTERN_BIN:-}"
if [ -z "$binary" ]; then
    if [ -x target/release/lectern ]; then binary=target/release/lectern; else binary=target/debug/lectern; fi
fi
[ -x "$binary" ] || die "no lectern binary at $binary: build it first (cargo build) or set LECTERN_BIN"

say "building $IMAGE from $binary (stage prebuilt, base $BASE_IMAGE)"
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
objcopy --strip-debug "$binary" "$context/lectern"
podman build --pull=never --format docker --target prebuilt \
    --build-arg "BASE_IMAGE=$BASE_IMAGE" \
    -f infra/container/Dockerfile -t "$IMAGE" "$context" >"$WORK/build.log" 2>&1 \
    || { tail -30 "$WORK/build.log" >&2; die "podman build failed (log: $WORK/build.log)"; }

[ "$(podman image inspect --format '{{.Config.User}}' "$IMAGE")" = "10001:10001" ] \
    || die "the image does not run as the unprivileged lectern user"
podman image inspect --format '{{json .Config.Entrypoint}}' "$IMAGE" | grep -q '"/usr/local/bin/lectern"' \
    || die "the image's entrypoint is not lectern"
podman run --rm "$IMAGE" --version >/dev/null || die "the binary does not start in the image (missing libraries?)"

[ -n "${DATABASE_URL:-}" ] || ensure_postgres
server_url="${DATABASE_URL%/*}"
database=lectern_container_test
test_url="$server_url/$database"
# Containers left by an interrupted earlier run of this script (named after their pid).
podman ps -a --format '{{.Names}}' | grep '^lectern-container-test-' | xargs -r podman rm -f -t 0 >/dev/null 2>&1 || true
psql "$server_url/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null
psql "$server_url/postgres" -qc "CREATE DATABASE $database" >/dev/null

name="lectern-container-test-$$"
cleanup() {
    podman rm --ignore -f -t 0 "$name" >/dev/null 2>&1 || true
    podman rm --ignore -f -t 0 "$name-worker" >/dev/null 2>&1 || true
    psql "$server_url/postgres" -qc "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
    rm -rf "$context"
}
trap cleanup EXIT

say "lectern migrate (in the image)"
podman run --rm --network host -e DATABASE_URL="$test_url" -e LECTERN_DB_CREATE=false "$IMAGE" migrate \
    || die "lectern migrate failed in the image"
applied="$(psql "$test_url" -Atc 'SELECT count(*) FROM _sqlx_migrations WHERE success')"
expected="$(ls migrations/*.sql | wc -l)"
[ "$applied" -eq "$expected" ] || die "the image applied $applied migrations, the repository has $expected"

say "lectern serve (in the image) answers /readyz"
podman run -d --name "$name" --network host -e DATABASE_URL="$test_url" \
    -e LECTERN_LISTEN="127.0.0.1:$PORT" -e LECTERN_MIGRATE_ON_START=false "$IMAGE" serve >/dev/null \
    || die "podman run serve failed"
ready=""
for _ in $(seq 1 60); do
    if ready="$(curl -fsS "http://127.0.0.1:$PORT/readyz" 2>/dev/null)"; then break; fi
    ready=""
    sleep 1
done
if [ -z "$ready" ]; then
    podman logs "$name" >&2 || true
    die "serve in the image did not answer /readyz within 60 s (its log is above)"
fi
echo "$ready" | python3 -c 'import json,sys; body=json.load(sys.stdin); assert body["status"]=="ok" and body["checks"]["database"]["status"]=="ok", body' \
    || die "/readyz answered but not ok: $ready"
echo "/readyz: $ready"
podman healthcheck run "$name" >/dev/null 2>&1 || die "the image's HEALTHCHECK fails while /readyz answers"
# Every line lectern wrote (on standard error) must be a JSON object.
podman logs "$name" >"$WORK/serve.log" 2>&1 || die "podman logs failed"
python3 - "$WORK/serve.log" <<'PY' || die "the image's logs are not JSON lines (LECTERN_LOG_FORMAT=json); see $WORK/serve.log"
import json, sys
# podman's own complaints (logrus lines: time="..." level=...) share the stream; they are not lectern's.
lines = [line for line in open(sys.argv[1]) if line.strip() and not line.startswith('time="')]
assert lines, "no log line"
for line in lines:
    try:
        assert isinstance(json.loads(line), dict)
    except Exception:
        sys.exit(f"not a JSON object: {line!r}")
PY

podman stop --time 30 "$name" >/dev/null
status="$(podman inspect --format '{{.State.ExitCode}}' "$name")"
[ "$status" -eq 0 ] || die "serve exited with $status after SIGTERM (expected a clean 0)"

say "lectern worker (in the image) starts, serves its metrics, and stops cleanly"
metrics_port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
podman run -d --name "$name-worker" --network host --health-cmd none -e DATABASE_URL="$test_url" \
    -e LECTERN_MIGRATE_ON_START=false -e LECTERN_METRICS_LISTEN="127.0.0.1:$metrics_port" "$IMAGE" worker >/dev/null \
    || die "podman run worker failed"
metrics=""
for _ in $(seq 1 60); do
    if metrics="$(curl -fsS "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null)"; then break; fi
    metrics=""
    sleep 1
done
if [ -z "$metrics" ]; then
    podman logs "$name-worker" >&2 || true
    die "the worker in the image did not serve /metrics on LECTERN_METRICS_LISTEN within 60 s (its log is above)"
fi
grep -q '^# TYPE lectern_jobs_finished counter' <<<"$metrics" || die "the worker's /metrics lacks lectern_jobs_finished"
podman stop --time 30 "$name-worker" >/dev/null
status="$(podman inspect --format '{{.State.ExitCode}}' "$name-worker")"
[ "$status" -eq 0 ] || die "worker exited with $status after SIGTERM (expected a clean 0)"
podman rm -f "$name-worker" >/dev/null

size="$(podman image inspect --format '{{.Size}}' "$IMAGE")"
echo "image $IMAGE: $((size / 1024 / 1024)) MiB (binary $(($(stat -c %s "$context/lectern") / 1024 / 1024)) MiB)"
echo "1 passed, 0 failed"

# --- the compose file as a whole (issue 19): serve + worker + PostgreSQL + SeaweedFS ---
LECTERN_IMAGE="$IMAGE" bash scripts/test-compose.sh
# --- end compose ---
