//! The local backend behind the `Transcoder` trait: a real clip in local storage, the real
//! engine child (this build's `lectern __engine`), and the package read back from storage in
//! the same shape MediaConvert's would be.

use std::path::Path;
use std::process::Command;

use bytes::Bytes;
use lectern::engine::{EngineLimits, EngineRunner};
use lectern::storage::{KeyPrefix, LocalStore, ObjectKey, ObjectStore, PutOptions, put_bytes};
use lectern::transcode::local::LocalTranscoder;
use lectern::transcode::{RenditionKind, TranscodeError, TranscodeRequest, Transcoder};
use pipelines::preset::Preset;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::helpers::storage::local_store_in;

/// Two small rungs and 2 s segments, so the encode takes a moment.
const SMALL_PRESET: &str = r#"
name = "test-small"
segment_duration_seconds = 2
downloads = false
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
crf = 28
max_bitrate = 800_000
profile = "main"
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
poster_lines = 240
thumbnail_interval_seconds = 1
thumbnail_width = 160
storyboard_tile_width = 80
storyboard_columns = 4
storyboard_rows = 4
"#;

fn make_clip(path: &Path) {
    let status = Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30:duration=3"])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3:sample_rate=48000",
            "-c:v",
            "libx264",
            "-c:a",
            "aac",
        ])
        .arg(path)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg made the clip");
}

struct Fixture {
    store: LocalStore,
    runner: EngineRunner,
    dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = local_store_in(dir.path()).await;
    let clip = dir.path().join("clip.mp4");
    make_clip(&clip);
    let bytes = std::fs::read(&clip).expect("clip");
    put_bytes(&store, &ObjectKey::parse("uploads/clip.mp4").expect("valid"), Bytes::from(bytes), PutOptions::default())
        .await
        .expect("put");
    let runner = EngineRunner::new(env!("CARGO_BIN_EXE_lectern").into(), EngineLimits::default());
    Fixture { store, runner, dir }
}

#[tokio::test]
async fn the_local_engine_uploads_a_package_and_reports_its_renditions() {
    let fixture = fixture().await;
    let source = fixture.runner.probe(&fixture.dir.path().join("clip.mp4")).await.expect("probes");
    let plan = pipelines::ladder::plan(&source, &Preset::from_toml_str(SMALL_PRESET).expect("preset")).expect("plan");
    let asset_id = Uuid::now_v7();
    let request = TranscodeRequest {
        asset_id,
        version: 1,
        source: &source,
        plan: &plan,
        input: ObjectKey::parse("uploads/clip.mp4").expect("valid"),
        destination: KeyPrefix::parse(format!("assets/{asset_id}/v1/")).expect("valid"),
    };
    let transcoder: Box<dyn Transcoder> =
        Box::new(LocalTranscoder::new(fixture.runner.clone(), fixture.dir.path().join("work")));
    assert_eq!(transcoder.backend(), "local");
    let mut progress = Vec::new();
    let output = transcoder
        .transcode(&request, &fixture.store, &mut |fraction| progress.push(fraction), &CancellationToken::new())
        .await
        .expect("transcodes");

    assert_eq!(output.master_playlist.as_str(), format!("assets/{asset_id}/v1/master.m3u8"));
    assert_eq!(
        output.dash_manifest.as_ref().map(ObjectKey::as_str),
        Some(format!("assets/{asset_id}/v1/manifest.mpd").as_str())
    );
    let names: Vec<&str> = output.renditions.iter().map(|rendition| rendition.name.as_str()).collect();
    assert_eq!(names, ["360p", "240p", "audio"]);
    let RenditionKind::Video { bandwidth, codecs, width, height, .. } = &output.renditions[0].kind else {
        panic!("360p is video");
    };
    assert!(*bandwidth > 0 && codecs.as_deref().is_some_and(|codecs| codecs.starts_with("avc1.")));
    assert_eq!((*width, *height), (Some(640), Some(360)));
    for rendition in &output.renditions {
        assert!(
            fixture.store.head(&rendition.playlist).await.expect("head").is_some(),
            "{} uploaded",
            rendition.playlist
        );
    }
    assert!(fixture.store.head(&output.master_playlist).await.expect("head").is_some());
    assert!(!output.thumbnails.is_empty() && output.total_bytes > 0);
    assert!(std::fs::read_dir(fixture.dir.path().join("work")).expect("work dir").next().is_none(), "scratch removed");
}

#[tokio::test]
async fn a_cancelled_local_transcode_stops_and_uploads_nothing() {
    let fixture = fixture().await;
    let source = fixture.runner.probe(&fixture.dir.path().join("clip.mp4")).await.expect("probes");
    let plan = pipelines::ladder::plan(&source, &Preset::from_toml_str(SMALL_PRESET).expect("preset")).expect("plan");
    let request = TranscodeRequest {
        asset_id: Uuid::now_v7(),
        version: 1,
        source: &source,
        plan: &plan,
        input: ObjectKey::parse("uploads/clip.mp4").expect("valid"),
        destination: KeyPrefix::parse("assets/cancelled/v1/").expect("valid"),
    };
    let cancelled = CancellationToken::new();
    cancelled.cancel();
    let transcoder = LocalTranscoder::new(fixture.runner.clone(), fixture.dir.path().join("work"));
    let error = transcoder.transcode(&request, &fixture.store, &mut |_| {}, &cancelled).await.expect_err("cancelled");
    assert!(matches!(error, TranscodeError::Cancelled), "{error:?}");
    assert!(!error.is_retryable() && !error.is_client_error());
    let left = fixture.store.list(&KeyPrefix::parse("assets/").expect("valid")).await.expect("list");
    assert!(left.is_empty(), "{left:?}");
}
