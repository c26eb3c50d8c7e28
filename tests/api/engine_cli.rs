//! `lectern probe` and `lectern transcode` on every kind of file real instructors send (and
//! the bad ones), through the real binary and its sandboxed engine child.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::helpers::media::{assert_probed_as_expected, fixtures};

fn lectern(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lectern"));
    for (name, _) in std::env::vars() {
        if name.starts_with("LECTERN_") {
            command.env_remove(name);
        }
    }
    command.args(args).envs(env.iter().copied()).output().expect("lectern runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A small two-rung preset so transcoding every fixture stays quick.
fn small_preset(dir: &Path) -> PathBuf {
    let text = r#"
name = "test-small"
description = "240p and 360p, 2 s segments, for tests"
segment_duration_seconds = 2
downloads = true
download_max_lines = 360
[video]
encoder_preset = "ultrafast"
max_frame_rate = 60
default_frame_rate = 30
halve_frame_rate_max_lines = 240
top_rung_min_extra_lines = 0.15
[[video.rungs]]
lines = 240
crf = 28
max_bitrate = 400_000
profile = "main"
[[video.rungs]]
lines = 360
crf = 27
max_bitrate = 800_000
profile = "high"
[audio]
bitrate = 96_000
mono_bitrate = 64_000
channels = 2
sample_rate = 48_000
[audio.loudness]
enabled = false
integrated_lufs = -16.0
true_peak_db = -1.5
loudness_range_lu = 11.0
[images]
poster_lines = 360
thumbnail_interval_seconds = 1
thumbnail_width = 160
storyboard_tile_width = 80
storyboard_columns = 2
storyboard_rows = 2
"#;
    let path = dir.join("small.toml");
    std::fs::write(&path, text).expect("write preset");
    path
}

#[test]
fn every_fixture_probes_to_its_expected_outcome() {
    let (dir, list) = fixtures();
    for fixture in list {
        let name = fixture["name"].as_str().expect("name");
        let file = dir.join(fixture["file"].as_str().expect("file"));
        let outcome = fixture["outcome"].as_str().expect("outcome");
        let output = lectern(&["probe", file.to_str().expect("utf-8 path")], &[]);
        if outcome == "ok" {
            assert!(output.status.success(), "{name}: {}", stderr(&output));
            let source: Value = serde_json::from_slice(&output.stdout).expect("probe prints JSON");
            assert_probed_as_expected(name, &source, &fixture["expect"]);
        } else {
            assert_eq!(output.status.code(), Some(3), "{name} should be refused: {}", stderr(&output));
            assert!(stderr(&output).contains(&format!("error: {outcome}:")), "{name}: {}", stderr(&output));
        }
    }
}

#[test]
fn a_tiny_file_declaring_ten_hours_is_refused_without_reading_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("tenhours.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30:duration=1"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-movflags", "+faststart"])
        .arg(&file)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    let mut bytes = std::fs::read(&file).expect("read");
    declare_ten_hours(&mut bytes);
    std::fs::write(&file, &bytes).expect("write");

    let started = Instant::now();
    let output = lectern(&["probe", file.to_str().expect("utf-8")], &[]);
    assert_eq!(output.status.code(), Some(3), "{}", stderr(&output));
    assert!(stderr(&output).contains("duration_too_long"), "{}", stderr(&output));
    // Generous for a loaded machine; decoding ten hours would take far longer.
    assert!(started.elapsed() < Duration::from_secs(10));
}

/// Rewrites the movie, track and media durations of a faststart MP4 to ten hours.
fn declare_ten_hours(bytes: &mut [u8]) {
    let read = |b: &[u8], at: usize| u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let find_all = |b: &[u8], tag: &[u8; 4]| -> Vec<usize> {
        b.windows(4).enumerate().filter(|(_, w)| *w == tag).map(|(i, _)| i - 4).collect()
    };
    let mvhd = find_all(bytes, b"mvhd")[0];
    let movie_timescale = read(bytes, mvhd + 20);
    bytes[mvhd + 24..mvhd + 28].copy_from_slice(&(36_000 * movie_timescale).to_be_bytes());
    for tkhd in find_all(bytes, b"tkhd") {
        bytes[tkhd + 28..tkhd + 32].copy_from_slice(&(36_000 * movie_timescale).to_be_bytes());
    }
    for mdhd in find_all(bytes, b"mdhd") {
        let timescale = read(bytes, mdhd + 20);
        bytes[mdhd + 24..mdhd + 28].copy_from_slice(&(36_000 * timescale).to_be_bytes());
    }
}

#[test]
fn limits_are_checked_before_any_encoding_and_name_the_code() {
    let (dir, _) = fixtures();
    let file = dir.join("landscape_1080p30.mp4");
    let file = file.to_str().expect("utf-8");
    let out = tempfile::tempdir().expect("temp dir");
    let cases = [
        ("LECTERN_MAX_DURATION", "1s", "duration_too_long"),
        ("LECTERN_MAX_RESOLUTION", "640x360", "resolution_too_large"),
        ("LECTERN_MAX_FRAME_RATE", "24", "resolution_too_large"),
        ("LECTERN_MAX_FILE_SIZE", "1KiB", "file_too_large"),
    ];
    for (setting, value, code) in cases {
        let target = out.path().join(code).join(setting);
        let output = lectern(&["transcode", file, "--out", target.to_str().expect("utf-8")], &[(setting, value)]);
        assert_eq!(output.status.code(), Some(3), "{setting}={value}: {}", stderr(&output));
        assert!(stderr(&output).contains(code), "{setting}={value}: {}", stderr(&output));
        assert!(!target.exists(), "nothing is written for a refused file");
    }
}

#[test]
fn a_refused_transcode_exits_3_and_leaves_no_output() {
    let (dir, _) = fixtures();
    let out = tempfile::tempdir().expect("temp dir");
    let target = out.path().join("package");
    let output = lectern(
        &["transcode", dir.join("random.bin").to_str().expect("utf-8"), "--out", target.to_str().expect("utf-8")],
        &[],
    );
    assert_eq!(output.status.code(), Some(3));
    assert!(stderr(&output).contains("not_a_media_file"));
    assert!(!target.exists());
}

#[test]
fn a_non_empty_output_directory_is_refused_and_left_untouched() {
    let (dir, _) = fixtures();
    let out = tempfile::tempdir().expect("temp dir");
    std::fs::write(out.path().join("keep.txt"), "mine").expect("write");
    let output = lectern(
        &[
            "transcode",
            dir.join("landscape_1080p30.mp4").to_str().expect("utf-8"),
            "--out",
            out.path().to_str().expect("utf-8"),
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("not empty"), "{}", stderr(&output));
    assert_eq!(std::fs::read_to_string(out.path().join("keep.txt")).expect("kept"), "mine");
}

#[test]
fn an_unknown_preset_exits_2_naming_the_setting() {
    let (dir, _) = fixtures();
    let out = tempfile::tempdir().expect("temp dir");
    let output = lectern(
        &[
            "transcode",
            dir.join("landscape_1080p30.mp4").to_str().expect("utf-8"),
            "--out",
            out.path().join("p").to_str().expect("utf-8"),
            "--preset",
            "cinema",
        ],
        &[],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("LECTERN_PRESET"), "{}", stderr(&output));
}

#[test]
fn an_engine_past_its_deadline_is_killed_and_its_output_removed() {
    let (dir, _) = fixtures();
    let out = tempfile::tempdir().expect("temp dir");
    let target = out.path().join("package");
    let started = Instant::now();
    let output = lectern(
        &[
            "transcode",
            dir.join("landscape_1080p30.mp4").to_str().expect("utf-8"),
            "--out",
            target.to_str().expect("utf-8"),
        ],
        &[("LECTERN_ENGINE_MIN_DEADLINE", "1s"), ("LECTERN_ENGINE_DEADLINE_FACTOR", "0.001")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(stderr(&output).contains("did not finish within"), "{}", stderr(&output));
    assert!(!target.exists(), "a partial package is removed");
    assert!(started.elapsed() < Duration::from_secs(60));
}

/// Concatenates a rendition's init segment and media segments and asks ffprobe what it sees.
fn ffprobe_rendition(dir: &Path) -> Value {
    let mut joined = std::fs::read(dir.join("init.mp4")).expect("init segment");
    let mut segments: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("rendition dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "m4s"))
        .collect();
    segments.sort();
    assert!(!segments.is_empty(), "{} has no segments", dir.display());
    for segment in segments {
        joined.extend(std::fs::read(segment).expect("segment"));
    }
    let path = dir.join("joined.mp4");
    std::fs::write(&path, joined).expect("write");
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_streams", "-show_format", "-of", "json"])
        .arg(&path)
        .output()
        .expect("ffprobe runs");
    std::fs::remove_file(&path).expect("remove");
    assert!(output.status.success(), "ffprobe failed on {}: {}", dir.display(), stderr(&output));
    serde_json::from_slice(&output.stdout).expect("ffprobe JSON")
}

#[test]
fn every_accepted_fixture_transcodes_into_a_package_ffprobe_reads() {
    let (dir, list) = fixtures();
    let work = tempfile::tempdir().expect("temp dir");
    let preset = small_preset(work.path());
    for fixture in list.iter().filter(|f| f["outcome"] == "ok") {
        let name = fixture["name"].as_str().expect("name");
        let input = dir.join(fixture["file"].as_str().expect("file"));
        let out = work.path().join(name);
        let output = lectern(
            &[
                "transcode",
                input.to_str().expect("utf-8"),
                "--out",
                out.to_str().expect("utf-8"),
                "--preset",
                preset.to_str().expect("utf-8"),
                "--quiet",
            ],
            &[],
        );
        assert!(output.status.success(), "{name}: {}", stderr(&output));
        for manifest in ["master.m3u8", "manifest.mpd", "package.json"] {
            assert!(out.join(manifest).is_file(), "{name}: {manifest} missing");
        }
        let package: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("package.json")).expect("read")).expect("JSON");
        let has_video = fixture["expect"]["has_video"] == Value::Bool(true);
        let video = package["video"].as_array().expect("video list");
        assert_eq!(!video.is_empty(), has_video, "{name}");
        for rendition in video.iter().chain(package["audio"].as_array().expect("audio list")) {
            let rendition_name = rendition["name"].as_str().expect("name");
            let probed = ffprobe_rendition(&out.join(rendition_name));
            let stream = &probed["streams"][0];
            let is_video = rendition["kind"].get("Video").is_some();
            assert_eq!(stream["codec_name"], if is_video { "h264" } else { "aac" }, "{name}/{rendition_name}");
            assert!(out.join(rendition_name).join("playlist.m3u8").is_file(), "{name}/{rendition_name}");
        }
        if has_video {
            assert!(out.join("images/poster.jpg").is_file(), "{name}: poster");
            assert_storyboard_matches_its_sheets(&out.join("images"), name);
            // The picture is upright and the pixels square: width:height follows the display.
            let expect = &fixture["expect"];
            let (display_w, display_h) = (
                expect["display_width"].as_f64().expect("display width"),
                expect["display_height"].as_f64().expect("display height"),
            );
            let top = &video[0]["kind"]["Video"];
            let (w, h) = (top["width"].as_f64().expect("width"), top["height"].as_f64().expect("height"));
            let aspect_error = ((w / h) / (display_w / display_h) - 1.0).abs();
            assert!(aspect_error < 0.02, "{name}: {w}x{h} for a {display_w}x{display_h} picture");
        }
    }
}

/// Average grey level of the left and right halves of the first picture of `media`.
fn left_right_brightness(media: &Path) -> (u8, u8) {
    let output = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(media)
        .args(["-frames:v", "1", "-vf", "scale=2:1:flags=area", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg runs");
    assert!(output.status.success() && output.stdout.len() == 2, "{}", stderr(&output));
    (output.stdout[0], output.stdout[1])
}

#[test]
fn a_phone_video_held_upright_plays_upright_not_upside_down() {
    let work = tempfile::tempdir().expect("temp dir");
    let stored = work.path().join("stored.mp4");
    let phone = work.path().join("phone.mp4");
    // Landscape pixels with a white top half, as the sensor stores them…
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("color=black:size=320x180:rate=30:duration=2,drawbox=x=0:y=0:w=320:h=90:color=white:t=fill")
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        .arg(&stored)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    // …plus the display matrix of a phone held upright: turn 90° clockwise to view. (FFmpeg
    // 5.1 writes `rotate=N` as N° counter-clockwise, so 270 is what a phone writes.)
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-i"])
        .arg(&stored)
        .args(["-c", "copy", "-metadata:s:v:0", "rotate=270"])
        .arg(&phone)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());

    let probe = lectern(&["probe", phone.to_str().expect("utf-8")], &[]);
    let source: Value = serde_json::from_slice(&probe.stdout).expect("probe JSON");
    assert_eq!(source["video"][0]["rotation_degrees"], 90);

    let out = work.path().join("package");
    let preset = small_preset(work.path());
    let output = lectern(
        &[
            "transcode",
            phone.to_str().expect("utf-8"),
            "--out",
            out.to_str().expect("utf-8"),
            "--preset",
            preset.to_str().expect("utf-8"),
            "--quiet",
        ],
        &[],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    // Turning the picture clockwise brings its top edge to the right.
    let (left, right) = left_right_brightness(&out.join("images/poster.jpg"));
    assert!(right > left + 60, "poster: left {left}, right {right}");
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("package.json")).expect("read")).expect("JSON");
    let top = package["video"][0]["name"].as_str().expect("rung name");
    let rendition = out.join(top);
    let mut joined = std::fs::read(rendition.join("init.mp4")).expect("init");
    joined.extend(std::fs::read(rendition.join("seg_00001.m4s")).expect("first segment"));
    let first = work.path().join("first.mp4");
    std::fs::write(&first, joined).expect("write");
    let (left, right) = left_right_brightness(&first);
    assert!(right > left + 60, "video: left {left}, right {right}");
}

fn image_size(path: &Path) -> (u64, u64) {
    let output = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    let text = String::from_utf8_lossy(&output.stdout);
    let mut parts = text.trim().split(',').map(|n| n.parse::<u64>().expect("a number"));
    (parts.next().expect("width"), parts.next().expect("height"))
}

/// Every cue of the storyboard VTT points inside an existing sprite sheet, and the tiles tile
/// the sheet exactly (the VTT and the sheets were planned and drawn with the same tile size).
fn assert_storyboard_matches_its_sheets(images: &Path, name: &str) {
    let vtt = std::fs::read_to_string(images.join("storyboard.vtt")).expect("storyboard.vtt");
    assert!(vtt.starts_with("WEBVTT"), "{name}");
    let mut cues = 0;
    for line in vtt.lines().filter(|l| l.contains("#xywh=")) {
        let (sheet, fragment) = line.split_once("#xywh=").expect("fragment");
        let numbers: Vec<u64> = fragment.split(',').map(|n| n.trim().parse().expect("a number")).collect();
        let (x, y, w, h) = (numbers[0], numbers[1], numbers[2], numbers[3]);
        let (sheet_w, sheet_h) = image_size(&images.join(sheet));
        assert!(x + w <= sheet_w && y + h <= sheet_h, "{name}: {line} outside a {sheet_w}x{sheet_h} sheet");
        // The test preset lays tiles out 2 by 2, and sheets are always drawn full size.
        assert_eq!((sheet_w, sheet_h), (2 * w, 2 * h), "{name}: {w}x{h} tiles on a {sheet_w}x{sheet_h} sheet");
        cues += 1;
    }
    assert!(cues > 0, "{name}: the storyboard has no cues");
}
