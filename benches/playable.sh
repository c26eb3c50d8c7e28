#!/usr/bin/env bash
# Playable-in-seconds benchmark: for a 10-minute 1080p30 H.264/AAC upload, how many seconds
# pass from the upload's completion to `playable` (the fast first package, a remux) and to
# `ready` (the full ladder)? Target: playable in under 10 s, whatever the lecture's length.
#
# Runs a release `lectern serve` with its embedded defaults (local storage in a scratch data
# directory on the repository's disk, one worker, the `course` preset, a fresh database),
# creates an asset, uploads the file with tus (one PATCH, curl streaming it from disk), then
# polls GET /v1/assets/{id} every 0.1 s. Prints, from the asset's own events (server clock):
#   upload complete → probed, → playable, → ready;
# the same from the client's polling; and, on the same file and disk, the remux alone
# (`lectern transcode --preview`, no storage or queue) for comparison.
#
# The source (testsrc2 + a tone, x264 ultrafast (Main profile, B-frames), 5 Mb/s, a keyframe
# every 2 s, AAC 128 kb/s) is made once and cached under target/bench-media/.
#
# Needs PostgreSQL (DATABASE_URL's server; a scratch database is created and dropped).
# Usage: benches/playable.sh            (DURATION=600 by default; SKIP_READY=1 stops at playable;
#        LECTERN_BIN=path/to/lectern uses that build instead of building a release one)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/support/server.sh"
cd "$LECTERN_ROOT"
DURATION="${DURATION:-600}"
PORT="${PORT:-18474}"
SKIP_READY="${SKIP_READY:-0}"

ensure_postgres
if [[ -n ${LECTERN_BIN:-} ]]; then
    lectern="$LECTERN_BIN"
else
    ensure_build_packages
    ensure_rust
    say "building lectern (release)"
    cargo build --release --bin lectern
    lectern="$LECTERN_ROOT/target/release/lectern"
fi
say "using $lectern"

media="$LECTERN_ROOT/target/bench-media"
source_file="$media/playable-${DURATION}s-1080p30.mp4"
mkdir -p "$media"
if [[ ! -s $source_file ]]; then
    say "making a ${DURATION}s 1080p30 H.264/AAC source (once; cached in $media)"
    nice -n 10 ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$DURATION" \
        -f lavfi -i "sine=frequency=300:sample_rate=48000:duration=$DURATION" \
        -c:v libx264 -preset ultrafast -profile:v high \
        -x264-params "keyint=60:min-keyint=60:scenecut=0:bframes=2:cabac=1" \
        -b:v 5M -maxrate 6M -bufsize 10M -pix_fmt yuv420p -c:a aac -b:a 128k -ac 2 \
        -movflags +faststart -f mp4 "$source_file.partial"
    mv "$source_file.partial" "$source_file"
fi
size=$(stat -c %s "$source_file")

bench_scratch playable

say "the remux alone: lectern transcode --preview (no storage, no queue)"
remux_start=$(date +%s.%N)
"$lectern" transcode "$source_file" --out "$work/remux-only" --preview --quiet >"$work/remux-only.txt"
remux_end=$(date +%s.%N)
remux_seconds=$(python3 -c "print(f'{$remux_end - $remux_start:.2f}')")
rm -rf "$work/remux-only"

export LECTERN_WORK_DIR="$work/scratch" LECTERN_LOG_FORMAT=json RUST_LOG=info,sqlx=warn
bench_serve "$PORT"
bench_login
asset_id=$(curl -sf "$base/v1/assets" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"title":"playable benchmark"}' | json "['id']")

say "uploading $((size / 1024 / 1024)) MiB with tus"
location=$(curl -sf -D - -o /dev/null -X POST "$base/v1/uploads/tus" -H "Authorization: Bearer $token" \
    -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" \
    -H "Upload-Metadata: asset_id $(printf %s "$asset_id" | base64 -w0)" \
    | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
[[ -n $location ]] || die "the upload was not created"
status=$(curl -s -o "$work/patch.out" -w '%{http_code}' -X PATCH "$location" \
    -H "Authorization: Bearer $token" -H 'Tus-Resumable: 1.0.0' -H 'Upload-Offset: 0' \
    -H 'Content-Type: application/offset+octet-stream' -H 'Expect:' -T "$source_file")
uploaded_at=$(date +%s.%N)
[[ $status == 204 ]] || { cat "$work/patch.out"; die "PATCH answered $status"; }

say "polling the asset until it is playable and ready"
python3 - "$base" "$password" "$asset_id" "$uploaded_at" "$SKIP_READY" >"$work/poll.txt" <<'PY'
import json, sys, time, urllib.error, urllib.request
base, password, asset_id, uploaded_at, skip_ready = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5] == "1"

def login():
    body = json.dumps({"email": "bench@example.com", "password": password}).encode()
    request = urllib.request.Request(f"{base}/v1/auth/login", data=body, headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(request))["access_token"]

token = login()
playable = ready = None
last_progress = -1.0
while True:
    request = urllib.request.Request(f"{base}/v1/assets/{asset_id}", headers={"Authorization": f"Bearer {token}"})
    try:
        asset = json.load(urllib.request.urlopen(request))
    except urllib.error.HTTPError as error:
        # Access tokens last minutes; the ladder takes longer.
        if error.code != 401:
            raise
        token = login()
        continue
    now = time.time() - uploaded_at
    if asset["status"] == "errored":
        sys.exit(f"asset errored: {asset['error']}")
    if playable is None and asset["playable"]:
        playable = now
        print(f"playable {now:.2f} {asset['current_version_kind']}", flush=True)
        print(f"  playable after {now:.1f} s (version {asset['current_version']}, {asset['current_version_kind']})", file=sys.stderr, flush=True)
        if skip_ready:
            break
    progress = asset.get("progress") or 0.0
    if progress - last_progress >= 0.1:
        last_progress = progress
        print(f"  {now:7.1f} s  ladder {progress * 100:5.1f} %  eta {asset.get('eta_seconds')} s", file=sys.stderr, flush=True)
    if asset["status"] == "ready":
        print(f"ready {now:.2f}", flush=True)
        break
    time.sleep(0.1)
PY

events=$(psql -w -q -At "$DATABASE_URL" -c "
    select type, extract(epoch from created_at) from asset_event
    where asset_id = '$asset_id' order by event_id")
preview_log=$(grep -h 'fast first package published' "$work/server.log" | tail -1 || true)
python3 - "$events" "$(cat "$work/poll.txt")" "$remux_seconds" "$size" "$DURATION" "$preview_log" "$(cat "$work/remux-only.txt")" <<'PY'
import json, os, sys
events, poll, remux_seconds, size, duration, preview_log, remux_out = sys.argv[1:8]
at = {}
for line in events.splitlines():
    kind, when = line.split("|")
    at.setdefault(kind, float(when))
uploaded = at["asset.uploaded"]
def since(kind):
    return f"{at[kind] - uploaded:8.2f} s" if kind in at else "       —"
print()
print(f"source: {int(size) / 1e6:.0f} MB, {float(duration) / 60:.0f} min 1080p30 H.264 Main + AAC, keyframe every 2 s")
print("from upload complete (asset.uploaded, server clock):")
print(f"  probed                    {since('asset.probed')}")
print(f"  playable (asset.playable) {since('asset.playable')}   (target < 10 s)")
print(f"  ready    (asset.ready)    {since('asset.ready')}")
for line in poll.splitlines():
    print(f"  client poll: {line} s")
if preview_log:
    record = json.loads(preview_log)
    fields = record.get("fields", record)
    print(f"  preview job: {float(fields.get('seconds', 0)):.2f} s to read the original, remux it and store the package")
print(f"remux alone (lectern transcode --preview, same disk): {float(remux_seconds):.2f} s wall-clock")
for line in remux_out.splitlines():
    if line.startswith("duration:"):
        print(f"  {line}")
print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work on the machine slows the ladder)")
PY
