use super::*;
use crate::fixtures::{FPS_30, audio, movie, source, video};
use crate::source::{Rational, VideoStreamInfo};

fn outcome(source: &SourceInfo) -> Option<RefusalCode> {
    check(source, &Limits::default()).err().map(|refusal| refusal.code)
}

#[test]
fn sources_are_accepted_or_refused_by_the_default_limits() {
    let tiny_file_declaring_ten_hours =
        SourceInfo { size_bytes: 4_096, duration_seconds: Some(36_000.0), ..movie(video(640, 360, FPS_30)) };
    let cases: Vec<(&str, SourceInfo, Option<RefusalCode>)> = vec![
        ("an ordinary 1080p lesson", movie(video(1920, 1080, FPS_30)), None),
        ("4K UHD", movie(video(3840, 2160, FPS_30)), None),
        ("DCI 4K", movie(video(4096, 2160, FPS_30)), None),
        ("a portrait 4K phone video", movie(video(2160, 3840, FPS_30)), None),
        ("exactly six hours", SourceInfo { duration_seconds: Some(21_600.0), ..movie(video(1280, 720, FPS_30)) }, None),
        ("an unknown duration", SourceInfo { duration_seconds: None, ..movie(video(1280, 720, FPS_30)) }, None),
        ("audio only", source(vec![], vec![audio(0, None, 2)]), None),
        ("video only", source(vec![video(1280, 720, FPS_30)], vec![]), None),
        ("120 fps", movie(video(1280, 720, Rational::new(120, 1))), None),
        ("a tiny file declaring ten hours", tiny_file_declaring_ten_hours, Some(RefusalCode::DurationTooLong)),
        (
            "six hours and a second",
            SourceInfo { duration_seconds: Some(21_601.0), ..movie(video(1280, 720, FPS_30)) },
            Some(RefusalCode::DurationTooLong),
        ),
        ("8192×8192", movie(video(8192, 8192, FPS_30)), Some(RefusalCode::ResolutionTooLarge)),
        ("8K UHD", movie(video(7680, 4320, FPS_30)), Some(RefusalCode::ResolutionTooLarge)),
        ("240 fps", movie(video(1280, 720, Rational::new(240, 1))), Some(RefusalCode::ResolutionTooLarge)),
        ("no streams at all", source(vec![], vec![]), Some(RefusalCode::NoPlayableStreams)),
        (
            "51 GiB",
            SourceInfo { size_bytes: 51 * 1024 * 1024 * 1024, ..movie(video(1920, 1080, FPS_30)) },
            Some(RefusalCode::FileTooLarge),
        ),
    ];
    for (name, source, expected) in cases {
        assert_eq!(outcome(&source), expected, "{name}");
    }
}

#[test]
fn an_anamorphic_picture_is_measured_as_displayed() {
    // 4096×2304 stored with pixels twice as wide displays as 8192×2304.
    let wide_pixels = VideoStreamInfo { sample_aspect_ratio: Rational::new(2, 1), ..video(4096, 2304, FPS_30) };
    assert_eq!(outcome(&movie(wide_pixels)), Some(RefusalCode::ResolutionTooLarge));
}

#[test]
fn only_the_first_video_stream_is_measured() {
    let mut two_pictures = movie(video(1920, 1080, FPS_30));
    two_pictures.video.push(VideoStreamInfo { index: 5, ..video(8192, 8192, FPS_30) });
    assert_eq!(outcome(&two_pictures), None);
}

#[test]
fn refusals_explain_the_limit_to_a_person() {
    let long = SourceInfo { duration_seconds: Some(36_000.0), ..movie(video(640, 360, FPS_30)) };
    let refusal = check(&long, &Limits::default()).expect_err("too long");
    assert_eq!(refusal.to_string(), "duration_too_long: the file lasts 36000 s; the limit is 21600 s");
}

#[test]
fn limits_can_be_tightened() {
    let limits = Limits { max_duration_seconds: 60.0, ..Limits::default() };
    let refusal = check(&movie(video(1280, 720, FPS_30)), &limits).expect_err("ten minutes");
    assert_eq!(refusal.code, RefusalCode::DurationTooLong);
}
