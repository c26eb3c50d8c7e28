use super::*;
use crate::fixtures::{FPS_30, audio, ladder_cases, movie, source, video};
use crate::source::Rational;

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings
}

fn plan_course(source: &SourceInfo) -> Plan {
    plan(source, &Preset::default_course()).expect("plannable")
}

/// `name: width×height @ rate` for each rung, highest first: the ladder at a glance.
fn ladder_summary(plan: &Plan) -> Vec<String> {
    plan.video
        .iter()
        .map(|rung| {
            let rate = rung.frame_rate;
            format!("{}: {}x{} @ {}/{}", rung.name, rung.width, rung.height, rate.num, rate.den)
        })
        .collect()
}

#[test]
fn planned_ladders_match_their_snapshots() {
    for (name, source) in ladder_cases() {
        let plan = plan_course(&source);
        snapshot_settings().bind(|| insta::assert_yaml_snapshot!(format!("plan_{name}"), plan));
    }
}

#[test]
fn ladders_at_a_glance() {
    let cases: &[(&str, &[&str])] = &[
        (
            "landscape_1080p30",
            &[
                "1080p: 1920x1080 @ 30/1",
                "720p: 1280x720 @ 30/1",
                "480p: 854x480 @ 30/1",
                "360p: 640x360 @ 30/1",
                "240p: 426x240 @ 30/1",
            ],
        ),
        (
            "portrait_phone_rotated_90",
            &[
                "1080p: 1080x1920 @ 30/1",
                "720p: 720x1280 @ 30/1",
                "480p: 480x854 @ 30/1",
                "360p: 360x640 @ 30/1",
                "240p: 240x426 @ 30/1",
            ],
        ),
        (
            "anamorphic_pal_16_9",
            &["576p: 1024x576 @ 25/1", "480p: 854x480 @ 25/1", "360p: 640x360 @ 25/1", "240p: 426x240 @ 25/1"],
        ),
        (
            "landscape_1080p60",
            &[
                "1080p: 1920x1080 @ 60/1",
                "720p: 1280x720 @ 60/1",
                "480p: 854x480 @ 30/1",
                "360p: 640x360 @ 30/1",
                "240p: 426x240 @ 30/1",
            ],
        ),
        ("odd_641x361", &["360p: 640x360 @ 30/1", "240p: 426x240 @ 30/1"]),
        ("audio_only", &[]),
    ];
    let sources = ladder_cases();
    for (name, expected) in cases {
        let (_, source) = sources.iter().find(|(case, _)| case == name).expect("a named case");
        assert_eq!(ladder_summary(&plan_course(source)), *expected, "{name}");
    }
}

#[test]
fn sources_between_rungs_get_a_top_rung_only_when_it_is_worth_it() {
    let cases: &[((u32, u32), &str)] = &[
        ((1778, 1000), "1000p: 1778x1000"),
        ((1920, 1100), "1080p: 1886x1080"),
        ((1024, 552), "480p: 890x480"),
        ((1024, 554), "554p: 1024x554"),
        ((320, 180), "180p: 320x180"),
        ((101, 57), "56p: 100x56"),
    ];
    for ((width, height), expected_top) in cases {
        let plan = plan_course(&movie(video(*width, *height, FPS_30)));
        let top = ladder_summary(&plan).into_iter().next().expect("a rung");
        assert!(top.starts_with(expected_top), "{width}x{height}: {top}");
    }
}

#[test]
fn rate_control_scales_with_pixels_and_frame_rate() {
    let cases: &[((u32, u32, Rational), &str, u32)] = &[
        ((1920, 1080, FPS_30), "720p", 3_000_000),
        ((1920, 1080, Rational::new(60, 1)), "720p", 4_500_000),
        ((1920, 1080, Rational::new(60, 1)), "480p", 1_400_000),
        ((1440, 1080, FPS_30), "720p", 2_250_000),
        ((1080, 1920, FPS_30), "720p", 3_000_000),
        ((1778, 1000, FPS_30), "1000p", 5_145_000),
    ];
    for ((width, height, rate), name, expected) in cases {
        let plan = plan_course(&movie(video(*width, *height, *rate)));
        let rung = plan.video.iter().find(|rung| rung.name == *name).expect("rung planned");
        assert_eq!((rung.max_bitrate, rung.buffer_size), (*expected, 2 * expected), "{width}x{height} {name}");
    }
}

#[test]
fn the_download_is_the_highest_rung_of_at_most_720_lines() {
    let cases: &[((u32, u32), Option<&str>)] = &[
        ((3840, 2160), Some("720p")),
        ((1080, 1920), Some("720p")),
        ((1024, 576), Some("576p")),
        ((640, 360), Some("360p")),
    ];
    for ((width, height), expected) in cases {
        let plan = plan_course(&movie(video(*width, *height, FPS_30)));
        assert_eq!(plan.download_rung.as_deref(), *expected, "{width}x{height}");
    }
    let fast = Preset::builtin("fast").expect("built in");
    let plan = plan(&movie(video(1920, 1080, FPS_30)), &fast).expect("plannable");
    assert_eq!(plan.download_rung, None, "the fast preset makes no download");
}

#[test]
fn a_source_without_streams_is_refused() {
    let refusal = plan(&source(vec![], vec![]), &Preset::default_course()).expect_err("nothing");
    assert_eq!(refusal.code, RefusalCode::NoPlayableStreams);
}

#[test]
fn a_video_stream_without_a_size_is_passed_over() {
    let sizeless = VideoStreamInfo { index: 0, ..video(0, 0, FPS_30) };
    let real = VideoStreamInfo { index: 2, ..video(1280, 720, FPS_30) };
    let planned = plan_course(&source(vec![sizeless, real], vec![audio(1, Some("eng"), 2)]));
    assert_eq!(planned.source_video_index, Some(2));
}

/// Display sizes the invariants are checked on: common, odd, anamorphic, rotated, extreme.
fn invariant_sources() -> Vec<VideoStreamInfo> {
    let sizes: &[(u32, u32, (u32, u32), u16)] = &[
        (1920, 1080, (1, 1), 0),
        (1280, 720, (1, 1), 0),
        (3840, 2160, (1, 1), 0),
        (4096, 2160, (1, 1), 0),
        (641, 361, (1, 1), 0),
        (1080, 1920, (1, 1), 0),
        (1920, 1080, (1, 1), 90),
        (1920, 1080, (1, 1), 270),
        (1920, 1080, (1, 1), 180),
        (720, 576, (64, 45), 0),
        (720, 576, (16, 15), 0),
        (720, 480, (32, 27), 0),
        (1440, 1080, (4, 3), 0),
        (640, 480, (1, 1), 0),
        (2560, 1080, (1, 1), 0),
        (1000, 1000, (1, 1), 0),
        (320, 180, (1, 1), 0),
        (1366, 768, (1, 1), 0),
        (853, 480, (1, 1), 0),
        (3000, 2000, (1, 1), 90),
        (1279, 719, (1, 1), 0),
        (2880, 1800, (1, 1), 0),
        (1170, 2532, (1, 1), 0),
        (720, 576, (0, 1), 0),
    ];
    sizes
        .iter()
        .map(|&(width, height, (num, den), rotation)| VideoStreamInfo {
            sample_aspect_ratio: Rational::new(num, den),
            rotation_degrees: rotation,
            ..video(width, height, FPS_30)
        })
        .collect()
}

#[test]
fn rungs_are_even_never_upscaled_and_keep_the_aspect_within_one_percent() {
    for stream in invariant_sources() {
        let (display_width, display_height) = stream.display_size();
        let case = format!(
            "{}x{} sar {:?} rotated {}",
            stream.width, stream.height, stream.sample_aspect_ratio, stream.rotation_degrees
        );
        let plan = plan_course(&movie(stream));
        assert!(!plan.video.is_empty(), "{case}");
        for rung in &plan.video {
            assert!(rung.width % 2 == 0 && rung.height % 2 == 0, "{case}: {} is odd", rung.name);
            assert!(
                f64::from(rung.width) <= display_width && f64::from(rung.height) <= display_height,
                "{case}: {} {}x{} upscales {display_width}x{display_height}",
                rung.name,
                rung.width,
                rung.height
            );
            let aspect = f64::from(rung.width) / f64::from(rung.height);
            let error = (aspect / (display_width / display_height) - 1.0).abs();
            assert!(error < 0.01, "{case}: {} {}x{} is {error:.4} off", rung.name, rung.width, rung.height);
        }
    }
}

#[test]
fn ladders_are_ordered_highest_first_with_unique_names_and_whole_segment_gops() {
    for stream in invariant_sources() {
        let plan = plan_course(&movie(stream));
        let lines: Vec<u32> = plan.video.iter().map(|rung| rung.width.min(rung.height)).collect();
        assert!(lines.windows(2).all(|pair| pair[0] > pair[1]), "{lines:?}");
        for rung in &plan.video {
            assert_eq!(rung.name, format!("{}p", rung.width.min(rung.height)));
            let frames = rung.frame_rate.as_f64() * f64::from(plan.segment_duration_seconds);
            assert_eq!(rung.keyframe_interval_frames, frames.round() as u32, "{}", rung.name);
        }
    }
}

#[test]
fn the_fast_preset_makes_fewer_quicker_rungs() {
    let fast = Preset::builtin("fast").expect("built in");
    let planned = plan(&movie(video(3840, 2160, FPS_30)), &fast).expect("plannable");
    let summary: Vec<(String, String)> =
        planned.video.iter().map(|rung| (rung.name.clone(), rung.encoder_preset.clone())).collect();
    let expected = [("1080p", "superfast"), ("720p", "superfast"), ("360p", "superfast")];
    assert_eq!(summary, expected.map(|(name, preset)| (name.to_owned(), preset.to_owned())));
}

#[test]
fn a_source_above_the_highest_rung_stops_at_it() {
    let course = plan_course(&movie(video(7680, 4320, FPS_30)));
    assert_eq!(course.video[0].name, "2160p");
    let course = plan_course(&movie(video(4096, 2304, FPS_30)));
    assert_eq!(course.video[0].name, "2160p");
}
