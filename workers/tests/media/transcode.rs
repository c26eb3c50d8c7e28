use std::path::Path;

use crate::common::check::{check_package, join, video_size};
use crate::common::plans::{audio, rung, two_rungs};
use crate::common::{basic_mp4, ffmpeg, ffmpeg_piped, tempdir};
use pipelines::package::Package;
use pipelines::plan::Plan;
use workers::{Progress, transcode};

fn run(input: &Path, plan: &Plan, out: &Path) -> (Package, Vec<Progress>) {
    let mut reports = Vec::new();
    let package = transcode(input, plan, out, &mut |progress| reports.push(progress)).unwrap();
    check_package(out, &package);
    (package, reports)
}

fn rendition_size(out: &Path, package: &Package, index: usize) -> (u64, u64) {
    let rendition = &package.video[index];
    video_size(&join(out, rendition, &rendition.segments[..1], "size.mp4"))
}

#[test]
fn a_plain_moov_at_end_mp4_becomes_aligned_cmaf_with_images_and_download() {
    let dir = tempdir();
    let input = basic_mp4(dir.path(), "in.mp4", 3, "640x360", 30);
    let out = dir.path().join("out");
    let (package, reports) = run(&input, &two_rungs(30, 1), &out);
    assert!((package.duration_seconds - 3.0).abs() < 0.1, "{}", package.duration_seconds);
    assert!(reports.len() >= 3, "{reports:?}");
    // At least one report per second of output.
    let mut previous = 0.0;
    for report in &reports {
        assert!(report.out_time_seconds - previous <= 1.1, "{reports:?}");
        previous = report.out_time_seconds;
    }
    let last = reports.last().unwrap();
    assert!((last.fraction - 1.0).abs() < 0.05, "{last:?}");
    eprintln!("encode speed: {:.2}x realtime", last.speed_x_realtime);
    for rendition in &package.video {
        assert_eq!(rendition.segments.len(), 3, "{}", rendition.name);
        assert_eq!(rendition.timescale, 90000);
        assert!(rendition.segments.iter().all(|segment| segment.duration_ticks == 90000));
    }
    assert_eq!(package.audio[0].timescale, 48000);
    assert_eq!(package.poster.as_deref(), Some("images/poster.jpg"));
    assert_eq!(package.storyboard_vtt.as_deref(), Some("images/storyboard.vtt"));
    assert_eq!(package.download.as_deref(), Some("download.mp4"));
    for number in 1..=3 {
        assert!(out.join(format!("images/thumb_{number:05}.jpg")).exists());
    }
    assert!(!out.join("images/thumb_00004.jpg").exists());
    let download =
        crate::common::ffprobe_json(&out.join("download.mp4"), &["-show_entries", "stream=codec_name,width"]);
    assert_eq!(download["streams"].as_array().unwrap().len(), 2);
    let written: Package = serde_json::from_slice(&std::fs::read(out.join("package.json")).unwrap()).unwrap();
    assert_eq!(written, package);
}

#[test]
fn a_rotated_phone_video_comes_out_upright() {
    let dir = tempdir();
    let plain = basic_mp4(dir.path(), "plain.mp4", 2, "320x240", 30);
    let input = ffmpeg(
        dir.path(),
        "rotated.mp4",
        &["-i", plain.to_str().unwrap(), "-c", "copy", "-metadata:s:v:0", "rotate=90"],
    );
    let mut plan = two_rungs(30, 1);
    plan.video_filters.rotate_degrees = 90;
    plan.video = vec![rung("240p", 240, 320, 30, 1)];
    plan.download_rung = None;
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    assert_eq!(rendition_size(&out, &package, 0), (240, 320));
}

#[test]
fn anamorphic_sixty_fps_source_is_scaled_to_square_pixels_at_thirty_fps() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "ana.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=720x576:rate=60:duration=2,setsar=64/45",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
        ],
    );
    let mut plan = two_rungs(30, 1);
    plan.video = vec![rung("360p", 640, 360, 30, 1)];
    plan.download_rung = Some("360p".to_owned());
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    let first = join(&out, &package.video[0], &package.video[0].segments, "all.mp4");
    let json =
        crate::common::ffprobe_json(&first, &["-show_entries", "stream=sample_aspect_ratio,avg_frame_rate,nb_frames"]);
    assert_eq!(json["streams"][0]["avg_frame_rate"], "30/1");
}

#[test]
fn a_screen_recording_without_audio_makes_video_only() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "screen.mp4",
        &["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25:duration=2", "-c:v", "libx264", "-preset", "ultrafast"],
    );
    let mut plan = two_rungs(25, 2);
    plan.audio.clear();
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    assert!(package.audio.is_empty());
    assert_eq!(package.video[0].segments.len(), 1);
}

#[test]
fn an_audio_only_m4a_makes_audio_renditions_and_no_images() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "voice.m4a",
        &["-f", "lavfi", "-i", "sine=duration=3:sample_rate=44100", "-ac", "2", "-c:a", "aac"],
    );
    let mut plan = two_rungs(30, 1);
    plan.source_video_index = None;
    plan.video.clear();
    plan.download_rung = None;
    plan.audio = vec![audio("audio", 0, None, true)];
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    assert!(package.video.is_empty());
    assert_eq!(package.poster, None);
    assert_eq!(package.storyboard_vtt, None);
    assert!(!out.join("images").exists());
    assert!((package.duration_seconds - 3.0).abs() < 0.15, "{}", package.duration_seconds);
}

#[test]
fn hevc_10_bit_mkv_is_converted_to_8_bit_h264() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "hevc.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=24:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=2",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p10le",
            "-x265-params",
            "log-level=error",
            "-c:a",
            "libopus",
        ],
    );
    let out = dir.path().join("out");
    let (package, _) = run(&input, &two_rungs(24, 1), &out);
    assert_eq!(package.video[0].segments.len(), 2);
}

#[test]
fn a_browser_recording_webm_without_duration_is_transcoded() {
    let dir = tempdir();
    let input = ffmpeg_piped(
        dir.path(),
        "recorder.webm",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=2:sample_rate=48000",
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "300k",
            "-c:a",
            "libopus",
            "-f",
            "webm",
        ],
    );
    let out = dir.path().join("out");
    let (package, _) = run(&input, &two_rungs(30, 1), &out);
    assert!((package.duration_seconds - 2.0).abs() < 0.15, "{}", package.duration_seconds);
}

#[test]
fn interlaced_video_is_deinterlaced() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "interlaced.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=720x576:rate=25:duration=2,setfield=tff",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-flags",
            "+ildct+ilme",
            "-c:a",
            "aac",
        ],
    );
    let mut plan = two_rungs(25, 1);
    plan.video_filters.deinterlace = true;
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    assert_eq!(package.video[0].segments.len(), 2);
}

#[test]
fn variable_frame_rate_is_normalised_to_the_planned_constant_rate() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "vfr.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30:duration=3,settb=1/1000,setpts=N*40+mod(N\\,2)*15",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-fps_mode",
            "vfr",
        ],
    );
    let mut plan = two_rungs(30, 1);
    plan.audio.clear();
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    for segment in &package.video[0].segments[..package.video[0].segments.len() - 1] {
        assert_eq!(segment.duration_ticks, 90000);
    }
}

#[test]
fn odd_sized_444_source_becomes_even_420() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "444.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=2,scale=641:361",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv444p",
        ],
    );
    let mut plan = two_rungs(25, 1);
    plan.audio.clear();
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    assert_eq!(rendition_size(&out, &package, 0), (640, 360));
}

#[test]
fn two_audio_languages_become_two_renditions_and_loudness_can_be_normalised() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "langs.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=660:duration=2,pan=5.1|c0=c0|c1=c0|c2=c0",
            "-map",
            "0",
            "-map",
            "1",
            "-map",
            "2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
            "-metadata:s:a:0",
            "language=eng",
            "-metadata:s:a:1",
            "language=rus",
        ],
    );
    let mut plan = two_rungs(25, 1);
    plan.video = vec![rung("240p", 320, 240, 25, 1)];
    plan.download_rung = None;
    let mut russian = audio("audio_rus", 2, Some("rus"), false);
    russian.loudness =
        Some(pipelines::plan::LoudnessTarget { integrated_lufs: -16.0, true_peak_db: -1.5, loudness_range_lu: 11.0 });
    plan.audio = vec![audio("audio_eng", 1, Some("eng"), true), russian];
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    assert_eq!(package.audio.len(), 2);
    assert_eq!(package.audio[1].name, "audio_rus");
}

#[test]
fn prores_mov_is_transcoded() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "prores.mov",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=25:duration=2",
            "-f",
            "lavfi",
            "-i",
            "sine=duration=2",
            "-c:v",
            "prores_ks",
            "-profile:v",
            "0",
            "-c:a",
            "pcm_s16le",
        ],
    );
    let out = dir.path().join("out");
    let (package, _) = run(&input, &two_rungs(25, 1), &out);
    assert_eq!(package.video.len(), 2);
}

#[test]
fn a_plan_with_an_unsafe_rendition_name_is_rejected_before_any_work() {
    let dir = tempdir();
    let mut plan = two_rungs(30, 1);
    plan.video[0].name = "../escape".to_owned();
    let error = transcode(&dir.path().join("missing.mp4"), &plan, &dir.path().join("out"), &mut |_| {}).unwrap_err();
    assert!(matches!(error, workers::EngineError::InvalidPlan(_)), "{error}");
}

/// First presentation time of the only stream of a rendition, in seconds.
fn first_pts_seconds(out: &Path, rendition: &pipelines::package::PackagedRendition) -> f64 {
    let whole = join(out, rendition, &rendition.segments, "first_pts.mp4");
    let json = crate::common::ffprobe_json(&whole, &["-show_entries", "packet=pts_time", "-read_intervals", "%+#20"]);
    json["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|packet| packet["pts_time"].as_str().unwrap().parse::<f64>().unwrap())
        .fold(f64::MAX, f64::min)
}

#[test]
fn b_frame_delay_is_matched_by_audio_so_renditions_stay_in_sync() {
    let dir = tempdir();
    let input = basic_mp4(dir.path(), "in.mp4", 2, "320x240", 30);
    let mut plan = two_rungs(30, 1);
    plan.video = vec![rung("240p", 320, 240, 30, 1), rung("120p", 160, 120, 30, 1)];
    plan.video[0].encoder_preset = "veryfast".to_owned();
    plan.video[1].profile = pipelines::plan::H264Profile::Baseline;
    plan.download_rung = None;
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    let video_start = first_pts_seconds(&out, &package.video[0]);
    assert!(video_start > 0.05, "the veryfast rung should have B-frames: {video_start}");
    let other_start = first_pts_seconds(&out, &package.video[1]);
    assert!((other_start - video_start).abs() < 0.001, "{other_start} vs {video_start}");
    // The audio's first packet is AAC priming (1024 samples); its first real sample must be
    // presented with the first frame.
    let audio_start = first_pts_seconds(&out, &package.audio[0]) + 1024.0 / 48000.0;
    assert!((audio_start - video_start).abs() < 0.002, "audio {audio_start} vs video {video_start}");
}

#[test]
fn hdr_pq_source_is_tone_mapped_to_sdr() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "hdr.mkv",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=24:duration=2,format=yuv420p10le",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc",
            "-color_primaries",
            "bt2020",
            "-color_trc",
            "smpte2084",
            "-colorspace",
            "bt2020nc",
        ],
    );
    let source = workers::probe(&input).unwrap();
    assert!(source.video[0].is_hdr(), "{:?}", source.video[0].color_transfer);
    let mut plan = two_rungs(24, 1);
    plan.audio.clear();
    plan.video_filters.tone_map_to_sdr = true;
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    let first = join(&out, &package.video[0], &package.video[0].segments[..1], "sdr.mp4");
    let json = crate::common::ffprobe_json(&first, &["-show_entries", "stream=color_transfer,pix_fmt"]);
    assert_eq!(json["streams"][0]["pix_fmt"], "yuv420p");
    assert_eq!(json["streams"][0]["color_transfer"], "bt709");
}

#[test]
fn a_source_with_corrupted_media_data_does_not_panic() {
    let dir = tempdir();
    let input = basic_mp4(dir.path(), "in.mp4", 2, "320x240", 25);
    let mut bytes = std::fs::read(&input).unwrap();
    // Scribble over a stretch in the middle of mdat; the box structure stays intact.
    let middle = bytes.len() / 3;
    for (offset, byte) in bytes[middle..middle + 20_000].iter_mut().enumerate() {
        *byte = (offset.wrapping_mul(7919) >> 3) as u8;
    }
    let corrupted = dir.path().join("corrupted.mp4");
    std::fs::write(&corrupted, bytes).unwrap();
    let mut plan = two_rungs(25, 1);
    plan.video = vec![rung("240p", 320, 240, 25, 1)];
    plan.download_rung = None;
    if workers::probe(&corrupted).is_ok() {
        // Either a package or an error with context is fine; a panic is not.
        match transcode(&corrupted, &plan, &dir.path().join("out"), &mut |_| {}) {
            Ok(package) => assert!(!package.video.is_empty()),
            Err(error) => assert!(!error.to_string().is_empty()),
        }
    }
}

#[test]
fn a_raw_h264_stream_without_container_timestamps_is_transcoded() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "raw.h264",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=2",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-f",
            "h264",
        ],
    );
    let mut plan = two_rungs(25, 1);
    plan.video = vec![rung("240p", 320, 240, 25, 1)];
    plan.audio.clear();
    plan.download_rung = None;
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    let seconds: u64 = package.video[0].segments.iter().map(|segment| segment.duration_ticks).sum::<u64>() / 90;
    assert!((1900..=2100).contains(&seconds), "{seconds} ms");
}

#[test]
fn film_rate_rungs_get_a_timescale_with_whole_frame_durations() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "film.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=24000/1001:duration=3",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
    );
    let mut plan = two_rungs(24, 1);
    let mut film = rung("240p", 320, 240, 24, 1);
    film.frame_rate = pipelines::source::Rational::new(24000, 1001);
    film.keyframe_interval_frames = 24;
    plan.video = vec![film];
    plan.audio.clear();
    plan.download_rung = None;
    let out = dir.path().join("out");
    let (package, _) = run(&input, &plan, &out);
    let rendition = &package.video[0];
    assert_eq!(rendition.timescale, 24000);
    let n = rendition.segments.len();
    assert!(rendition.segments[..n - 1].iter().all(|segment| segment.duration_ticks == 24 * 1001));
}

/// Average luma (0–255) of a picture file, measured by FFmpeg's `signalstats`.
fn average_luma(path: &Path) -> f64 {
    let filter = format!("movie={},signalstats", path.display());
    let output = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-f", "lavfi", "-i", &filter])
        .args(["-show_entries", "frame_tags=lavfi.signalstats.YAVG", "-of", "csv=p=0"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).trim().parse().unwrap()
}

#[test]
fn the_poster_skips_a_black_opening_and_storyboards_tile_thumbnails() {
    let dir = tempdir();
    let input = ffmpeg(
        dir.path(),
        "fade.mp4",
        &[
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=320x240:rate=25:duration=6,fade=in:st=0:d=0.8",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
        ],
    );
    let mut plan = two_rungs(25, 2);
    plan.video = vec![rung("240p", 320, 240, 25, 2)];
    plan.audio.clear();
    plan.download_rung = None;
    let out = dir.path().join("out");
    run(&input, &plan, &out);
    let first_thumbnail = average_luma(&out.join("images/thumb_00001.jpg"));
    let poster = average_luma(&out.join("images/poster.jpg"));
    assert!(first_thumbnail < 20.0, "the first frame should be black: {first_thumbnail}");
    assert!(poster > 60.0, "the poster should not be black: {poster}");
    // Six thumbnails at 2×2 per sheet: two sheets of 320×180.
    assert!(out.join("images/thumb_00006.jpg").exists());
    assert!(!out.join("images/thumb_00007.jpg").exists());
    assert!(out.join("images/storyboard_002.jpg").exists());
    assert!(!out.join("images/storyboard_003.jpg").exists());
    assert_eq!(video_size(&out.join("images/storyboard_001.jpg")), (320, 180));
}
