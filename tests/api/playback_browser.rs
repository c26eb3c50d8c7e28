//! A lesson plays end to end through a playback session: a learner with a grant gets a session,
//! and hls.js, dash.js and Shaka in Debian's Chromium play it through the session's signed
//! manifests (`/play/…`) and the local signed origin (`/cdn/…`), each forced onto every
//! rendition (`tests/players/play.mjs`); once on the local storage backend, once on SeaweedFS.
//!
//! Needs Chromium and the pinned npm packages (`scripts/install-players.sh`) and, for the S3
//! case, the shared SeaweedFS (`scripts/seaweedfs.sh start`).

use crate::helpers::playback::{grant, lesson, start_session, video_renditions};
use crate::helpers::players::{self, require_players};
use crate::helpers::storage::{remove_bucket, seaweed_settings};
use crate::helpers::{TestApp, TestOptions, spawn_app_with};
use serde_json::Value;
use sqlx::PgPool;

/// Runs `play.mjs` off the runtime's thread, so the app keeps serving while the browser plays.
async fn play(player: &'static str, url: String, renditions: usize) {
    tokio::task::spawn_blocking(move || players::play(player, &url, renditions)).await.expect("joined");
}

async fn learner_session(app: &TestApp) -> Value {
    let lesson = lesson(app).await;
    assert_eq!(grant(app, &lesson, lesson.learner_id).await.status(), 201);
    let response = start_session(app, lesson.asset_id, &lesson.learner, None).await;
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_granted_lesson_plays_in_hls_js_dash_js_and_shaka_through_signed_session_manifests(pool: PgPool) {
    require_players();
    let app = spawn_app_with(pool, TestOptions::default()).await;
    let session = learner_session(&app).await;
    let renditions = video_renditions().len();
    let hls = session["hls_url"].as_str().expect("url").to_owned();
    let dash = session["dash_url"].as_str().expect("url").to_owned();
    play("hls", hls.clone(), renditions).await;
    play("dash", dash.clone(), renditions).await;
    play("shaka", dash, renditions).await;
    play("shaka", hls, renditions).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_granted_lesson_plays_from_seaweedfs_through_the_signed_origin(pool: PgPool) {
    require_players();
    let storage = seaweed_settings().await;
    let options = TestOptions { storage: Some(storage.clone()), ..TestOptions::default() };
    let app = spawn_app_with(pool, options).await;
    let session = learner_session(&app).await;
    let renditions = video_renditions().len();
    play("hls", session["hls_url"].as_str().expect("url").to_owned(), renditions).await;
    play("dash", session["dash_url"].as_str().expect("url").to_owned(), renditions).await;
    remove_bucket(&storage).await;
}
