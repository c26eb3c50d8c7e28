#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::plans::two_rungs;
use common::{basic_mp4, ffprobe_json, tempdir};
use pipelines::package::{Package, PackagedRendition};
use workers::{Progress, transcode};

/// Concatenates init + segments of a rendition into one file ffprobe can read.
fn concatenated(out: &Path, rendition: &PackagedRendition) -> std::path::PathBuf {
    let mut bytes = std::fs::read(out.join(&rendition.init_uri)).unwrap();
    for segment in &rendition.segments {
        bytes.extend(std::fs::read(out.join(&segment.uri)).unwrap());
    }
    let path = out.join(format!("{}_whole.mp4", rendition.name));
    std::fs::write(&path, bytes).unwrap();
    path
}

/// `avc1.PPCCLL`: six hex digits of profile, constraints and level from the SPS.
fn assert_avc1_codecs(codecs: &str) {
    let hex = codecs.strip_prefix("avc1.").unwrap_or_else(|| panic!("{codecs}"));
    assert!(hex.len() == 6 && hex.chars().all(|c| c.is_ascii_hexdigit()), "{codecs}");
}

fn run(input: &Path, plan: &pipelines::plan::Plan, out: &Path) -> (Package, Vec<Progress>) {
    let mut reports = Vec::new();
    let package = transcode(input, plan, out, &mut |progress| reports.push(progress)).unwrap();
    (package, reports)
}

#[test]
fn a_plain_mp4_becomes_aligned_cmaf_renditions_with_images_and_download() {
    let dir = tempdir();
    let input = basic_mp4(dir.path(), "in.mp4", 3, "640x360", 30);
    let out = dir.path().join("out");
    let plan = two_rungs(30, 1);
    let (package, reports) = run(&input, &plan, &out);
    println!("{}", serde_json::to_string_pretty(&package).unwrap());
    assert!((package.duration_seconds - 3.0).abs() < 0.1, "{}", package.duration_seconds);
    assert!(!reports.is_empty());
    assert_eq!(package.video.len(), 2);
    for rendition in &package.video {
        assert_eq!(rendition.segments.len(), 3, "{}", rendition.name);
        assert_avc1_codecs(&rendition.codecs);
        assert_eq!(rendition.timescale, 90000);
        let whole = concatenated(&out, rendition);
        let frames = ffprobe_json(&whole, &["-show_entries", "packet=pts_time,flags", "-select_streams", "v"]);
        let packets = frames["packets"].as_array().unwrap();
        assert_eq!(packets.len(), 90);
    }
    let starts = |r: &PackagedRendition| r.segments.iter().map(|s| (s.start_ticks, s.duration_ticks)).collect::<Vec<_>>();
    assert_eq!(starts(&package.video[0]), starts(&package.video[1]));
    let audio = &package.audio[0];
    assert_eq!(audio.codecs, "mp4a.40.2");
    assert_eq!(audio.timescale, 48000);
    assert!(out.join("images/poster.jpg").exists());
    assert!(out.join("images/thumb_00003.jpg").exists());
    assert!(out.join("images/storyboard_001.jpg").exists());
    assert!(out.join("download.mp4").exists());
    assert!(out.join("package.json").exists());
}
