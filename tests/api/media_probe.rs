//! The `media.probe` job: every kind of upload of `tests/media/make-fixtures.sh` goes into
//! storage, `upload_completed` hands it to the workers, and the asset ends `processing` with
//! the right `source`, or `errored` with the refusal code the fixture expects. On both storage
//! backends, every fixture on each.

use std::time::Duration;

use crate::helpers::media::{
    AssetState, assert_probed_as_expected, asset_state, complete_upload, event_types, fixtures, new_asset,
    wait_until_not,
};
use crate::helpers::storage::{remove_bucket, seaweed_settings};
use crate::helpers::{TestApp, TestOptions, instructor, spawn_app_with, test_ingest_settings};
use serde_json::Value;
use sqlx::PgPool;

async fn app_on(pool: PgPool, storage: Option<lectern::storage::StorageSettings>, workers: usize) -> TestApp {
    spawn_app_with(pool, TestOptions { workers, storage, ..TestOptions::default() }).await
}

/// Uploads the named fixtures to new assets and waits for each probe to finish.
async fn probe_fixtures(app: &TestApp, names: &[&str]) -> Vec<(Value, AssetState, Vec<String>)> {
    let (dir, list) = fixtures();
    let token = instructor(app, "teacher@example.com").await;
    let mut started = Vec::new();
    for fixture in list.iter().filter(|f| names.is_empty() || names.contains(&f["name"].as_str().unwrap_or(""))) {
        let bytes = std::fs::read(dir.join(fixture["file"].as_str().expect("file"))).expect("fixture bytes");
        let asset_id = new_asset(app, &token).await;
        complete_upload(app, asset_id, bytes).await;
        started.push((fixture.clone(), asset_id));
    }
    assert!(!started.is_empty(), "no fixture matched {names:?}");
    let mut finished = Vec::new();
    for (fixture, asset_id) in started {
        let state = wait_until_not(&app.pool, asset_id, &["uploaded", "probing"]).await;
        let events = event_types(&app.pool, asset_id).await;
        finished.push((fixture, state, events));
    }
    finished
}

/// Checks each asset against its fixture's expectations.
fn check_outcomes(finished: &[(Value, AssetState, Vec<String>)]) {
    for (fixture, state, events) in finished {
        let name = fixture["name"].as_str().expect("name");
        let outcome = fixture["outcome"].as_str().expect("outcome");
        if outcome == "ok" {
            // The transcode that follows may already have finished.
            assert!(
                ["processing", "ready"].contains(&state.status.as_str()),
                "{name}: {} {:?} {:?}",
                state.status,
                state.error_code,
                state.error_message
            );
            let source = state.source.as_ref().unwrap_or_else(|| panic!("{name}: no source"));
            let expect = &fixture["expect"];
            if assert_probed_as_expected(name, source, expect) {
                assert_eq!(source["video"][0]["codec"], expect["video_codec"], "{name}");
            }
            assert_eq!(
                events[..4.min(events.len())],
                ["asset.created", "asset.uploaded", "asset.probing", "asset.probed"],
                "{name}"
            );
        } else {
            assert_eq!(state.status, "errored", "{name} should be refused");
            assert_eq!(state.error_code.as_deref(), Some(outcome), "{name}: {:?}", state.error_message);
            assert!(state.source.is_none(), "{name}: a refused file has no source");
            assert_eq!(events.last().map(String::as_str), Some("asset.errored"), "{name}");
        }
    }
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn every_fixture_probes_to_its_expected_outcome_on_local_storage(pool: PgPool) {
    let app = app_on(pool, None, 2).await;
    let finished = probe_fixtures(&app, &[]).await;
    assert_eq!(finished.len(), fixtures().1.len());
    check_outcomes(&finished);
    // Accepted files go on to transcoding, once each.
    let accepted = finished.iter().filter(|(f, ..)| f["outcome"] == "ok").count() as i64;
    let transcodes: i64 = sqlx::query_scalar("select count(*) from job where kind = 'media.transcode'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(transcodes, accepted);
    // Refusals are not retried: the probe jobs all succeeded.
    let unfinished: i64 =
        sqlx::query_scalar("select count(*) from job where kind = 'media.probe' and state <> 'succeeded'")
            .fetch_one(&app.pool)
            .await
            .expect("count");
    assert_eq!(unfinished, 0);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn every_fixture_probes_the_same_on_s3(pool: PgPool) {
    let storage = seaweed_settings().await;
    let app = app_on(pool, Some(storage.clone()), 2).await;
    let finished = probe_fixtures(&app, &[]).await;
    assert_eq!(finished.len(), fixtures().1.len());
    check_outcomes(&finished);
    drop(app);
    remove_bucket(&storage).await;
}

/// Probes `bytes` in an app whose limits `tighten` changed, and returns the asset's state.
async fn probe_with_limits(
    pool: PgPool,
    tighten: impl FnOnce(&mut pipelines::limits::Limits),
    bytes: Vec<u8>,
) -> AssetState {
    let mut ingest = test_ingest_settings();
    tighten(&mut ingest.limits);
    let app = spawn_app_with(pool, TestOptions { workers: 1, ingest: Some(ingest), ..TestOptions::default() }).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    complete_upload(&app, asset_id, bytes).await;
    wait_until_not(&app.pool, asset_id, &["uploaded", "probing"]).await
}

fn landscape() -> Vec<u8> {
    std::fs::read(fixtures().0.join("landscape_1080p30.mp4")).expect("fixture bytes")
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_file_longer_than_the_limit_is_refused_as_duration_too_long(pool: PgPool) {
    let state = probe_with_limits(pool, |limits| limits.max_duration_seconds = 1.0, landscape()).await;
    assert_eq!(state.error_code.as_deref(), Some("duration_too_long"), "{:?}", state.error_message);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_picture_larger_than_the_limit_is_refused_as_resolution_too_large(pool: PgPool) {
    let state = probe_with_limits(pool, |limits| limits.max_pixels = 640 * 360, landscape()).await;
    assert_eq!(state.error_code.as_deref(), Some("resolution_too_large"), "{:?}", state.error_message);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_file_larger_than_the_limit_is_refused_before_probing(pool: PgPool) {
    let state = probe_with_limits(pool, |limits| limits.max_file_bytes = 1024, vec![0u8; 4096]).await;
    assert_eq!(state.status, "errored");
    assert_eq!(state.error_code.as_deref(), Some("file_too_large"), "{:?}", state.error_message);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_owner_sees_the_probed_source_through_the_api(pool: PgPool) {
    let app = app_on(pool, None, 1).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    let (dir, _) = fixtures();
    complete_upload(&app, asset_id, std::fs::read(dir.join("two_languages.mkv")).expect("bytes")).await;
    wait_until_not(&app.pool, asset_id, &["uploaded", "probing"]).await;
    let response = app.get_with(&format!("/v1/assets/{asset_id}"), &token).await;
    assert_eq!(response.status(), 200);
    let view: Value = response.json().await.expect("json");
    assert!(view["status"] == "processing" || view["status"] == "ready", "{view}");
    assert!(view["source"]["container"].as_str().is_some_and(|c| c.contains("matroska")), "{view}");
    let streams = view["source"]["streams"].as_array().expect("streams");
    let languages: Vec<&str> =
        streams.iter().filter(|s| s["kind"] == "audio").filter_map(|s| s["language"].as_str()).collect();
    assert_eq!(languages, ["eng", "rus"], "{view}");
    let stranger = instructor(&app, "stranger@example.com").await;
    assert_eq!(app.get_with(&format!("/v1/assets/{asset_id}"), &stranger).await.status(), 404);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_crashing_engine_is_retried_and_then_errors_the_asset(pool: PgPool) {
    // `false` exits 1 without a word: what a crashed engine child looks like to the runner.
    let mut ingest = test_ingest_settings();
    ingest.engine_program = Some("/bin/false".into());
    let app = spawn_app_with(pool, TestOptions { workers: 1, ingest: Some(ingest), ..TestOptions::default() }).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    complete_upload(&app, asset_id, vec![1u8; 100]).await;
    // Let the first attempt fail, then make the retry due at once and the final one.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let attempts: Option<i32> = sqlx::query_scalar(
            "select attempts from job where kind = 'media.probe' and state = 'queued' and attempts > 0",
        )
        .fetch_optional(&app.pool)
        .await
        .expect("job");
        if attempts.is_some() {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the probe was never retried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(asset_state(&app.pool, asset_id).await.status, "probing", "an infrastructure failure is retried");
    sqlx::query("update job set run_after = now(), max_attempts = attempts + 1 where kind = 'media.probe'")
        .execute(&app.pool)
        .await
        .expect("update");
    let state = wait_until_not(&app.pool, asset_id, &["uploaded", "probing"]).await;
    assert_eq!(state.status, "errored");
    assert_eq!(state.error_code.as_deref(), Some("probe_failed"));
}
