//! Playable in seconds: an H.264/AAC upload is first published as a `preview` version (its own
//! streams copied into CMAF, no encode) that learners can play while the asset is still
//! `processing`, and the full ladder supersedes it as the next version. Sources that cannot be
//! copied (HEVC) get no preview. The ladder is held back in the first tests by running workers
//! without the `media.transcode` handler, so the preview can be looked at on its own.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::helpers::media::{event_types, upload_fast};
use crate::helpers::storage::{keys_under, remove_bucket, seaweed_settings};
use crate::helpers::{TestApp, TestOptions, instructor, spawn_app_with, test_ingest_settings};
use lectern::jobs::{EnqueueOptions, JobHandler, WorkerPool, WorkerSettings, queue};
use lectern::media::IngestSettings;
use lectern::storage::{ObjectKey, StorageSettings};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

fn fast_start() -> IngestSettings {
    IngestSettings { fast_start: true, superseded_grace: Duration::from_secs(3600), ..test_ingest_settings() }
}

async fn app(pool: PgPool, storage: Option<StorageSettings>, workers: usize) -> TestApp {
    Box::pin(spawn_app_with(
        pool,
        TestOptions { workers, storage, ingest: Some(fast_start()), ..TestOptions::default() },
    ))
    .await
}

/// Workers of this test's app with the handlers `keep` selects (by kind).
async fn workers(app: &TestApp, keep: impl Fn(&str) -> bool) -> WorkerPool {
    let settings = lectern::app::Settings {
        ingest: Arc::new(fast_start()),
        webhooks: app.webhooks(),
        training: Arc::default(),
        payments: Arc::default(),
        lti: app.lti(),
        mail: std::sync::Arc::default(), // accounts (issue 21)
    };
    let services = crate::helpers::services(app, &settings).await;
    let handlers: Vec<Arc<dyn JobHandler>> =
        lectern::app::job_handlers(&services, &settings).into_iter().filter(|h| keep(h.kind())).collect();
    let workers =
        WorkerSettings { concurrency: 1, poll_interval: Duration::from_millis(200), ..WorkerSettings::default() };
    WorkerPool::start(app.pool.clone(), app.storage.clone(), services.metrics, handlers, workers)
}

async fn asset_json(app: &TestApp, asset_id: Uuid, token: &str) -> Value {
    app.get_with(&format!("/v1/assets/{asset_id}"), token).await.json().await.expect("json")
}

/// Polls the asset JSON until `done` holds.
async fn wait_for(app: &TestApp, asset_id: Uuid, token: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let asset = asset_json(app, asset_id, token).await;
        if done(&asset) {
            return asset;
        }
        assert!(asset["status"] != "errored", "asset errored while waiting for {what}: {asset}");
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {asset}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn versions(pool: &PgPool, asset_id: Uuid) -> Vec<(i32, String, String)> {
    sqlx::query_as("select version, kind, state from asset_version where asset_id = $1 order by version")
        .bind(asset_id)
        .fetch_all(pool)
        .await
        .expect("versions")
}

async fn bytes_of(app: &TestApp, key: &str) -> Vec<u8> {
    lectern::storage::get_bytes(&*app.storage, &ObjectKey::parse(key.to_owned()).expect("key"))
        .await
        .expect("object")
        .to_vec()
}

fn uri_lines(playlist: &str) -> Vec<String> {
    playlist
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// Joins a rendition's init and media segments (in playlist order) and has ffprobe count what
/// it decodes from them: the segments must form one valid stream.
fn ffprobe_packets(joined: &[u8], stream: &str) -> (String, u64) {
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), joined).expect("write");
    let output = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            stream,
            "-count_packets",
            "-show_entries",
            "stream=codec_name,nb_read_packets",
        ])
        .args(["-of", "csv=p=0"])
        .arg(file.path())
        .output()
        .expect("ffprobe runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let (codec, packets) = text.split_once(',').unwrap_or_else(|| panic!("unexpected ffprobe output {text:?}"));
    (codec.to_owned(), packets.parse().expect("a packet count"))
}

/// The preview of the 3 s, 30 fps H.264/AAC fixture is published as version 1, plays, and is
/// superseded by the ladder as version 2.
async fn preview_then_ladder(app: TestApp) {
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = upload_fast(&app, &token, "moov_at_end.mp4").await;

    // Probe and preview only: the asset stops at its fast first package.
    let quick = workers(&app, |kind| kind != "media.transcode").await;
    let asset = wait_for(&app, asset_id, &token, "playable", |asset| asset["playable"] == true).await;
    assert_eq!(asset["status"], "processing", "{asset}");
    assert_eq!(asset["current_version"], 1);
    assert_eq!(asset["current_version_kind"], "preview");
    let renditions = asset["renditions"].as_array().expect("renditions");
    assert_eq!(renditions.len(), 2, "{asset}");
    let video = renditions.iter().find(|r| r["kind"] == "video").expect("video");
    assert_eq!((video["width"].as_i64(), video["height"].as_i64()), (Some(640), Some(360)));
    assert!(video["codecs"].as_str().is_some_and(|c| c.starts_with("avc1.")), "{video}");
    let audio = renditions.iter().find(|r| r["kind"] == "audio").expect("audio");
    assert_eq!(audio["codecs"], "mp4a.40.2");
    for rendition in renditions {
        assert_eq!(rendition["preview"], true, "{rendition}");
        assert!(rendition["duration"].as_f64().is_some_and(|d| (d - 3.0).abs() < 0.2), "{rendition}");
    }
    assert_eq!(versions(&app.pool, asset_id).await, [(1, "preview".to_owned(), "published".to_owned())]);
    let events = event_types(&app.pool, asset_id).await;
    assert!(events.contains(&"asset.playable".to_owned()), "{events:?}");
    assert!(!events.contains(&"asset.ready".to_owned()), "{events:?}");
    let playable: Value =
        sqlx::query_scalar("select payload from asset_event where asset_id = $1 and type = 'asset.playable'")
            .bind(asset_id)
            .fetch_one(&app.pool)
            .await
            .expect("event");
    assert_eq!(playable, serde_json::json!({"version": 1, "preview": true}));

    // The package: manifests written by `pipelines`, segments that decode as one stream.
    let prefix = format!("assets/{asset_id}/v1/");
    let master = String::from_utf8(bytes_of(&app, &format!("{prefix}master.m3u8")).await).expect("text");
    let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).expect("a master playlist");
    assert_eq!(parsed.variants.len(), 1, "{master}");
    assert_eq!(parsed.alternatives.len(), 1, "{master}");
    let mpd = String::from_utf8(bytes_of(&app, &format!("{prefix}manifest.mpd")).await).expect("text");
    assert!(mpd.contains("<MPD") && mpd.trim_end().ends_with("</MPD>"), "{mpd}");
    for (playlist, stream, expected_codec, expected_packets) in [
        (parsed.variants[0].uri.clone(), "v:0", "h264", 90),
        (parsed.alternatives[0].uri.clone().expect("audio uri"), "a:0", "aac", 140),
    ] {
        let folder = playlist.rsplit_once('/').expect("in a folder").0.to_owned();
        let text = String::from_utf8(bytes_of(&app, &format!("{prefix}{playlist}")).await).expect("text");
        let media = m3u8_rs::parse_media_playlist_res(text.as_bytes()).expect("a media playlist");
        let total: f32 = media.segments.iter().map(|s| s.duration).sum();
        assert!((total - 3.0).abs() < 0.2, "{text}");
        let mut joined = bytes_of(&app, &format!("{prefix}{folder}/init.mp4")).await;
        assert_eq!(&joined[4..8], b"ftyp");
        for uri in uri_lines(&text) {
            let segment = bytes_of(&app, &format!("{prefix}{folder}/{uri}")).await;
            assert_eq!(&segment[4..8], b"moof", "{uri}");
            joined.extend_from_slice(&segment);
        }
        let (codec, packets) = ffprobe_packets(&joined, stream);
        assert_eq!(codec, expected_codec);
        // Every source packet copied: 3 s at 30 fps; AAC at 48 kHz is ~141 frames (±priming).
        assert!(packets.abs_diff(expected_packets) <= 2, "{codec}: {packets} packets");
    }

    // Learners can watch it now.
    let response = app
        .client
        .post(app.url(&format!("/v1/assets/{asset_id}/playback")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("session");
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.expect("json");
    let hls = app.client.get(session["hls_url"].as_str().expect("url")).send().await.expect("master");
    assert_eq!(hls.status(), 200);
    let signed_master = hls.text().await.expect("text");
    let media_url = uri_lines(&signed_master).into_iter().next().expect("a variant");
    let media = app.client.get(&media_url).send().await.expect("media playlist").text().await.expect("text");
    let segment_url = uri_lines(&media).into_iter().next().expect("a segment");
    let segment = app.client.get(&segment_url).send().await.expect("segment");
    assert_eq!(segment.status(), 200, "{segment_url}");
    quick.shutdown().await;

    // A second preview job (a retry, a duplicate) does not redo a published preview.
    queue::enqueue(&app.pool, "media.preview", &serde_json::json!({"asset_id": asset_id}), EnqueueOptions::default())
        .await
        .expect("enqueue");

    // The ladder supersedes it.
    let all = workers(&app, |_| true).await;
    let asset = wait_for(&app, asset_id, &token, "ready", |asset| asset["status"] == "ready").await;
    assert_eq!(asset["current_version"], 2);
    assert_eq!(asset["current_version_kind"], "full");
    assert!(asset["renditions"].as_array().expect("renditions").iter().all(|r| r["preview"] == false), "{asset}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let pending: i64 = sqlx::query_scalar(
            "select count(*) from job where state in ('queued', 'running') and kind = 'media.preview'",
        )
        .fetch_one(&app.pool)
        .await
        .expect("count");
        if pending == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "the duplicate preview job did not run");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        versions(&app.pool, asset_id).await,
        [(1, "preview".to_owned(), "superseded".to_owned()), (2, "full".to_owned(), "published".to_owned())]
    );
    let events = event_types(&app.pool, asset_id).await;
    assert_eq!(events.iter().filter(|e| *e == "asset.playable").count(), 1, "{events:?}");
    let playable_at = events.iter().position(|e| e == "asset.playable").expect("playable");
    let ready_at = events.iter().position(|e| e == "asset.ready").expect("ready");
    assert!(playable_at < ready_at, "{events:?}");
    // Players still on the preview finish it: its files stay for the grace.
    assert!(keys_under(&*app.storage, &prefix).await.iter().any(|key| key.ends_with("master.m3u8")));
    all.shutdown().await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_h264_upload_plays_from_its_preview_until_the_ladder_supersedes_it_on_local_storage(pool: PgPool) {
    preview_then_ladder(app(pool, None, 0).await).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_h264_upload_plays_from_its_preview_until_the_ladder_supersedes_it_on_s3(pool: PgPool) {
    let storage = seaweed_settings().await;
    preview_then_ladder(app(pool, Some(storage.clone()), 0).await).await;
    remove_bucket(&storage).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_hevc_upload_gets_no_preview_and_becomes_playable_with_its_ladder(pool: PgPool) {
    let app = app(pool, None, 1).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = upload_fast(&app, &token, "hevc_10bit.mkv").await;
    let asset = wait_for(&app, asset_id, &token, "ready", |asset| asset["status"] == "ready").await;
    assert_eq!(asset["current_version"], 1);
    assert_eq!(asset["current_version_kind"], "full");
    assert_eq!(versions(&app.pool, asset_id).await, [(1, "full".to_owned(), "published".to_owned())]);
    let previews: i64 =
        sqlx::query_scalar("select count(*) from job where kind = 'media.preview' and payload ->> 'asset_id' = $1")
            .bind(asset_id.to_string())
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(previews, 0, "no preview is queued for a source that cannot be copied");
    let playable: Value =
        sqlx::query_scalar("select payload from asset_event where asset_id = $1 and type = 'asset.playable'")
            .bind(asset_id)
            .fetch_one(&app.pool)
            .await
            .expect("event");
    assert_eq!(playable, serde_json::json!({"version": 1}));
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn with_fast_start_off_an_h264_upload_waits_for_its_ladder(pool: PgPool) {
    let ingest = IngestSettings { fast_start: false, ..fast_start() };
    let app =
        Box::pin(spawn_app_with(pool, TestOptions { workers: 1, ingest: Some(ingest), ..TestOptions::default() }))
            .await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = upload_fast(&app, &token, "moov_at_end.mp4").await;
    wait_for(&app, asset_id, &token, "ready", |asset| asset["status"] == "ready").await;
    assert_eq!(versions(&app.pool, asset_id).await, [(1, "full".to_owned(), "published".to_owned())]);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn previews_and_probes_are_claimed_before_queued_transcodes(pool: PgPool) {
    let kinds = vec!["media.transcode".to_owned(), "media.preview".to_owned()];
    let lease = Duration::from_secs(60);
    let older = EnqueueOptions::default();
    queue::enqueue(&pool, "media.transcode", &serde_json::json!({"asset_id": Uuid::new_v4()}), older)
        .await
        .expect("enqueue");
    let quick = EnqueueOptions { priority: lectern::jobs::PRIORITY_QUICK, ..EnqueueOptions::default() };
    queue::enqueue(&pool, "media.preview", &serde_json::json!({"asset_id": Uuid::new_v4()}), quick)
        .await
        .expect("enqueue");
    let first = queue::claim(&pool, "w1", &kinds, lease).await.expect("claim").expect("a job");
    assert_eq!(first.kind, "media.preview", "the newer preview goes before the older transcode");
    let probe_priority: i16 = {
        let app = app(pool.clone(), None, 0).await;
        let token = instructor(&app, "teacher@example.com").await;
        let asset_id = upload_fast(&app, &token, "moov_at_end.mp4").await;
        sqlx::query_scalar("select priority from job where kind = 'media.probe' and payload ->> 'asset_id' = $1")
            .bind(asset_id.to_string())
            .fetch_one(&pool)
            .await
            .expect("probe job")
    };
    assert_eq!(probe_priority, lectern::jobs::PRIORITY_QUICK);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_work_directory_that_does_not_exist_yet_is_created_by_the_probe_and_the_preview(pool: PgPool) {
    let scratch = tempfile::tempdir().expect("temp dir");
    let work_dir = scratch.path().join("not").join("yet");
    let ingest = IngestSettings { work_dir: Some(work_dir.clone()), ..fast_start() };
    let app =
        Box::pin(spawn_app_with(pool, TestOptions { workers: 1, ingest: Some(ingest), ..TestOptions::default() }))
            .await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = upload_fast(&app, &token, "moov_at_end.mp4").await;
    wait_for(&app, asset_id, &token, "playable", |asset| asset["playable"] == true).await;
    assert!(work_dir.is_dir());
}
