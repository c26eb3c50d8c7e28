use super::timeline::{TimelineEntry, compress, expand};
use super::*;
use crate::fixtures::{audio_only_package, lesson_package};
use crate::package::SegmentInfo;

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings
}

fn segments(spans: &[(u64, u64)]) -> Vec<SegmentInfo> {
    spans
        .iter()
        .enumerate()
        .map(|(k, &(start_ticks, duration_ticks))| SegmentInfo {
            uri: crate::naming::segment_path("720p", k as u64 + 1),
            start_ticks,
            duration_ticks,
            size_bytes: 1000,
        })
        .collect()
}

#[test]
fn manifests_match_their_snapshots() {
    snapshot_settings().bind(|| {
        insta::assert_snapshot!("dash_mpd", mpd(&lesson_package()));
        insta::assert_snapshot!("dash_mpd_audio_only", mpd(&audio_only_package()));
    });
}

/// A name, the (start, duration) of each segment, and the timeline expected for them.
type TimelineCase = (&'static str, &'static [(u64, u64)], &'static [TimelineEntry]);

#[test]
fn timelines_compress_runs_and_expand_back_to_the_segments() {
    let cases: &[TimelineCase] = &[
        ("empty", &[], &[]),
        (
            "equal segments and a short last one",
            &[(0, 120), (120, 120), (240, 120), (360, 50)],
            &[
                TimelineEntry { start: Some(0), duration: 120, repeat: 2 },
                TimelineEntry { start: None, duration: 50, repeat: 0 },
            ],
        ),
        (
            "alternating AAC segment lengths",
            &[(0, 188), (188, 187), (375, 188)],
            &[
                TimelineEntry { start: Some(0), duration: 188, repeat: 0 },
                TimelineEntry { start: None, duration: 187, repeat: 0 },
                TimelineEntry { start: None, duration: 188, repeat: 0 },
            ],
        ),
        (
            "a first decode time after zero and a gap",
            &[(1024, 100), (1124, 100), (1300, 100)],
            &[
                TimelineEntry { start: Some(1024), duration: 100, repeat: 1 },
                TimelineEntry { start: Some(1300), duration: 100, repeat: 0 },
            ],
        ),
    ];
    for (name, spans, expected) in cases {
        let entries = compress(&segments(spans));
        assert_eq!(entries, *expected, "{name}");
        assert_eq!(expand(&entries), *spans, "{name}");
    }
}

#[test]
fn every_packaged_rendition_round_trips_through_its_timeline() {
    let package = lesson_package();
    for rendition in package.video.iter().chain(&package.audio) {
        let spans: Vec<(u64, u64)> = rendition.segments.iter().map(|s| (s.start_ticks, s.duration_ticks)).collect();
        assert_eq!(expand(&compress(&rendition.segments)), spans, "{}", rendition.name);
    }
}

#[test]
fn segment_urls_from_the_template_are_the_packaged_uris() {
    let package = lesson_package();
    let manifest = mpd(&package);
    for rendition in package.video.iter().chain(&package.audio) {
        let media = format!("media=\"{}/seg_$Number%05d$.m4s\"", rendition.name);
        assert!(manifest.contains(&media), "{media}");
        for (offset, segment) in rendition.segments.iter().enumerate() {
            let number = rendition.start_number + offset as u64;
            let from_template = format!("{}/seg_{number:05}.m4s", rendition.name);
            assert_eq!(segment.uri, from_template);
        }
    }
}

#[test]
fn frame_rates_and_durations_use_the_dash_forms() {
    assert_eq!(frame_rate_text(Rational::new(30000, 1001)), "30000/1001");
    assert_eq!(frame_rate_text(Rational::new(60000, 2002)), "30000/1001");
    assert_eq!(frame_rate_text(Rational::new(50, 2)), "25");
    assert_eq!(iso_duration(10.5), "PT10.500S");
    assert_eq!(iso_duration(3725.0), "PT3725.000S");
}

#[test]
fn labels_are_escaped_in_the_xml() {
    let mut package = lesson_package();
    if let RenditionKind::Audio { label, .. } = &mut package.audio[1].kind {
        *label = "Q&A <live>".to_owned();
    }
    assert!(mpd(&package).contains("<Label>Q&amp;A &lt;live&gt;</Label>"));
}
