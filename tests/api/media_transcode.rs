//! The `media.transcode` job end to end: a fixture goes into storage, `upload_completed` hands
//! it to the workers (probe, then transcode), and the asset ends `ready` with a published
//! version, its renditions and its package under `assets/{id}/v{n}/`. Also: a failed attempt
//! followed by a good one, reprocessing, deletion during a transcode, `GET /v1/jobs`, the
//! metrics and the fair-share claim order. Tests use the `fast` preset and short fixtures.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::helpers::media::{event_types, upload_fast};
use crate::helpers::processing::{alive, versions};
use crate::helpers::storage::{keys_under, remove_bucket, seaweed_settings};
use crate::helpers::{TestApp, TestOptions, instructor, spawn_app_with, test_ingest_settings};
use lectern::storage::{ObjectKey, StorageSettings};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

const FIXTURE: &str = "moov_at_end.mp4";

async fn app(pool: PgPool, storage: Option<StorageSettings>, grace: Duration) -> TestApp {
    Box::pin(app_in(pool, storage, grace, None)).await
}

/// An app whose scratch files go to `work_dir` (so a test can tell its engine children from
/// those of the tests running beside it).
async fn app_in(pool: PgPool, storage: Option<StorageSettings>, grace: Duration, work_dir: Option<PathBuf>) -> TestApp {
    let ingest = lectern::media::IngestSettings { superseded_grace: grace, work_dir, ..test_ingest_settings() };
    Box::pin(spawn_app_with(pool, TestOptions { workers: 1, storage, ingest: Some(ingest), ..TestOptions::default() }))
        .await
}

/// Creates an asset with the `fast` preset, stores the fixture as its original and completes
/// the upload; returns the asset id and the owner's token.
async fn upload(app: &TestApp, email: &str) -> (Uuid, String) {
    let token = instructor(app, email).await;
    (upload_fast(app, &token, FIXTURE).await, token)
}

async fn status_of(pool: &PgPool, asset_id: Uuid) -> (String, Option<i32>, Option<String>) {
    sqlx::query_as("select status, current_version, error_message from asset where asset_id = $1")
        .bind(asset_id)
        .fetch_one(pool)
        .await
        .expect("asset")
}

/// Waits until `done` holds for the asset's status and current version.
async fn wait_for(pool: &PgPool, asset_id: Uuid, what: &str, done: impl Fn(&str, Option<i32>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, version, message) = status_of(pool, asset_id).await;
        if done(&status, version) {
            return;
        }
        assert!(status != "errored", "asset errored while waiting for {what}: {message:?}");
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {status} v{version:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn text_of(app: &TestApp, key: &str) -> String {
    use futures::StreamExt;
    let mut body = app.storage.get(&ObjectKey::parse(key.to_owned()).expect("key"), None).await.expect("object");
    let mut bytes = Vec::new();
    while let Some(chunk) = body.stream.next().await {
        bytes.extend_from_slice(&chunk.expect("chunk"));
    }
    String::from_utf8(bytes).expect("text")
}

/// Events `expected` appear in `events` in this order (others may come between).
fn in_order(events: &[String], expected: &[&str]) -> bool {
    let mut wanted = expected.iter().peekable();
    for event in events {
        if wanted.peek().is_some_and(|next| **next == event) {
            wanted.next();
        }
    }
    wanted.peek().is_none()
}

async fn check_published(app: &TestApp, asset_id: Uuid, token: &str) {
    wait_for(&app.pool, asset_id, "ready", |status, version| status == "ready" && version == Some(1)).await;
    let asset: Value = app.get_with(&format!("/v1/assets/{asset_id}"), token).await.json().await.expect("json");
    assert_eq!(asset["status"], "ready");
    assert_eq!(asset["playable"], true);
    assert_eq!(asset["current_version"], 1);
    assert!(asset["progress"].is_null(), "{asset}");
    let renditions = asset["renditions"].as_array().expect("renditions");
    assert!(renditions.iter().any(|r| r["kind"] == "video" && r["width"].as_i64().is_some_and(|w| w > 0)), "{asset}");
    assert!(renditions.iter().any(|r| r["kind"] == "audio"), "{asset}");
    for rendition in renditions {
        assert!(rendition["bandwidth"].as_i64().is_some_and(|b| b > 0), "{rendition}");
        assert!(rendition["codecs"].as_str().is_some_and(|c| !c.is_empty()), "{rendition}");
        assert!(rendition["duration"].as_f64().is_some_and(|d| (d - 3.0).abs() < 0.5), "{rendition}");
    }

    let prefix = format!("assets/{asset_id}/v1/");
    let keys = keys_under(&*app.storage, &prefix).await;
    for required in ["master.m3u8", "manifest.mpd"] {
        assert!(keys.contains(&format!("{prefix}{required}")), "{required} missing from {keys:?}");
    }
    let master = text_of(app, &format!("{prefix}master.m3u8")).await;
    let parsed = m3u8_rs::parse_master_playlist_res(master.as_bytes()).expect("a master playlist");
    assert!(!parsed.variants.is_empty());
    for variant in &parsed.variants {
        assert!(keys.contains(&format!("{prefix}{}", variant.uri)), "{} is not stored", variant.uri);
    }
    let mpd = text_of(app, &format!("{prefix}manifest.mpd")).await;
    assert!(mpd.contains("<MPD") && mpd.trim_end().ends_with("</MPD>"), "{mpd}");
    for rendition in renditions {
        let name = rendition["name"].as_str().expect("name");
        assert!(mpd.contains(&format!("id=\"{name}\"")), "{name} missing from the MPD");
    }

    let events = event_types(&app.pool, asset_id).await;
    assert!(in_order(&events, &["asset.uploaded", "asset.playable", "asset.ready"]), "{events:?}");
    assert_eq!(events.iter().filter(|e| *e == "asset.playable").count(), 1);
    assert_eq!(versions(&app.pool, asset_id).await, [(1, "published".to_owned())]);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_upload_is_published_as_version_1_on_local_storage(pool: PgPool) {
    let app = app(pool, None, Duration::from_secs(3600)).await;
    let (asset_id, token) = upload(&app, "teacher@example.com").await;
    check_published(&app, asset_id, &token).await;

    // The jobs API shows the probe and the transcode to the owner, and nothing to others.
    let jobs: Value = app.get_with(&format!("/v1/jobs?asset_id={asset_id}"), &token).await.json().await.expect("json");
    let jobs = jobs["jobs"].as_array().expect("jobs");
    let transcode = jobs.iter().find(|job| job["kind"] == "media.transcode").expect("a transcode job");
    assert_eq!(transcode["state"], "succeeded");
    assert_eq!(transcode["attempts"], 1);
    assert_eq!(transcode["max_attempts"], 5);
    assert_eq!(transcode["progress"], 1.0);
    for field in ["id", "created_at", "updated_at", "run_after", "finished_at"] {
        assert!(transcode[field].is_string(), "{field} in {transcode}");
    }
    assert!(jobs.iter().any(|job| job["kind"] == "media.probe"));
    let stranger = instructor(&app, "other@example.com").await;
    let response = app.get_with(&format!("/v1/jobs?asset_id={asset_id}"), &stranger).await;
    assert_eq!(response.status(), 404);
    let response = app.get_with("/v1/jobs", &token).await;
    assert_eq!(response.status(), 400);

    // Metrics name the transcode speed and the job outcomes.
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    for name in ["lectern_encode_speed_ratio", "lectern_job_duration_seconds", "lectern_jobs_finished"] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    assert!(metrics.contains("kind=\"media.transcode\""), "{metrics}");
    // And the API document lists the new routes.
    let document: Value =
        app.client.get(app.url("/openapi.json")).send().await.expect("doc").json().await.expect("json");
    assert!(document["paths"]["/v1/jobs"]["get"].is_object());
    assert!(document["paths"]["/v1/assets/{asset_id}/reprocess"]["post"].is_object());
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_upload_is_published_as_version_1_on_s3(pool: PgPool) {
    let storage = seaweed_settings().await;
    let app = app(pool, Some(storage.clone()), Duration::from_secs(3600)).await;
    let (asset_id, token) = upload(&app, "teacher@example.com").await;
    check_published(&app, asset_id, &token).await;
    drop(app);
    remove_bucket(&storage).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn reprocessing_keeps_the_old_version_until_the_new_one_is_published(pool: PgPool) {
    let app = app(pool, None, Duration::ZERO).await;
    let (asset_id, token) = upload(&app, "teacher@example.com").await;
    wait_for(&app.pool, asset_id, "v1", |status, version| status == "ready" && version == Some(1)).await;

    let stranger = instructor(&app, "other@example.com").await;
    let path = format!("/v1/assets/{asset_id}/reprocess");
    let send = |token: String, body: Value| {
        let request = app.client.post(app.url(&path)).bearer_auth(token).json(&body);
        async move { request.send().await.expect("request") }
    };
    assert_eq!(send(stranger, serde_json::json!({"preset": "fast"})).await.status(), 404);
    assert_eq!(send(token.clone(), serde_json::json!({"preset": "nope"})).await.status(), 422);
    let response = send(token.clone(), serde_json::json!({"preset": "fast"})).await;
    assert_eq!(response.status(), 202);
    let asset: Value = response.json().await.expect("json");
    assert_eq!(asset["status"], "ready");
    assert_eq!(asset["current_version"], 1, "the old version stays current");
    assert_eq!(asset["playable"], true);

    wait_for(&app.pool, asset_id, "v2", |status, version| status == "ready" && version == Some(2)).await;
    assert_eq!(versions(&app.pool, asset_id).await, [(1, "superseded".to_owned()), (2, "published".to_owned())]);
    assert!(!keys_under(&*app.storage, &format!("assets/{asset_id}/v2/")).await.is_empty());
    // With no grace, the superseded files go as soon as the deletion job runs.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !keys_under(&*app.storage, &format!("assets/{asset_id}/v1/")).await.is_empty() {
        assert!(Instant::now() < deadline, "v1 files were not deleted");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let events = event_types(&app.pool, asset_id).await;
    assert!(in_order(&events, &["asset.playable", "asset.ready", "asset.reprocessing", "asset.ready"]), "{events:?}");
    assert_eq!(events.iter().filter(|e| *e == "asset.playable").count(), 1);
}

/// Engine children of this test process (`lectern __engine`) with a file open under
/// `work_dir` (every test in this binary shares the process), by pid.
fn engine_children(work_dir: &Path) -> Vec<u32> {
    let me = std::process::id();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { continue };
        let parent = status.lines().find_map(|line| line.strip_prefix("PPid:")).map(str::trim);
        let zombie = status.lines().any(|line| line.starts_with("State:") && line.contains('Z'));
        if parent != Some(&me.to_string()) || zombie {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmdline).contains("__engine") {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { continue };
        if fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(work_dir))) {
            found.push(pid);
        }
    }
    found
}

/// Waits until the asset's first transcode attempt runs its engine child; returns the pid.
async fn transcode_child(pool: &PgPool, asset_id: Uuid, work_dir: &Path) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let transcoding = versions(pool, asset_id).await.iter().any(|(_, state)| state == "processing");
        if let Some(pid) = engine_children(work_dir).first().filter(|_| transcoding) {
            return *pid;
        }
        assert!(Instant::now() < deadline, "no transcode child appeared");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_failed_attempt_leaves_nothing_and_the_retry_publishes_a_new_version(pool: PgPool) {
    let work = tempfile::tempdir().expect("work dir");
    let app = app_in(pool, None, Duration::from_secs(3600), Some(work.path().to_path_buf())).await;
    let (asset_id, token) = upload(&app, "teacher@example.com").await;
    let pid = transcode_child(&app.pool, asset_id, work.path()).await;
    // Kill only our own child: the engine crashes mid-encode, an infrastructure failure.
    let killed = std::process::Command::new("kill").arg("-9").arg(pid.to_string()).status().expect("kill runs");
    assert!(killed.success());

    wait_for(&app.pool, asset_id, "v2", |status, version| status == "ready" && version == Some(2)).await;
    assert_eq!(versions(&app.pool, asset_id).await, [(1, "failed".to_owned()), (2, "published".to_owned())]);
    assert!(
        keys_under(&*app.storage, &format!("assets/{asset_id}/v1/")).await.is_empty(),
        "the failed version's files remain"
    );
    assert!(!keys_under(&*app.storage, &format!("assets/{asset_id}/v2/")).await.is_empty());
    let asset: Value = app.get_with(&format!("/v1/assets/{asset_id}"), &token).await.json().await.expect("json");
    assert_eq!(asset["current_version"], 2);
    let jobs: Value = app.get_with(&format!("/v1/jobs?asset_id={asset_id}"), &token).await.json().await.expect("json");
    let transcode =
        jobs["jobs"].as_array().expect("jobs").iter().find(|j| j["kind"] == "media.transcode").cloned().expect("job");
    assert_eq!(transcode["attempts"], 2);
    assert!(transcode["last_error"].is_null(), "success clears the error: {transcode}");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn deleting_an_asset_mid_transcode_cancels_the_job_and_kills_the_child(pool: PgPool) {
    let work = tempfile::tempdir().expect("work dir");
    let app = app_in(pool, None, Duration::from_secs(3600), Some(work.path().to_path_buf())).await;
    let (asset_id, token) = upload(&app, "teacher@example.com").await;
    let pid = transcode_child(&app.pool, asset_id, work.path()).await;
    let response =
        app.client.delete(app.url(&format!("/v1/assets/{asset_id}"))).bearer_auth(&token).send().await.expect("delete");
    assert_eq!(response.status(), 204);

    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(Instant::now() < deadline, "engine child {pid} still runs after the delete");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state: String =
        sqlx::query_scalar("select state from job where kind = 'media.transcode' and payload ->> 'asset_id' = $1")
            .bind(asset_id.to_string())
            .fetch_one(&app.pool)
            .await
            .expect("job");
    assert_eq!(state, "cancelled");
    // The attempt's version is failed, never published.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let states = versions(&app.pool, asset_id).await;
        if states.iter().all(|(_, state)| state == "failed") {
            break;
        }
        assert!(Instant::now() < deadline, "{states:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(engine_children(work.path()).is_empty());
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn claiming_prefers_the_owner_with_the_fewest_running_jobs(pool: PgPool) {
    use lectern::jobs::{EnqueueOptions, queue};
    let (busy, idle) = (Uuid::new_v4(), Uuid::new_v4());
    let kinds = vec!["test.fair".to_owned()];
    let lease = Duration::from_secs(60);
    let enqueue = |owner: Uuid, n: i32| {
        let pool = pool.clone();
        async move {
            let options = EnqueueOptions { owner_id: Some(owner), ..EnqueueOptions::default() };
            queue::enqueue(&pool, "test.fair", &serde_json::json!({"n": n}), options).await.expect("enqueue")
        }
    };
    for n in 0..3 {
        enqueue(busy, n).await;
    }
    // The busy owner's first job runs.
    let first = queue::claim(&pool, "w1", &kinds, lease).await.expect("claim").expect("a job");
    assert_eq!(first.payload["n"], 0);
    // A later job of another owner goes before the busy owner's older backlog.
    enqueue(idle, 100).await;
    let second = queue::claim(&pool, "w2", &kinds, lease).await.expect("claim").expect("a job");
    assert_eq!(second.payload["n"], 100);
    // Both owners now run one job each: the oldest waiting job goes next.
    let third = queue::claim(&pool, "w3", &kinds, lease).await.expect("claim").expect("a job");
    assert_eq!(third.payload["n"], 1);
}
