use super::*;
use crate::fixtures::{FPS_30, audio, movie, source, video};
use crate::ladder::plan;
use crate::preset::Preset;
use crate::source::{AudioStreamInfo, FieldOrder, VideoStreamInfo};

fn remux(source: &SourceInfo) -> Result<RemuxPlan, NotRemuxable> {
    let plan = plan(source, &Preset::default_course()).expect("plannable");
    remux_plan(source, &plan)
}

#[test]
fn an_h264_aac_mp4_is_remuxed_with_the_presets_segment_length() {
    let plan = remux(&movie(video(1920, 1080, FPS_30))).expect("remuxable");
    assert_eq!(plan.segment_duration_seconds, 4);
    assert_eq!(plan.max_segment_seconds, 20);
    assert_eq!(plan.video.name, "1080p");
    assert_eq!((plan.video.source_index, plan.video.width, plan.video.height), (0, 1920, 1080));
    assert_eq!(plan.audio.len(), 1);
    assert_eq!(plan.audio[0].source_index, 1);
    assert!(plan.audio[0].default);
    assert_eq!((plan.audio[0].channels, plan.audio[0].sample_rate), (2, 48_000));
}

#[test]
fn a_source_without_audio_gets_a_video_only_preview() {
    let silent = source(vec![video(1280, 720, FPS_30)], vec![]);
    let plan = remux(&silent).expect("remuxable");
    assert!(plan.audio.is_empty());
    assert_eq!(plan.video.name, "720p");
}

#[test]
fn sources_players_cannot_take_as_they_are_get_no_preview() {
    let cases: Vec<(&str, SourceInfo)> = vec![
        ("hevc", movie(VideoStreamInfo { codec: "hevc".to_owned(), ..video(1920, 1080, FPS_30) })),
        ("vp9", movie(VideoStreamInfo { codec: "vp9".to_owned(), ..video(1920, 1080, FPS_30) })),
        ("high 10", movie(VideoStreamInfo { profile: Some("High 10".to_owned()), ..video(1920, 1080, FPS_30) })),
        ("4:4:4", movie(VideoStreamInfo { pixel_format: "yuv444p".to_owned(), ..video(1920, 1080, FPS_30) })),
        ("interlaced", movie(VideoStreamInfo { field_order: FieldOrder::TopFieldFirst, ..video(1920, 1080, FPS_30) })),
        ("rotated", movie(VideoStreamInfo { rotation_degrees: 90, ..video(1920, 1080, FPS_30) })),
        (
            "anamorphic",
            movie(VideoStreamInfo { sample_aspect_ratio: Rational::new(64, 45), ..video(720, 576, FPS_30) }),
        ),
        ("odd size", movie(video(641, 361, FPS_30))),
        (
            "opus audio",
            source(
                vec![video(1920, 1080, FPS_30)],
                vec![AudioStreamInfo { codec: "opus".to_owned(), ..audio(1, None, 2) }],
            ),
        ),
        ("audio only", source(vec![], vec![audio(0, None, 2)])),
        ("matroska", SourceInfo { container: "matroska,webm".to_owned(), ..movie(video(1920, 1080, FPS_30)) }),
    ];
    for (name, case) in cases {
        let refused = remux(&case);
        assert!(refused.is_err(), "{name} should get no preview: {refused:?}");
    }
}

#[test]
fn a_second_language_in_another_codec_is_left_out_of_the_preview() {
    let mut two = movie(video(1920, 1080, FPS_30));
    two.audio = vec![
        audio(1, Some("eng"), 2),
        AudioStreamInfo { codec: "mp3".to_owned(), default: false, ..audio(2, Some("rus"), 2) },
    ];
    let plan = remux(&two).expect("remuxable");
    assert_eq!(plan.audio.iter().map(|a| a.source_index).collect::<Vec<_>>(), [1]);
}

/// Feeds a cutter packets at `times` (keyframe flags alongside) and returns where it cut.
fn cuts(mut cutter: SegmentCutter, packets: &[(f64, bool)]) -> Vec<f64> {
    packets.iter().filter(|(time, key)| cutter.cut_before(*time, *key)).map(|(time, _)| *time).collect()
}

/// Packets every `frame` seconds for `seconds`, with a keyframe every `gop` seconds.
fn stream(seconds: f64, frame: f64, gop: f64) -> Vec<(f64, bool)> {
    let frames = (seconds / frame).round() as usize;
    let per_gop = (gop / frame).round() as usize;
    (0..frames).map(|i| (i as f64 * frame, i % per_gop == 0)).collect()
}

#[test]
fn video_is_cut_at_the_first_keyframe_at_least_the_target_after_the_last_cut() {
    let frame = 1.0 / 30.0;
    // Keyframes every 2 s, 4 s target: every other keyframe.
    let at = cuts(SegmentCutter::video(4), &stream(13.0, frame, 2.0));
    assert_eq!(at.len(), 3);
    for (found, expected) in at.iter().zip([4.0, 8.0, 12.0]) {
        assert!((found - expected).abs() < 1e-6, "{at:?}");
    }
    // Keyframes every 3 s: 6 s segments (the 3 s keyframe is too early).
    let at = cuts(SegmentCutter::video(4), &stream(13.0, frame, 3.0));
    assert_eq!(at.iter().map(|t| t.round() as i64).collect::<Vec<_>>(), [6, 12]);
    // Keyframes every 10 s (a screen recorder's default): segments of 10 s.
    let at = cuts(SegmentCutter::video(4), &stream(31.0, frame, 10.0));
    assert_eq!(at.iter().map(|t| t.round() as i64).collect::<Vec<_>>(), [10, 20, 30]);
}

#[test]
fn a_keyframe_a_little_early_still_ends_the_segment() {
    // Variable frame timing puts the keyframe 30 ms before the 4 s mark.
    let packets = [(0.0, true), (1.0, false), (3.97, true), (5.0, false), (7.3, true), (8.1, true)];
    assert_eq!(cuts(SegmentCutter::video(4), &packets), [3.97, 8.1]);
}

#[test]
fn the_first_packet_never_cuts_even_when_it_starts_late() {
    let packets = [(1.5, true), (5.5, true)];
    assert_eq!(cuts(SegmentCutter::video(4), &packets), [5.5]);
}

#[test]
fn audio_is_cut_on_a_grid_of_whole_targets_without_drift() {
    // AAC frames of 1024 samples at 48 kHz, starting at a small offset.
    let frame = 1024.0 / 48_000.0;
    let packets: Vec<(f64, bool)> = (0..1000).map(|i| (0.01 + i as f64 * frame, true)).collect();
    let at = cuts(SegmentCutter::audio(4), &packets);
    assert_eq!(at.len(), 5);
    for (n, cut) in at.iter().enumerate() {
        let grid = 0.01 + 4.0 * (n + 1) as f64;
        assert!(*cut >= grid - 1e-9 && *cut < grid + frame, "cut {n} at {cut}, grid {grid}");
    }
}
