#!/usr/bin/env bash
# Generates the uploads Lectern's probe and engine are tested against: the kinds of files real
# instructors send (phone portrait video, anamorphic PAL, ProRes edits, MediaRecorder WebM, HDR,
# ...) and the broken ones they send by mistake. Every file is 2-4 s and small, made with the
# ffmpeg CLI from synthetic sources, so nothing binary has to live in git.
#
# Usage: tests/media/make-fixtures.sh OUTDIR
#
# Idempotent: a fixture that already exists in OUTDIR is not regenerated (each one is written
# to a temporary name and moved into place, so an interrupted run never leaves a half file that
# a later run would keep). Every run then re-checks with ffprobe that each fixture really has
# the property it exists for (rotation matrix, missing duration, moov position, ...), and
# rewrites OUTDIR/fixtures.json, which lists the expected outcome of each file.
set -euo pipefail

if [[ $# -ne 1 || $1 == -* ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
out_dir=$1

for tool in ffmpeg ffprobe od openssl stat; do
    if ! command -v "$tool" >/dev/null; then
        echo "make-fixtures: '$tool' is required but not installed" >&2
        exit 1
    fi
done

mkdir -p "$out_dir"
work_dir=$(mktemp -d)
trap 'rm -rf "$work_dir"' EXIT

# -nostdin: ffmpeg must never wait on the terminal. Two threads: the machine is shared.
ffmpeg_quiet=(ffmpeg -hide_banner -nostdin -loglevel error -y -threads 2)
# veryfast keeps the run short while still writing what cameras write (High profile, CABAC,
# B-frames, hence composition offsets); the pictures are synthetic, so quality does not matter.
# Callers add -g for a keyframe every second, as most real encoders do.
x264=(-c:v libx264 -preset veryfast -pix_fmt yuv420p)
aac=(-c:a aac -b:a 64k -ar 48000 -ac 2)

# A test tone of a given frequency and duration, as lavfi input arguments. Callers expand it
# unquoted on purpose so that it splits into separate arguments.
tone() { echo "-f lavfi -i sine=frequency=$1:duration=$2:sample_rate=48000"; }

# An average bit rate with a capped peak. The test pattern moves everywhere at once, so a
# quality target (-crf) would spend megabytes on it; a bit rate keeps every fixture small.
video_bitrate() { echo "-b:v $1 -maxrate $1 -bufsize $1"; }

# ---------------------------------------------------------------------------------------------
# ISO-BMFF helpers: the truncation fixtures depend on where the moov box sits.

# Prints "offset type size" for every top-level box of an MP4/MOV file.
list_top_level_boxes() {
    local file=$1 offset=0 file_size size type
    file_size=$(stat -c %s "$file")
    while (( offset + 8 <= file_size )); do
        size=$(od -An -tu4 --endian=big -j "$offset" -N4 "$file" | tr -d ' ')
        type=$(od -An -c -j $((offset + 4)) -N4 "$file" | tr -d ' ')
        if (( size == 1 )); then
            # A 64-bit "largesize" follows the type.
            size=$(od -An -tu8 --endian=big -j $((offset + 8)) -N8 "$file" | tr -d ' ')
        elif (( size == 0 )); then
            # The box runs to the end of the file.
            size=$((file_size - offset))
        fi
        echo "$offset $type $size"
        # A size below the header length means the file is corrupt; stop rather than loop.
        (( size >= 8 )) || break
        offset=$((offset + size))
    done
}

# Prints the top-level box types in order, space separated: "ftyp free mdat moov".
box_order() { list_top_level_boxes "$1" | awk '{printf "%s%s", sep, $2; sep=" "} END {print ""}'; }

# ---------------------------------------------------------------------------------------------
# Generators. Each writes exactly the file named by its first argument.

gen_landscape_1080p30() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=1920x1080:rate=30:duration=3 $(tone 440 3) \
        "${x264[@]}" $(video_bitrate 1000k) -g 30 "${aac[@]}" -shortest "$1"
}

# Phones store the sensor's landscape picture and a rotation matrix in the track header.
# FFmpeg 5.1 turns the `rotate` tag into a display matrix rotated COUNTER-clockwise by the
# tag's value (the old tag meant clockwise), so rotate=270 is what produces the matrix an
# iPhone held upright writes: {0,1,-1,0}, "rotate 90 degrees clockwise to show". Other FFmpeg
# versions may use the opposite sign, so both values are tried and the result is checked.
gen_phone_portrait_rotated() {
    local stored=$work_dir/phone_stored.mp4 tag
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=1280x720:rate=30:duration=3 $(tone 523 3) \
        "${x264[@]}" $(video_bitrate 600k) -g 30 "${aac[@]}" -shortest "$stored"
    for tag in 270 90; do
        "${ffmpeg_quiet[@]}" -i "$stored" -map 0 -c copy -metadata:s:v:0 rotate=$tag "$1"
        [[ $(ffprobe_rotation "$1") == -90 ]] && return 0
    done
    echo "make-fixtures: could not write a clockwise 90 degree display matrix" >&2
    return 1
}

# PAL DV/DVD 16:9: 720x576 stored, pixels 64/45 wide, so it shows as 1024x576.
gen_anamorphic_pal() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=720x576:rate=25:duration=3 $(tone 392 3) \
        -vf setsar=64/45 "${x264[@]}" $(video_bitrate 400k) -g 25 "${aac[@]}" -shortest "$1"
}

gen_sixty_fps() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=1280x720:rate=60:duration=3 $(tone 587 3) \
        "${x264[@]}" $(video_bitrate 600k) -g 60 "${aac[@]}" -shortest "$1"
}

# A slide deck screen recording at a Mac's 1440x900: a white page whose boxes change once a
# second, so nearly every frame repeats the previous one. No microphone, so no audio track.
gen_screen_no_audio() {
    "${ffmpeg_quiet[@]}" -f lavfi -i color=color=white:size=1440x900:rate=30:duration=3 \
        -vf "drawbox=x=80:y=60:w=1280:h=90:color=navy:t=fill,\
drawbox=x=80:y=220:w=900:h=40:color=gray:t=fill:enable='gte(t,1)',\
drawbox=x=80:y=300:w=700:h=40:color=gray:t=fill:enable='gte(t,2)'" \
        "${x264[@]}" -tune stillimage -crf 30 -g 90 -an "$1"
}

gen_audio_only_m4a() {
    "${ffmpeg_quiet[@]}" $(tone 440 3) "${aac[@]}" "$1"
}

gen_audio_only_mp3() {
    "${ffmpeg_quiet[@]}" $(tone 440 3) -c:a libmp3lame -b:a 64k -ar 44100 -ac 2 "$1"
}

# Podcast exports carry cover art as an attached picture "video" stream, which is not a video.
gen_audio_cover_art_mp3() {
    local cover=$work_dir/cover.png
    "${ffmpeg_quiet[@]}" -f lavfi -i color=color=teal:size=300x300 -frames:v 1 "$cover"
    "${ffmpeg_quiet[@]}" $(tone 440 3) -i "$cover" -map 0:a -map 1:v \
        -c:a libmp3lame -b:a 64k -ar 44100 -ac 2 -c:v copy -disposition:v:0 attached_pic \
        -id3v2_version 3 -metadata:s:v title="Album cover" -metadata:s:v comment="Cover (front)" \
        "$1"
}

gen_hevc_10bit() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=1280x720:rate=30:duration=2 $(tone 660 2) \
        -c:v libx265 -preset ultrafast -crf 32 -pix_fmt yuv420p10le -x265-params log-level=error \
        "${aac[@]}" -shortest "$1"
}

# Browser MediaRecorder writes WebM as a live stream: it cannot seek back, so the header has
# no Duration and there are no Cues. Writing to a pipe puts ffmpeg's muxer in the same spot.
gen_mediarecorder_webm() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=640x480:rate=30:duration=3 $(tone 440 3) \
        -c:v libvpx -deadline realtime -cpu-used 8 -b:v 400k -g 30 \
        -c:a libopus -b:a 48k -shortest -f webm pipe:1 >"$1"
}

# Broadcast / AVCHD camcorder footage: 1080i50 with AC-3 sound in MPEG-TS. The picture is made
# at 50 progressive frames and woven into 25 interlaced frames, top field first, so the two
# fields of a frame really come from different instants as they do from a camera.
gen_interlaced_1080i() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=1920x1080:rate=50:duration=2 $(tone 330 2) \
        -vf "interlace=scan=tff:lowpass=off,setfield=tff" \
        "${x264[@]}" $(video_bitrate 1000k) -g 25 -flags +ildct+ilme -x264-params tff=1 \
        -c:a ac3 -b:a 128k -ar 48000 -shortest "$1"
}

# Odd dimensions and full chroma (H.264 High 4:4:4 Predictive): browsers cannot decode it and
# 4:2:0 cannot represent an odd width, so the engine has to scale to even sizes.
# testsrc2 rounds its size down to even numbers; testsrc draws in RGB and keeps 641x361.
gen_odd_444() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc=size=641x361:rate=30:duration=2 $(tone 700 2) \
        -c:v libx264 -preset ultrafast $(video_bitrate 400k) -pix_fmt yuv444p -profile:v high444 \
        "${aac[@]}" -shortest "$1"
}

gen_two_languages() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=640x360:rate=25:duration=3 \
        $(tone 440 3) $(tone 880 3) -map 0:v -map 1:a -map 2:a \
        "${x264[@]}" $(video_bitrate 300k) -g 25 "${aac[@]}" \
        -metadata:s:a:0 language=eng -metadata:s:a:0 title=English \
        -metadata:s:a:1 language=rus -metadata:s:a:1 title=Русский \
        -disposition:a:0 default -disposition:a:1 0 -shortest "$1"
}

# An edit exported from Final Cut / Premiere: ProRes 422 Proxy (the smallest profile) at
# 23.976 fps with uncompressed PCM sound in QuickTime.
gen_prores() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=640x360:rate=24000/1001:duration=2 \
        $(tone 440 2) -c:v prores_ks -profile:v 0 -pix_fmt yuv422p10le \
        -c:a pcm_s16le -ar 48000 -ac 2 -shortest "$1"
}

# Phone and screen recorders drop frames when idle: here the first second runs at 30 fps,
# the second at 10 fps and the third at 15 fps, stored with their real timestamps.
gen_vfr() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=640x360:rate=30:duration=3 $(tone 440 3) \
        -vf "select='lt(t\,1)+between(t\,1\,2)*not(mod(n\,3))+gt(t\,2)*not(mod(n\,2))'" \
        -fps_mode:v vfr "${x264[@]}" $(video_bitrate 300k) "${aac[@]}" -shortest "$1"
}

# ffmpeg's default: the index (moov) is written after the media data (mdat), so a player must
# read the end of the file first. Most phone and camera files look like this too.
gen_moov_at_end() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=640x360:rate=30:duration=3 $(tone 440 3) \
        "${x264[@]}" $(video_bitrate 300k) -g 30 "${aac[@]}" -shortest "$1"
}

# HDR10 from a camera or a grading suite: HEVC Main 10, BT.2020 primaries, PQ transfer, with
# mastering display and light level SEI in the bitstream (the container tags only carry the
# colour properties: FFmpeg 5.1 does not lift the SEI into Matroska). The pixels
# are an SDR test pattern tagged as PQ; only the signalling matters to the probe and planner.
gen_hdr_pq() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=1280x720:rate=30:duration=2 $(tone 440 2) \
        -c:v libx265 -preset ultrafast -crf 32 -pix_fmt yuv420p10le \
        -color_primaries bt2020 -color_trc smpte2084 -colorspace bt2020nc -color_range tv \
        -x265-params "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc:\
hdr10=1:master-display=G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1):\
max-cll=1000,400" \
        "${aac[@]}" -shortest "$1"
}

gen_empty() { : >"$1"; }

# Pseudo-random but reproducible bytes (AES-CTR keystream), so every run makes the same file.
gen_random_bin() {
    head -c 65536 /dev/zero \
        | openssl enc -aes-128-ctr -nosalt -pbkdf2 -pass pass:lectern-fixture >"$1"
}

gen_notes_txt() {
    cat >"$1" <<'EOF'
Lesson 3 - notes for the recording

Bring the worksheet from lesson 2.
Talk about the homework first, then the new topic.
Remember to press record!
EOF
}

gen_still_png() {
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=640x360 -frames:v 1 "$1"
}

# A faststart MP4 (moov first) cut in the middle: the index promises samples that are missing,
# as after an interrupted upload or copy.
gen_half() {
    local whole=$work_dir/half_whole.mp4 size
    "${ffmpeg_quiet[@]}" -f lavfi -i testsrc2=size=640x360:rate=30:duration=3 $(tone 440 3) \
        "${x264[@]}" $(video_bitrate 300k) -g 30 "${aac[@]}" -shortest -movflags +faststart "$whole"
    size=$(stat -c %s "$whole")
    head -c $((size / 2)) "$whole" >"$1"
}

# A moov-at-end MP4 whose moov never arrived: all media data, no index. This is what a phone
# leaves when the recording app is killed, or an upload of such a file stops near the end.
gen_moov_cut() {
    local whole=$work_dir/moov_cut_whole.mp4 moov_offset
    gen_moov_at_end "$whole"
    moov_offset=$(list_top_level_boxes "$whole" | awk '$2 == "moov" {print $1; exit}')
    if [[ -z $moov_offset ]]; then
        echo "make-fixtures: no moov box found in $whole" >&2
        return 1
    fi
    head -c "$moov_offset" "$whole" >"$1"
}

# ---------------------------------------------------------------------------------------------
# ffprobe helpers for the checks. For MPEG-TS, ffprobe prints each stream twice (once under its
# program), hence the `head -n1` on that check.

probe_value() { # FILE ENTRIES [STREAM_SELECTOR]
    ffprobe -v error ${3:+-select_streams "$3"} -show_entries "$2" -of default=nw=1:nk=1 "$1"
}
ffprobe_rotation() { probe_value "$1" stream_side_data=rotation v:0 | head -n1; }

# Counts the distinct intervals (in milliseconds) between consecutive frames of the first video
# stream, in presentation order: 1 for a constant frame rate.
distinct_frame_intervals() {
    probe_value "$1" packet=pts_time v:0 | sort -g \
        | awk 'NR > 1 {printf "%d\n", ($1 - previous) * 1000 + 0.5} {previous = $1}' \
        | sort -u | wc -l
}

failures=0
check() { # FILE DESCRIPTION ACTUAL EXPECTED
    if [[ $3 != "$4" ]]; then
        echo "make-fixtures: CHECK FAILED for $(basename "$1"): $2: got '$3', expected '$4'" >&2
        failures=$((failures + 1))
    fi
}

# ---------------------------------------------------------------------------------------------
# Generate what is missing.

fixtures=(
    landscape_1080p30.mp4:gen_landscape_1080p30
    phone_portrait_rotated.mp4:gen_phone_portrait_rotated
    anamorphic_pal.mp4:gen_anamorphic_pal
    sixty_fps.mp4:gen_sixty_fps
    screen_no_audio.mp4:gen_screen_no_audio
    audio_only.m4a:gen_audio_only_m4a
    audio_only.mp3:gen_audio_only_mp3
    audio_cover_art.mp3:gen_audio_cover_art_mp3
    hevc_10bit.mkv:gen_hevc_10bit
    mediarecorder.webm:gen_mediarecorder_webm
    interlaced_1080i.ts:gen_interlaced_1080i
    odd_444.mp4:gen_odd_444
    two_languages.mkv:gen_two_languages
    prores.mov:gen_prores
    vfr.mp4:gen_vfr
    moov_at_end.mp4:gen_moov_at_end
    hdr_pq.mkv:gen_hdr_pq
    empty.mp4:gen_empty
    random.bin:gen_random_bin
    notes.txt:gen_notes_txt
    still.png:gen_still_png
    half.mp4:gen_half
    moov_cut.mp4:gen_moov_cut
)

started=$SECONDS
for entry in "${fixtures[@]}"; do
    file=${entry%%:*}
    generator=${entry#*:}
    target=$out_dir/$file
    if [[ -e $target ]]; then
        continue
    fi
    # The temporary name keeps the extension: ffmpeg picks the container from it.
    partial=$work_dir/partial.$file
    if ! "$generator" "$partial"; then
        echo "make-fixtures: generating $file failed" >&2
        exit 1
    fi
    mv "$partial" "$target"
    echo "made $file ($(stat -c %s "$target") bytes)"
done

# ---------------------------------------------------------------------------------------------
# Check that each fixture has the property it exists for. These run on every invocation, so
# a fixture made by a different FFmpeg build that lost its point is caught.

f=$out_dir
check "$f/landscape_1080p30.mp4" "size" "$(probe_value "$f/landscape_1080p30.mp4" stream=width,height v:0 | paste -sd x)" "1920x1080"
check "$f/phone_portrait_rotated.mp4" "display matrix rotation (FFmpeg's counter-clockwise degrees)" "$(ffprobe_rotation "$f/phone_portrait_rotated.mp4")" "-90"
check "$f/anamorphic_pal.mp4" "sample aspect ratio" "$(probe_value "$f/anamorphic_pal.mp4" stream=sample_aspect_ratio v:0)" "64:45"
check "$f/sixty_fps.mp4" "frame rate" "$(probe_value "$f/sixty_fps.mp4" stream=r_frame_rate v:0)" "60/1"
check "$f/screen_no_audio.mp4" "audio streams" "$(probe_value "$f/screen_no_audio.mp4" stream=index a | wc -l)" "0"
check "$f/audio_cover_art.mp3" "attached picture disposition" "$(probe_value "$f/audio_cover_art.mp3" stream_disposition=attached_pic v:0)" "1"
check "$f/hevc_10bit.mkv" "codec and pixel format" "$(probe_value "$f/hevc_10bit.mkv" stream=codec_name,pix_fmt v:0 | paste -sd ' ')" "hevc yuv420p10le"
# MediaRecorder-like WebM: no duration in the format nor on any stream.
check "$f/mediarecorder.webm" "format duration" "$(probe_value "$f/mediarecorder.webm" format=duration)" "N/A"
check "$f/mediarecorder.webm" "stream durations" "$(probe_value "$f/mediarecorder.webm" stream=duration | sort -u | paste -sd ' ')" "N/A"
# ... and, like MediaRecorder's, no Cues (seek index) element: its ID is 1C 53 BB 6B.
check "$f/mediarecorder.webm" "Cues element present" "$(LC_ALL=C grep -qa $'\x1c\x53\xbb\x6b' "$f/mediarecorder.webm" && echo yes || echo no)" "no"
check "$f/interlaced_1080i.ts" "field order" "$(probe_value "$f/interlaced_1080i.ts" stream=field_order v:0 | head -n1)" "tt"
check "$f/odd_444.mp4" "size, pixel format and profile" "$(probe_value "$f/odd_444.mp4" stream=width,height,pix_fmt,profile v:0 | paste -sd ' ')" "High 4:4:4 Predictive 641 361 yuv444p"
check "$f/two_languages.mkv" "audio languages" "$(probe_value "$f/two_languages.mkv" stream_tags=language a | paste -sd ' ')" "eng rus"
check "$f/prores.mov" "codec" "$(probe_value "$f/prores.mov" stream=codec_name v:0)" "prores"
# Variable frame rate: the gaps between presentation times take more than one value. (Packet
# durations do not show it: with B-frames the MP4 demuxer reports a constant one.)
check "$f/vfr.mp4" "distinct frame intervals" "$(distinct_frame_intervals "$f/vfr.mp4")" "3"
check "$f/moov_at_end.mp4" "top-level boxes" "$(box_order "$f/moov_at_end.mp4")" "ftyp free mdat moov"
check "$f/hdr_pq.mkv" "transfer, primaries, matrix" "$(probe_value "$f/hdr_pq.mkv" stream=color_transfer,color_primaries,color_space v:0 | paste -sd ' ')" "bt2020nc smpte2084 bt2020"
check "$f/hdr_pq.mkv" "mastering display SEI on the first frame" "$(ffprobe -v error -select_streams v:0 -read_intervals '%+#1' -show_entries frame_side_data=side_data_type -of default=nw=1:nk=1 "$f/hdr_pq.mkv" | grep -c 'Mastering display metadata')" "1"
check "$f/empty.mp4" "size" "$(stat -c %s "$f/empty.mp4")" "0"
check "$f/random.bin" "ffprobe refuses it" "$(ffprobe -v quiet "$f/random.bin" && echo opened || echo refused)" "refused"
check "$f/notes.txt" "ffprobe refuses it" "$(ffprobe -v quiet "$f/notes.txt" && echo opened || echo refused)" "refused"
check "$f/still.png" "codec" "$(probe_value "$f/still.png" stream=codec_name v:0)" "png"
check "$f/half.mp4" "moov before the data" "$(box_order "$f/half.mp4" | cut -d' ' -f1-3)" "ftyp moov free"
check "$f/moov_cut.mp4" "top-level boxes" "$(box_order "$f/moov_cut.mp4")" "ftyp free mdat"

# ---------------------------------------------------------------------------------------------
# The manifest of expectations. Conventions (also in README.md):
#  - outcome: "ok", or the stable refusal code of pipelines::RefusalCode.
#  - display_width/height: what a viewer sees, pixel aspect applied to the width, then rotation.
#  - rotation_degrees: clockwise, as pipelines::VideoStreamInfo::rotation_degrees.
#  - audio_languages: one entry per audio stream; null when untagged or "und".
#  - duration_seconds: nominal; allow +-0.25 s (encoder priming, frame rounding).
cat >"$out_dir/fixtures.json.partial" <<'EOF'
{
  "generator": "tests/media/make-fixtures.sh",
  "conventions": {
    "outcome": "\"ok\" or a pipelines::RefusalCode string",
    "display_size": "pixel aspect applied to the width, then rotation",
    "rotation_degrees": "clockwise rotation the player applies (0, 90, 180, 270)",
    "audio_languages": "one entry per audio stream, null when untagged or 'und'",
    "duration_seconds": "nominal, tolerance +-0.25 s"
  },
  "fixtures": [
    {
      "name": "landscape_1080p30", "file": "landscape_1080p30.mp4", "outcome": "ok",
      "why": "the common case: H.264/AAC 1080p30 from a camera or OBS",
      "expect": {
        "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 3.0,
        "has_video": true, "video_codec": "h264", "pixel_format": "yuv420p", "bit_depth": 8,
        "width": 1920, "height": 1080, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 1920, "display_height": 1080, "frame_rate": "30/1",
        "interlaced": false, "vfr": false, "hdr": false,
        "audio_streams": 1, "audio_codecs": ["aac"], "audio_languages": [null]
      }
    },
    {
      "name": "phone_portrait_rotated", "file": "phone_portrait_rotated.mp4", "outcome": "ok",
      "why": "a phone held upright stores landscape pixels plus a 90 degree clockwise display matrix",
      "expect": {
        "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 3.0,
        "has_video": true, "video_codec": "h264", "pixel_format": "yuv420p", "bit_depth": 8,
        "width": 1280, "height": 720, "sample_aspect_ratio": "1/1", "rotation_degrees": 90,
        "display_width": 720, "display_height": 1280, "frame_rate": "30/1",
        "interlaced": false, "vfr": false, "hdr": false,
        "audio_streams": 1, "audio_codecs": ["aac"], "audio_languages": [null]
      }
    },
    {
      "name": "anamorphic_pal", "file": "anamorphic_pal.mp4", "outcome": "ok",
      "why": "PAL 16:9 DV/DVD: 720x576 stored with 64/45 pixels, shown as 1024x576",
      "expect": {
        "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 3.0,
        "has_video": true, "video_codec": "h264", "pixel_format": "yuv420p", "bit_depth": 8,
        "width": 720, "height": 576, "sample_aspect_ratio": "64/45", "rotation_degrees": 0,
        "display_width": 1024, "display_height": 576, "frame_rate": "25/1",
        "interlaced": false, "vfr": false, "hdr": false,
        "audio_streams": 1, "audio_codecs": ["aac"], "audio_languages": [null]
      }
    },
    {
      "name": "sixty_fps", "file": "sixty_fps.mp4", "outcome": "ok",
      "why": "60 fps game or screen capture; the ladder may keep 60 fps on the top rungs only",
      "expect": {
        "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 3.0,
        "has_video": true, "video_codec": "h264", "pixel_format": "yuv420p", "bit_depth": 8,
        "width": 1280, "height": 720, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 1280, "display_height": 720, "frame_rate": "60/1",
        "interlaced": false, "vfr": false, "hdr": false,
        "audio_streams": 1, "audio_codecs": ["aac"], "audio_languages": [null]
      }
    },
    {
      "name": "screen_no_audio", "file": "screen_no_audio.mp4", "outcome": "ok",
      "why": "slides recorded without a microphone: mostly static picture, no audio track",
      "expect": {
        "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 3.0,
        "has_video": true, "video_codec": "h264", "pixel_format": "yuv420p", "bit_depth": 8,
        "width": 1440, "height": 900, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 1440, "display_height": 900, "frame_rate": "30/1",
        "interlaced": false, "vfr": false, "hdr": false,
        "audio_streams": 0, "audio_codecs": [], "audio_languages": []
      }
    },
    {
      "name": "audio_only_m4a", "file": "audio_only.m4a", "outcome": "ok",
      "why": "a podcast-style lesson: AAC in MP4, no picture",
      "expect": {
        "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 3.0,
        "has_video": false, "audio_streams": 1, "audio_codecs": ["aac"], "audio_languages": [null]
      }
    },
    {
      "name": "audio_only_mp3", "file": "audio_only.mp3", "outcome": "ok",
      "why": "a plain MP3 with no picture",
      "expect": {
        "container": "mp3", "duration_seconds": 3.0,
        "has_video": false, "audio_streams": 1, "audio_codecs": ["mp3"], "audio_languages": [null]
      }
    },
    {
      "name": "audio_cover_art", "file": "audio_cover_art.mp3", "outcome": "ok",
      "why": "podcast export with cover art: the PNG is an attached_pic stream, not moving pictures",
      "expect": {
        "container": "mp3", "duration_seconds": 3.0,
        "has_video": false, "audio_streams": 1, "audio_codecs": ["mp3"], "audio_languages": [null],
        "attached_pictures": 1
      }
    },
    {
      "name": "hevc_10bit", "file": "hevc_10bit.mkv", "outcome": "ok",
      "why": "HEVC Main 10 (newer cameras, exports): Chromium's MSE cannot play it, so it must be re-encoded",
      "expect": {
        "container": "matroska,webm", "duration_seconds": 2.0,
        "has_video": true, "video_codec": "hevc", "pixel_format": "yuv420p10le", "bit_depth": 10,
        "width": 1280, "height": 720, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 1280, "display_height": 720, "frame_rate": "30/1",
        "interlaced": false, "vfr": false, "hdr": false,
        "audio_streams": 1, "audio_codecs": ["aac"], "audio_languages": [null]
      }
    },
    {
      "name": "mediarecorder", "file": "mediarecorder.webm", "outcome": "ok",
      "why": "recorded in the browser with MediaRecorder: VP8/Opus WebM whose header has no duration and no cues",
      "expect": {
        "container": "matroska,webm", "duration_seconds": 3.0, "duration_in_header": false,
        "has_video": true, "video_codec": "vp8", "pixel_format": "yuv420p", "bit_depth": 8,
        "width": 640, "height": 480, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 640, "display_height": 480, "frame_rate": "30/1",
        "interlaced": false, "vfr": false, "hdr": false,
        "audio_streams": 1, "audio_codecs": ["opus"], "audio_languages": [null]
      }
    },
    {
      "name": "interlaced_1080i", "file": "interlaced_1080i.ts", "outcome": "ok",
      "why": "AVCHD/broadcast 1080i50 (25 frames, top field first) with AC-3: must be deinterlaced",
      "expect": {
        "container": "mpegts", "duration_seconds": 2.0,
        "has_video": true, "video_codec": "h264", "pixel_format": "yuv420p", "bit_depth": 8,
        "width": 1920, "height": 1080, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 1920, "display_height": 1080, "frame_rate": "25/1",
        "field_order": "top_field_first",
        "interlaced": true, "vfr": false, "hdr": false,
        "audio_streams": 1, "audio_codecs": ["ac3"], "audio_languages": [null]
      }
    },
    {
      "name": "odd_444", "file": "odd_444.mp4", "outcome": "ok",
      "why": "odd dimensions and 4:4:4 chroma (H.264 High 4:4:4 Predictive): browsers cannot decode it, 4:2:0 needs even sizes",
      "expect": {
        "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 2.0,
        "has_video": true, "video_codec": "h264", "video_profile": "High 4:4:4 Predictive",
        "pixel_format": "yuv444p", "bit_depth": 8,
        "width": 641, "height": 361, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 641, "display_height": 361, "frame_rate": "30/1",
        "interlaced": false, "vfr": false, "hdr": false,
        "audio_streams": 1, "audio_codecs": ["aac"], "audio_languages": [null]
      }
    },
    {
      "name": "two_languages", "file": "two_languages.mkv", "outcome": "ok",
      "why": "one lesson dubbed: two AAC tracks tagged eng (default) and rus",
      "expect": {
        "container": "matroska,webm", "duration_seconds": 3.0,
        "has_video": true, "video_codec": "h264", "pixel_format": "yuv420p", "bit_depth": 8,
        "width": 640, "height": 360, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 640, "display_height": 360, "frame_rate": "25/1",
        "interlaced": false, "vfr": false, "hdr": false,
        "audio_streams": 2, "audio_codecs": ["aac", "aac"], "audio_languages": ["eng", "rus"],
        "default_audio_language": "eng"
      }
    },
    {
      "name": "prores", "file": "prores.mov", "outcome": "ok",
      "why": "an edit exported as ProRes 422 Proxy, 23.976 fps, PCM sound, 10-bit 4:2:2",
      "expect": {
        "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 2.0,
        "has_video": true, "video_codec": "prores", "pixel_format": "yuv422p10le", "bit_depth": 10,
        "width": 640, "height": 360, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 640, "display_height": 360, "frame_rate": "24000/1001",
        "interlaced": false, "vfr": false, "hdr": false,
        "audio_streams": 1, "audio_codecs": ["pcm_s16le"], "audio_languages": [null]
      }
    },
    {
      "name": "vfr", "file": "vfr.mp4", "outcome": "ok",
      "why": "variable frame rate like phone and screen recorders: 1 s at 30 fps, 1 s at 10 fps, 1 s at 15 fps",
      "expect": {
        "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 3.0,
        "has_video": true, "video_codec": "h264", "pixel_format": "yuv420p", "bit_depth": 8,
        "width": 640, "height": 360, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 640, "display_height": 360,
        "interlaced": false, "vfr": true, "hdr": false,
        "audio_streams": 1, "audio_codecs": ["aac"], "audio_languages": [null]
      }
    },
    {
      "name": "moov_at_end", "file": "moov_at_end.mp4", "outcome": "ok",
      "why": "index (moov) after the media data (mdat), as most cameras write: must not be treated as truncated",
      "expect": {
        "container": "mov,mp4,m4a,3gp,3g2,mj2", "duration_seconds": 3.0, "moov_after_mdat": true,
        "has_video": true, "video_codec": "h264", "pixel_format": "yuv420p", "bit_depth": 8,
        "width": 640, "height": 360, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 640, "display_height": 360, "frame_rate": "30/1",
        "interlaced": false, "vfr": false, "hdr": false,
        "audio_streams": 1, "audio_codecs": ["aac"], "audio_languages": [null]
      }
    },
    {
      "name": "hdr_pq", "file": "hdr_pq.mkv", "outcome": "ok",
      "why": "HDR10: HEVC Main 10, BT.2020, PQ (smpte2084) with mastering metadata: must be tone-mapped to SDR",
      "expect": {
        "container": "matroska,webm", "duration_seconds": 2.0,
        "has_video": true, "video_codec": "hevc", "pixel_format": "yuv420p10le", "bit_depth": 10,
        "width": 1280, "height": 720, "sample_aspect_ratio": "1/1", "rotation_degrees": 0,
        "display_width": 1280, "display_height": 720, "frame_rate": "30/1",
        "color_transfer": "smpte2084", "color_primaries": "bt2020", "color_space": "bt2020nc",
        "interlaced": false, "vfr": false, "hdr": true,
        "audio_streams": 1, "audio_codecs": ["aac"], "audio_languages": [null]
      }
    },
    {
      "name": "empty", "file": "empty.mp4", "outcome": "empty_file",
      "why": "zero bytes: a failed upload"
    },
    {
      "name": "random", "file": "random.bin", "outcome": "not_a_media_file",
      "why": "64 KiB of pseudo-random bytes that no demuxer recognises"
    },
    {
      "name": "notes", "file": "notes.txt", "outcome": "not_a_media_file",
      "why": "a text file picked by mistake"
    },
    {
      "name": "still", "file": "still.png", "outcome": "no_playable_streams",
      "why": "a single picture: FFmpeg opens it (png_pipe, one frame) but there is no moving picture and no sound"
    },
    {
      "name": "half", "file": "half.mp4", "outcome": "truncated_file",
      "why": "a faststart MP4 cut in half: the index is there, half of the samples it points at are not"
    },
    {
      "name": "moov_cut", "file": "moov_cut.mp4", "outcome": "truncated_file",
      "why": "a moov-at-end MP4 cut before its moov: media data with no index"
    }
  ]
}
EOF
mv "$out_dir/fixtures.json.partial" "$out_dir/fixtures.json"

if (( failures > 0 )); then
    echo "make-fixtures: $failures check(s) failed; delete the named files and rerun" >&2
    exit 1
fi
echo "fixtures ready in $out_dir ($(( SECONDS - started )) s)"
