#!/usr/bin/env bash
# Upload benchmark: how close does a tus upload through Lectern come to writing the same bytes
# straight to disk, and how much memory does the server need for it?
#
# Runs a release `lectern serve` with local storage on the same disk as the comparison, uploads
# SIZE_MIB (default 2048) over loopback with curl — tus PATCH requests of CHUNK_MIB (default
# 256) each, streamed from /dev/zero — and in the same run times
#   dd if=/dev/zero of=<same disk> bs=1M count=SIZE_MIB conv=fdatasync
# before and after the upload. Prints both throughputs, their ratio (target >= 0.7), and the
# server's peak resident memory, VmHWM (target < 100 MiB). It also checks that the asset ends
# `uploaded` with the right size and SHA-256.
#
# Needs PostgreSQL (DATABASE_URL's server; a scratch database is created and dropped).
# Usage: benches/tus_upload.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/support/server.sh"
cd "$LECTERN_ROOT"
SIZE_MIB="${SIZE_MIB:-2048}"
CHUNK_MIB="${CHUNK_MIB:-256}"
PORT="${PORT:-18473}"

ensure_build_packages
ensure_rust
ensure_postgres
say "building lectern (release)"
cargo build --release --bin lectern
lectern="$LECTERN_ROOT/target/release/lectern"

# The work directory is on the same disk as the repository, like the dd comparison.
bench_scratch tus

export LECTERN_WORKERS=0 LECTERN_LOG_FORMAT=json RUST_LOG=warn
bench_serve "$PORT"
idle_kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status")
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
bench_login
asset_id=$(curl -sf "$base/v1/assets" -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    -d '{"title":"benchmark"}' | json "['id']")
size=$((SIZE_MIB * 1024 * 1024))
chunk=$((CHUNK_MIB * 1024 * 1024))

dd_rate() {
    local start end
    start=$(date +%s.%N)
    dd if=/dev/zero of="$work/dd.bin" bs=1M count="$SIZE_MIB" conv=fdatasync status=none
    end=$(date +%s.%N)
    rm -f "$work/dd.bin"
    python3 -c "print(f'{$size / ($end - $start) / 1e6:.1f}')"
}

say "dd: writing ${SIZE_MIB} MiB with fdatasync"
dd_before=$(dd_rate)

say "tus: uploading ${SIZE_MIB} MiB in ${CHUNK_MIB} MiB PATCH requests"
location=$(curl -sf -D - -o /dev/null -X POST "$base/v1/uploads/tus" -H "Authorization: Bearer $token" \
    -H 'Tus-Resumable: 1.0.0' -H "Upload-Length: $size" \
    -H "Upload-Metadata: asset_id $(printf %s "$asset_id" | base64 -w0)" \
    | tr -d '\r' | awk 'tolower($1) == "location:" {print $2}')
[[ -n $location ]] || die "the upload was not created"
start=$(date +%s.%N)
ticks_before=$(cpu_ticks)
offset=0
while (( offset < size )); do
    this=$(( size - offset < chunk ? size - offset : chunk ))
    # `-T -` streams standard input (chunked), so curl never holds a chunk in memory.
    status=$(head -c "$this" /dev/zero | curl -s -o "$work/patch.out" -w '%{http_code}' -X PATCH "$location" \
        -H "Authorization: Bearer $token" -H 'Tus-Resumable: 1.0.0' -H "Upload-Offset: $offset" \
        -H 'Content-Type: application/offset+octet-stream' -H 'Expect:' -T - 2>/dev/null || true)
    [[ $status == 204 ]] || { cat "$work/patch.out"; die "PATCH at $offset answered $status"; }
    offset=$(( offset + this ))
done
end=$(date +%s.%N)
server_cpu=$(python3 -c "print(f'{($(cpu_ticks) - $ticks_before) / $(getconf CLK_TCK):.1f}')")
tus_seconds=$(python3 -c "print(f'{$end - $start:.1f}')")
tus_rate=$(python3 -c "print(f'{$size / ($end - $start) / 1e6:.1f}')")
peak_kib=$(awk '/^VmHWM:/ {print $2}' "/proc/$server_pid/status")

dd_after=$(dd_rate)

asset=$(curl -sf "$base/v1/assets/$asset_id" -H "Authorization: Bearer $token")
status=$(echo "$asset" | json "['status']")
stored_size=$(echo "$asset" | json "['source']['size']")
stored_sha=$(echo "$asset" | json "['source']['sha256']")
expected_sha=$(head -c "$size" /dev/zero | sha256sum | cut -d' ' -f1)
[[ $status == uploaded && $stored_size == "$size" && $stored_sha == "$expected_sha" ]] \
    || die "the upload did not complete correctly: status=$status size=$stored_size sha256=$stored_sha"

python3 - "$dd_before" "$dd_after" "$tus_rate" "$peak_kib" "$SIZE_MIB" "$CHUNK_MIB" "$idle_kib" "$server_cpu" "$tus_seconds" <<'PY'
import os, sys
dd_before, dd_after, tus, peak_kib = (float(v) for v in sys.argv[1:5])
size_mib, chunk_mib = sys.argv[5], sys.argv[6]
idle_kib, server_cpu, tus_seconds = float(sys.argv[7]), float(sys.argv[8]), float(sys.argv[9])
dd = (dd_before + dd_after) / 2
ratio = tus / dd
peak_mib = peak_kib / 1024
print()
print(f"tus upload of {size_mib} MiB in {chunk_mib} MiB PATCHes, local storage, loopback")
print(f"  dd (fdatasync)      {dd:8.1f} MB/s   (before {dd_before:.1f}, after {dd_after:.1f})")
print(f"  lectern tus         {tus:8.1f} MB/s")
print(f"  ratio tus/dd        {ratio:8.2f}       (target >= 0.70)  {'ok' if ratio >= 0.7 else 'BELOW TARGET'}")
print(f"  server peak RSS     {peak_mib:8.1f} MiB  (target < 100)   {'ok' if peak_mib < 100 else 'ABOVE TARGET'}"
      f"   idle before the upload: {idle_kib / 1024:.1f} MiB")
print(f"  server CPU          {server_cpu:8.1f} s over {tus_seconds:.1f} s of upload;"
      f" load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work skews the ratio)")
print("  asset: uploaded, size and SHA-256 verified")
PY
