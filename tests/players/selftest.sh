#!/usr/bin/env bash
# Proves that the player harness works before anyone trusts it on Lectern's output: packages an
# 8 s H.264/AAC clip in two renditions (640x360 and 320x180) as fMP4/CMAF segments with the
# ffmpeg CLI alone, as HLS (-f hls) and DASH (-f dash), serves it with serve.mjs, and plays it
# with hls.js (HLS), dash.js (DASH) and Shaka (DASH, then HLS), forcing every rendition.
#
# Usage: tests/players/selftest.sh        (after scripts/install-players.sh)
# Exits non-zero, naming the player, if any run fails. KEEP_WORK=1 keeps the package directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

if [[ ! -d $here/node_modules/playwright-core ]]; then
    echo "selftest: $here/node_modules is missing; run scripts/install-players.sh" >&2
    exit 1
fi
for tool in ffmpeg node; do
    command -v "$tool" >/dev/null || { echo "selftest: '$tool' is required" >&2; exit 1; }
done

work_dir=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
    if [[ ${KEEP_WORK:-0} == 1 ]]; then echo "selftest: package kept in $work_dir"; else rm -rf "$work_dir"; fi
}
trap cleanup EXIT

started=$SECONDS

# One encode per packager. Both get two video renditions from one decoded source, with a
# keyframe exactly every 2 s so that every rendition's segments start at the same instants
# (what lets a player switch between them), and one AAC track. The HLS muxer has to encode
# itself rather than copy: with stream copy FFmpeg 5.1 knows neither the bit rate nor the codec
# string of the video, and writes a master playlist without BANDWIDTH/CODECS.
encode_args=(
    -hide_banner -nostdin -loglevel error -y -threads 2
    -f lavfi -i testsrc2=size=640x360:rate=30:duration=8
    -f lavfi -i sine=frequency=440:duration=8:sample_rate=48000
    -filter_complex "[0:v]split=2[high][low_full];[low_full]scale=320:180[low]"
    -map "[high]" -map "[low]" -map 1:a
    -c:v libx264 -preset veryfast -profile:v main -pix_fmt yuv420p
    -b:v:0 600k -maxrate:v:0 600k -bufsize:v:0 1200k
    -b:v:1 200k -maxrate:v:1 200k -bufsize:v:1 400k
    -g 60 -keyint_min 60 -sc_threshold 0 -force_key_frames "expr:gte(t,n_forced*2)"
    -c:a aac -b:a 64k -ac 2 -ar 48000
)

echo "selftest: packaging in $work_dir"
mkdir -p "$work_dir/package/hls" "$work_dir/package/dash"
(
    cd "$work_dir/package/hls"
    # Alternate audio (agroup) rather than audio muxed into each variant, as CMAF packaging does.
    ffmpeg "${encode_args[@]}" \
        -f hls -hls_time 2 -hls_playlist_type vod -hls_segment_type fmp4 \
        -hls_fmp4_init_filename init.mp4 -hls_segment_filename '%v/segment_%03d.m4s' \
        -master_pl_name master.m3u8 \
        -var_stream_map "v:0,agroup:audio,name:360p v:1,agroup:audio,name:180p a:0,agroup:audio,name:audio" \
        '%v/index.m3u8'
)
ffmpeg "${encode_args[@]}" \
    -f dash -seg_duration 2 -use_template 1 -use_timeline 0 \
    -adaptation_sets "id=0,streams=v id=1,streams=a" \
    -init_seg_name 'init_$RepresentationID$.mp4' \
    -media_seg_name 'segment_$RepresentationID$_$Number%05d$.m4s' \
    "$work_dir/package/dash/manifest.mpd"

# Start the origin on a free port and read its URL from the first line it prints.
node "$here/serve.mjs" "$work_dir/package" --port 0 >"$work_dir/serve.out" 2>"$work_dir/serve.log" &
server_pid=$!
base_url=
for _ in $(seq 50); do
    base_url=$(sed -n 's/^serving .* at \(http:[^ ]*\)$/\1/p' "$work_dir/serve.out")
    [[ -n $base_url ]] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
    sleep 0.2
done
if [[ -z $base_url ]]; then
    echo "selftest: serve.mjs did not start:" >&2
    cat "$work_dir/serve.log" >&2
    exit 1
fi
echo "selftest: serving at $base_url"

runs=(
    "hls ${base_url}hls/master.m3u8"
    "dash ${base_url}dash/manifest.mpd"
    "shaka ${base_url}dash/manifest.mpd"
    "shaka ${base_url}hls/master.m3u8"
)
failed=()
summary=()
for run in "${runs[@]}"; do
    player=${run%% *}
    url=${run#* }
    echo
    echo "selftest: $player $url"
    run_started=$SECONDS
    if node "$here/play.mjs" --player "$player" --url "$url" --expect-renditions 2 --timeout 90; then
        summary+=("PASS  $player  $url  ($((SECONDS - run_started)) s)")
    else
        summary+=("FAIL  $player  $url  ($((SECONDS - run_started)) s)")
        failed+=("$player $url")
    fi
done

echo
echo "selftest summary ($((SECONDS - started)) s in all):"
printf '  %s\n' "${summary[@]}"
if (( ${#failed[@]} > 0 )); then
    echo "selftest: FAILED: ${failed[*]}" >&2
    echo "selftest: origin log (requests and statuses) in $work_dir/serve.log; rerun with KEEP_WORK=1 to keep it" >&2
    exit 1
fi
echo "selftest: all players passed"
