//! Checks every package must pass, whatever the source: segments that start with keyframes,
//! boundaries shared by all rungs, files ffprobe can read, images that decode.

use std::path::{Path, PathBuf};

use pipelines::package::{Package, PackagedRendition, RenditionKind};
use workers::engine::mp4box;

use super::ffprobe_json;

/// init.mp4 followed by the given segments, written to a scratch file.
pub fn join(
    out: &Path,
    rendition: &PackagedRendition,
    segments: &[pipelines::package::SegmentInfo],
    name: &str,
) -> PathBuf {
    let mut bytes = std::fs::read(out.join(&rendition.init_uri)).unwrap();
    for segment in segments {
        bytes.extend(std::fs::read(out.join(&segment.uri)).unwrap());
    }
    let path = out.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Returns the (width, height) of the first video stream ffprobe sees.
pub fn video_size(path: &Path) -> (u64, u64) {
    let json = ffprobe_json(path, &["-show_entries", "stream=width,height", "-select_streams", "v:0"]);
    let stream = &json["streams"][0];
    (stream["width"].as_u64().unwrap(), stream["height"].as_u64().unwrap())
}

pub fn check_package(out: &Path, package: &Package) {
    for rendition in package.video.iter().chain(&package.audio) {
        assert!(!rendition.segments.is_empty(), "{} has no segments", rendition.name);
        assert_eq!(rendition.start_number, 1);
        assert_eq!(rendition.segment_template, "seg_$Number%05d$.m4s");
        assert!(out.join(&rendition.init_uri).exists());
        let mut expected_start = rendition.segments[0].start_ticks;
        for (index, segment) in rendition.segments.iter().enumerate() {
            assert_eq!(segment.uri, format!("{}/seg_{:05}.m4s", rendition.name, index + 1));
            assert_eq!(segment.size_bytes, std::fs::metadata(out.join(&segment.uri)).unwrap().len());
            assert_eq!(segment.start_ticks, expected_start, "{}: gap before segment {}", rendition.name, index + 1);
            expected_start += segment.duration_ticks;
        }
        assert!(rendition.peak_bitrate >= rendition.average_bitrate);
        let whole = join(out, rendition, &rendition.segments, &format!("{}_whole.mp4", rendition.name));
        let json = ffprobe_json(&whole, &["-show_entries", "stream=codec_name"]);
        assert_eq!(json["streams"].as_array().unwrap().len(), 1);
        std::fs::remove_file(whole).unwrap();
        match &rendition.kind {
            RenditionKind::Video { width, height, .. } => {
                let hex = rendition.codecs.strip_prefix("avc1.").unwrap();
                assert!(hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()), "{}", rendition.codecs);
                check_segments_start_with_keyframes(out, rendition);
                let first = join(out, rendition, &rendition.segments[..1], "first.mp4");
                assert_eq!(video_size(&first), (u64::from(*width), u64::from(*height)));
            }
            RenditionKind::Audio { .. } => assert_eq!(rendition.codecs, "mp4a.40.2"),
        }
    }
    // Every rung has the same segment boundaries: equal segment durations in seconds (the
    // last may differ by a frame). Start ticks may differ by a constant where rungs differ in
    // B-frame delay, which the engine evens out in decode time.
    if let Some(first) = package.video.first() {
        let boundaries = |rendition: &PackagedRendition| {
            let n = rendition.segments.len() - 1;
            rendition.segments[..n]
                .iter()
                .map(|segment| segment.duration_ticks * 1000 / u64::from(rendition.timescale))
                .collect::<Vec<_>>()
        };
        for other in &package.video[1..] {
            assert_eq!(first.segments.len(), other.segments.len(), "{} vs {}", first.name, other.name);
            assert_eq!(boundaries(first), boundaries(other), "{} vs {}", first.name, other.name);
        }
    }
    if let Some(poster) = &package.poster {
        assert_eq!(poster, "images/poster.jpg");
        let json = ffprobe_json(&out.join(poster), &["-show_entries", "stream=codec_name,width,height"]);
        assert_eq!(json["streams"][0]["codec_name"], "mjpeg");
        assert!(out.join("images/thumb_00001.jpg").exists());
        assert!(out.join("images/storyboard_001.jpg").exists());
    }
    if let Some(download) = &package.download {
        let bytes = std::fs::read(out.join(download)).unwrap();
        let kinds: Vec<[u8; 4]> = mp4box::boxes(&bytes).unwrap().into_iter().map(|b| b.kind).collect();
        let moov = kinds.iter().position(|kind| kind == b"moov").unwrap();
        let mdat = kinds.iter().position(|kind| kind == b"mdat").unwrap();
        assert!(moov < mdat, "download.mp4 is not faststart: {kinds:?}");
    }
    assert!(out.join("package.json").exists());
}

/// Each segment, played alone after the init segment, begins with a keyframe (ffprobe's `K`).
fn check_segments_start_with_keyframes(out: &Path, rendition: &PackagedRendition) {
    for segment in &rendition.segments {
        let alone = join(out, rendition, std::slice::from_ref(segment), "alone.mp4");
        let json = ffprobe_json(&alone, &["-show_entries", "packet=flags", "-read_intervals", "%+#1"]);
        let flags = json["packets"][0]["flags"].as_str().unwrap().to_owned();
        assert!(flags.starts_with('K'), "{} does not start with a keyframe ({flags})", segment.uri);
    }
    let _ = std::fs::remove_file(out.join("alone.mp4"));
}
