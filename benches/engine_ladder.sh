#!/usr/bin/env bash
# Engine benchmark: is `lectern transcode` as fast as FFmpeg itself at making the same ladder?
#
# On a 60 s 1080p30 source, in the same run and interleaved round by round (so machine noise
# hits all three alike), it times:
#   (a) lectern transcode (release build): decode once, every rung, CMAF packages, images;
#   (b) one ffmpeg process making the same rungs with the same x264 settings (decode once,
#       `split`, N encodes) plus the AAC rendition: the cost of the encoders themselves;
#   (c) one ffmpeg process per rung (and one for audio), as most self-hosted platforms do.
# and prints medians, the ratios a/b (target <= 1.05) and a/c (target <= 0.5), and the encode
# speed. Then it reports the bitrates the ladder chose for static slides and for high motion.
#
# Usage: benches/engine_ladder.sh            (ROUNDS=3 DURATION=60 by default)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LECTERN_ROOT"
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-60}"

ensure_build_packages
ensure_rust
say "building lectern (release)"
cargo build --release --bin lectern
lectern="$LECTERN_ROOT/target/release/lectern"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

say "making ${DURATION}s 1080p30 sources"
# A moving test pattern with mild temporal noise stands in for camera video.
ffmpeg -v error -y -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$DURATION,noise=alls=8:allf=t" \
    -f lavfi -i "sine=frequency=300:duration=$DURATION" \
    -c:v libx264 -preset ultrafast -crf 16 -c:a aac -b:a 192k "$work/motion.mp4"
# Slides: a white page whose "text" (dark bars) changes every 10 seconds.
ffmpeg -v error -y -f lavfi -i "color=c=white:size=1920x1080:rate=30:duration=$DURATION,\
drawbox=x=160:y=120:w=1200:h=70:color=0x202020:t=fill,\
drawbox=x=160:y='300+80*mod(floor(t/10),5)':w='600+100*mod(floor(t/10),7)':h=36:color=0x404040:t=fill,\
drawbox=x=160:y=700:w='200+150*mod(floor(t/10),6)':h=36:color=0x404040:t=fill,\
drawbox=x=1400:y=600:w=360:h=360:color='0x3060c0':t=fill" \
    -f lavfi -i "sine=frequency=200:duration=$DURATION" \
    -c:v libx264 -preset ultrafast -crf 16 -c:a aac -b:a 192k "$work/slides.mp4"

"$lectern" transcode "$work/motion.mp4" --out "$work/unused" --dry-run > "$work/plan.json"

python3 - "$lectern" "$work" "$ROUNDS" "$DURATION" <<'PY'
import json, os, shutil, statistics, subprocess, sys, time

lectern, work, rounds, duration = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
plan = json.load(open(os.path.join(work, "plan.json")))
source = os.path.join(work, "motion.mp4")
rungs = plan["video"]
audio = plan["audio"][0]
frag = ["-f", "mp4", "-movflags", "+frag_keyframe+empty_moov+default_base_moof"]

def x264_args(rung):
    keyint = rung["keyframe_interval_frames"]
    params = (f"keyint={keyint}:min-keyint={keyint}:scenecut=0:open-gop=0:"
              f"vbv-maxrate={-(-rung['max_bitrate'] // 1000)}:vbv-bufsize={-(-rung['buffer_size'] // 1000)}")
    return ["-c:v", "libx264", "-preset", rung["encoder_preset"], "-profile:v", rung["profile"],
            "-crf", str(rung["crf"]), "-x264-params", params, "-pix_fmt", "yuv420p"]

def scale_filter(rung):
    fps = rung["frame_rate"]
    return f"fps=fps={fps['num']}/{fps['den']}:start_time=0,scale={rung['width']}:{rung['height']}:flags=bicubic,setsar=1"

audio_args = ["-c:a", "aac", "-b:a", str(audio["bitrate"]), "-ac", "2", "-ar", "48000"]

def run(command):
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started

def lectern_once(out):
    return run([lectern, "transcode", source, "--out", out, "--quiet"])

def single_ffmpeg(out):
    os.makedirs(out)
    graph = f"[0:v]split={len(rungs)}" + "".join(f"[s{i}]" for i in range(len(rungs))) + ";"
    graph += ";".join(f"[s{i}]{scale_filter(r)}[o{i}]" for i, r in enumerate(rungs))
    command = ["ffmpeg", "-v", "error", "-y", "-i", source, "-filter_complex", graph]
    for i, rung in enumerate(rungs):
        command += ["-map", f"[o{i}]"] + x264_args(rung) + frag + [os.path.join(out, f"{rung['name']}.mp4")]
    command += ["-map", "0:a:0"] + audio_args + frag + [os.path.join(out, "audio.mp4")]
    return run(command)

def per_rung_ffmpeg(out):
    os.makedirs(out)
    total = 0.0
    for rung in rungs:
        total += run(["ffmpeg", "-v", "error", "-y", "-i", source, "-vf", scale_filter(rung), "-an"]
                     + x264_args(rung) + frag + [os.path.join(out, f"{rung['name']}.mp4")])
    total += run(["ffmpeg", "-v", "error", "-y", "-i", source, "-vn"] + audio_args + frag
                 + [os.path.join(out, "audio.mp4")])
    return total

times = {"a": [], "b": [], "c": []}
for round_number in range(rounds):
    for key, job in (("a", lectern_once), ("b", single_ffmpeg), ("c", per_rung_ffmpeg)):
        out = os.path.join(work, f"out-{key}-{round_number}")
        elapsed = job(out)
        times[key].append(elapsed)
        shutil.rmtree(out, ignore_errors=True)
        print(f"round {round_number + 1}: ({key}) {elapsed:7.2f} s", flush=True)

median = {key: statistics.median(values) for key, values in times.items()}
ladder = ", ".join(f"{r['name']} {r['width']}x{r['height']} crf {r['crf']:g} max {r['max_bitrate'] // 1000} kb/s" for r in rungs)
print()
print(f"ladder ({rungs[0]['encoder_preset']}): {ladder}; audio AAC {audio['bitrate'] // 1000} kb/s")
print(f"(a) lectern transcode        median {median['a']:7.2f} s  runs {[round(t, 2) for t in times['a']]}")
print(f"(b) one ffmpeg, split + N    median {median['b']:7.2f} s  runs {[round(t, 2) for t in times['b']]}")
print(f"(c) one ffmpeg per rung      median {median['c']:7.2f} s  runs {[round(t, 2) for t in times['c']]}")
print(f"a/b = {median['a'] / median['b']:.3f}   (target <= 1.05)")
print(f"a/c = {median['a'] / median['c']:.3f}   (target <= 0.50)")
print(f"encode speed (a): {duration / median['a']:.2f}x realtime for the whole ladder")

print()
print("bitrates the ladder chose (average / peak, kb/s):")
for name in ("slides", "motion"):
    out = os.path.join(work, f"bitrate-{name}")
    run([lectern, "transcode", os.path.join(work, f"{name}.mp4"), "--out", out, "--quiet"])
    package = json.load(open(os.path.join(out, "package.json")))
    cells = "  ".join(f"{r['name']} {r['average_bitrate'] // 1000}/{r['peak_bitrate'] // 1000}" for r in package["video"])
    print(f"  {name:7s} {cells}")
PY
