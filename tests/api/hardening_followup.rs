//! What issue 18 still found on a busy day after its first round, each kept fixed: quick jobs
//! waiting behind long transcodes, a reprocess folded into a running transcode (and its preset
//! lost), presigned local PUTs without the upload bounds tus has, and a NUL character in a form
//! body answered 500. (Webhook secrets at rest are `webhook_secrets`.)

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::media::fixtures;
use crate::helpers::processing::{lecture_clip, start_processing, wait_for_asset};
use crate::helpers::{MIB, TestApp, TestOptions, generated_bytes, instructor, spawn_app_with, test_ingest_settings};

/// When the asset's latest job of `kind` finished, if it did.
async fn finished_at(pool: &PgPool, asset_id: Uuid, kind: &str) -> Option<time::OffsetDateTime> {
    sqlx::query_scalar(
        "select finished_at from job where kind = $1 and payload ->> 'asset_id' = $2 order by created_at desc limit 1",
    )
    .bind(kind)
    .bind(asset_id.to_string())
    .fetch_optional(pool)
    .await
    .expect("jobs")
    .flatten()
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_new_uploads_probe_and_preview_run_while_every_general_worker_transcodes(pool: PgPool) {
    // One general worker, and the default worker reserved for quick kinds.
    let ingest = lectern::media::IngestSettings { fast_start: true, ..test_ingest_settings() };
    let app =
        spawn_app_with(pool.clone(), TestOptions { workers: 1, ingest: Some(ingest), ..TestOptions::default() }).await;
    let token = instructor(&app, "teacher@example.com").await;
    // A long ladder (the course preset's four rungs from a 20 s 720p clip) holds the general worker.
    let long = start_processing(&app, &token, lecture_clip(), "course").await;
    wait_for_asset(&pool, long, "the ladder encoding", Duration::from_secs(120), |_, _, progress| {
        progress.is_some_and(|p| p > 0.0)
    })
    .await;

    // A new upload meanwhile: its probe is claimed while the ladder still runs (with no worker
    // reserved for quick kinds it would wait in the queue until the ladder is done).
    let started = Instant::now();
    let quick = start_processing(&app, &token, &fixtures().0.join("moov_at_end.mp4"), "fast").await;
    loop {
        let (probe, ladder): (Option<String>, Option<String>) = sqlx::query_as(
            "select (select state from job where kind = 'media.probe' and payload ->> 'asset_id' = $1),
                    (select state from job where kind = 'media.transcode' and payload ->> 'asset_id' = $2)",
        )
        .bind(quick.to_string())
        .bind(long.to_string())
        .fetch_one(&pool)
        .await
        .expect("job states");
        assert_eq!(ladder.as_deref(), Some("running"), "the ladder ended before the new upload's probe was claimed");
        if probe.as_deref().is_some_and(|state| state != "queued") {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "the probe was not claimed: {probe:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // And it becomes playable from its fast first package, made on the quick worker too.
    wait_for_asset(&pool, quick, "the fast first package", Duration::from_secs(120), |_, version, _| version.is_some())
        .await;
    assert!(finished_at(&pool, quick, "media.preview").await.is_some());
    // The new upload's own ladder is a long job: it waits for the general worker.
    let states: Vec<(String, String)> = sqlx::query_as(
        "select payload ->> 'asset_id', state from job where kind = 'media.transcode' order by created_at",
    )
    .fetch_all(&pool)
    .await
    .expect("transcodes");
    if states[0].1 == "running" {
        assert_eq!(states[1], (quick.to_string(), "queued".to_owned()), "a long job never runs on the quick worker");
    }
}

async fn reprocess(app: &TestApp, token: &str, asset_id: Uuid, preset: &str) {
    let response = app
        .client
        .post(app.url(&format!("/v1/assets/{asset_id}/reprocess")))
        .bearer_auth(token)
        .json(&json!({"preset": preset}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202, "reprocess with {preset}");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_newest_reprocess_wins_over_a_transcode_already_running(pool: PgPool) {
    let app = spawn_app_with(pool.clone(), TestOptions { workers: 1, ..TestOptions::default() }).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = start_processing(&app, &token, lecture_clip(), "fast").await;
    wait_for_asset(&pool, asset_id, "version 1", Duration::from_secs(180), |status, version, _| {
        status == "ready" && version == Some(1)
    })
    .await;

    // A reprocess with `course` is encoding when the owner asks for `fast` again.
    reprocess(&app, &token, asset_id, "course").await;
    wait_for_asset(&pool, asset_id, "the course encoding", Duration::from_secs(120), |_, _, progress| {
        progress.is_some_and(|p| p > 0.0)
    })
    .await;
    reprocess(&app, &token, asset_id, "fast").await;
    wait_for_asset(&pool, asset_id, "a newer version", Duration::from_secs(240), |status, version, _| {
        status == "ready" && version.is_some_and(|v| v > 1)
    })
    .await;

    let versions: Vec<(i32, String, String)> =
        sqlx::query_as("select version, preset, state from asset_version where asset_id = $1 order by version")
            .bind(asset_id)
            .fetch_all(&pool)
            .await
            .expect("versions");
    let (current, preset): (i32, String) =
        sqlx::query_as("select a.current_version, v.preset from asset a join asset_version v on v.asset_id = a.asset_id and v.version = a.current_version where a.asset_id = $1")
            .bind(asset_id)
            .fetch_one(&pool)
            .await
            .expect("the current version");
    assert_eq!(preset, "fast", "the published version is the newest request's: {versions:?}");
    assert!(
        !versions
            .iter()
            .any(|(_, preset, state)| preset == "course" && (state == "published" || state == "superseded")),
        "the superseded request's package was never published: {versions:?}"
    );
    assert!(versions.iter().any(|(version, _, _)| *version == current));
    let cancelled: Vec<(String, Option<String>)> = sqlx::query_as(
        "select state, last_error from job where kind = 'media.transcode' and payload ->> 'asset_id' = $1
         and state = 'cancelled'",
    )
    .bind(asset_id.to_string())
    .fetch_all(&pool)
    .await
    .expect("jobs");
    assert_eq!(cancelled.len(), 1, "the running transcode was cancelled: {cancelled:?}");
    assert!(cancelled[0].1.as_deref().is_some_and(|error| error.contains("newer reprocess")), "{cancelled:?}");
    // Nothing is left encoding, and the asset says nothing about the cancelled work.
    let (progress,): (Option<f32>,) = sqlx::query_as("select progress from asset where asset_id = $1")
        .bind(asset_id)
        .fetch_one(&pool)
        .await
        .expect("asset");
    assert_eq!(progress, None);
}

/// Presigned URLs for parts 1 and 2 of a new direct multipart upload of the holder of `token`.
async fn part_urls(app: &TestApp, token: &str) -> Vec<String> {
    let asset_id = crate::helpers::media::new_asset(app, token).await;
    let post = |path: String, body: Value| {
        let request = app.client.post(app.url(&path)).bearer_auth(token).json(&body);
        async move { request.send().await.expect("request") }
    };
    let started: Value =
        post(format!("/v1/assets/{asset_id}/multipart"), json!({"size": 10 * MIB})).await.json().await.expect("json");
    let upload_id = started["upload_id"].as_str().expect("id");
    let parts: Value =
        post(format!("/v1/assets/{asset_id}/multipart/parts"), json!({"upload_id": upload_id, "part_numbers": [1, 2]}))
            .await
            .json()
            .await
            .expect("json");
    parts["parts"].as_array().expect("parts").iter().map(|part| part["url"].as_str().expect("url").to_owned()).collect()
}

/// A PUT that sends one byte of a declared megabyte and then nothing, until its client gives up
/// (the sender is dropped).
fn stalled_put(
    app: &TestApp,
    url: &str,
) -> (tokio::task::JoinHandle<reqwest::Response>, tokio::sync::oneshot::Sender<()>) {
    use futures::StreamExt;
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let head = futures::stream::once(async { Ok::<_, std::io::Error>(vec![0u8; 1]) });
    let tail = futures::stream::once(async move {
        let _ = released.await;
        Err::<Vec<u8>, _>(std::io::Error::other("the client gave up"))
    });
    let request = app
        .client
        .put(url)
        .header("Content-Length", MIB.to_string())
        .body(reqwest::Body::wrap_stream(head.chain(tail)));
    (tokio::spawn(async move { request.send().await.expect("an answer before the body ends") }), release)
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.expect("a JSON error");
    (status, body["error"]["code"].as_str().expect("a code").to_owned())
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn presigned_local_puts_take_upload_slots_and_end_when_they_stall(pool: PgPool) {
    let mut ingest = test_ingest_settings();
    ingest.multipart_part_size = 5 * MIB as u64;
    let uploads = lectern::media::UploadSettings {
        body_idle_timeout: Duration::from_secs(3),
        max_concurrent: 2,
        max_concurrent_per_account: 1,
        ..lectern::media::UploadSettings::default()
    };
    let options = TestOptions { ingest: Some(ingest), uploads: Some(uploads), ..TestOptions::default() };
    let app = spawn_app_with(pool, options).await;
    let first = instructor(&app, "first@example.com").await;
    let second = instructor(&app, "second@example.com").await;
    let third = instructor(&app, "third@example.com").await;
    let first_urls = part_urls(&app, &first).await;
    let second_urls = part_urls(&app, &second).await;
    let third_urls = part_urls(&app, &third).await;

    // Two stalled parts hold both slots of the server, one of each account's.
    let stalled_first = stalled_put(&app, &first_urls[0]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stalled_second = stalled_put(&app, &second_urls[0]);
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (url, why) in [(&first_urls[1], "per account"), (&third_urls[0], "in total")] {
        let response = app.client.put(url).body(generated_bytes(1, 1024)).send().await.expect("PUT");
        assert!(response.headers().contains_key("retry-after"), "{why}");
        assert_eq!(error_of(response).await, (429, "too_many_uploads".to_owned()), "{why}");
    }

    // Stalled bodies end by themselves after the idle timeout, storing nothing.
    for (answer, _release) in [stalled_first, stalled_second] {
        let response = tokio::time::timeout(Duration::from_secs(20), answer)
            .await
            .expect("the server ends a stalled PUT itself")
            .expect("task");
        assert_eq!(error_of(response).await, (400, "body_read_failed".to_owned()));
    }
    // Their slots are back, and the URL of a part that was not stored is good for another try.
    let response = app.client.put(&first_urls[1]).body(generated_bytes(2, 1024)).send().await.expect("PUT");
    assert_eq!(response.status(), 200);
    let response = app.client.put(&first_urls[0]).body(generated_bytes(3, 5 * MIB)).send().await.expect("PUT");
    assert_eq!(response.status(), 200);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_nul_character_in_a_form_body_is_refused_with_422(pool: PgPool) {
    let app = crate::helpers::spawn_app(pool).await;
    let response = app
        .client
        .post(app.url("/lti/login"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("iss=i%00x&login_hint=1&target_link_uri=https%3A%2F%2Fexample.com&client_id=c")
        .send()
        .await
        .expect("request");
    assert_eq!(error_of(response).await, (422, "invalid_text".to_owned()));
}
