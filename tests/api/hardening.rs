//! What a hostile client and a busy day found (issue 18), each kept fixed: label cardinality of
//! the request metrics, stalled uploads, NUL characters, API-key scopes on ending a session,
//! presigned part limits, empty tus uploads, the framework's own rejections, probing by status,
//! and over-long request ids.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::media::{asset_state, new_asset};
use crate::helpers::playback::{grant, lesson, start_session};
use crate::helpers::storage::Backend;
use crate::helpers::uploads::{b64, media_app, test_uploads, tus_head, tus_upload_url};
use crate::helpers::{
    MIB, TestApp, TestOptions, api_key, generated_bytes, instructor, spawn_app, spawn_app_with, test_ingest_settings,
};

/// The error body every refusal must have; returns `(status, code)`.
async fn json_error(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let content_type = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let text = response.text().await.expect("body");
    assert!(content_type.starts_with("application/json"), "{status} {content_type}: {text}");
    let body: Value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"));
    let code = body["error"]["code"].as_str().unwrap_or_else(|| panic!("no code: {text}")).to_owned();
    assert!(body["error"]["message"].is_string(), "no message: {text}");
    (status, code)
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn made_up_http_methods_share_one_metrics_label(pool: PgPool) {
    let app = spawn_app(pool).await;
    for index in 0..20 {
        let name = format!("X{index}{}", "A".repeat(2_000));
        let method = reqwest::Method::from_bytes(name.as_bytes()).expect("a token is a valid method");
        let response = app.client.request(method, app.url("/v1/assets")).send().await.expect("request");
        assert!(response.status().is_client_error());
    }
    let metrics = app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(!metrics.contains("AAAAAAAA"), "a request's method became a label");
    assert!(metrics.contains(r#"method="other""#), "{metrics}");
    assert!(metrics.len() < 200_000, "/metrics grew to {} bytes", metrics.len());
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn nul_characters_in_any_text_are_refused_with_422(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let post = |path: &'static str, body: Value| {
        let request = app.client.post(app.url(path)).bearer_auth(&token).json(&body);
        async move { request.send().await.expect("request") }
    };
    for body in [
        json!({"title": "a\u{0}b"}),
        json!({"title": "ok", "description": "a\u{0}b"}),
        json!({"title": "ok", "passthrough": "a\u{0}b"}),
    ] {
        assert_eq!(json_error(post("/v1/assets", body).await).await, (422, "invalid_text".to_owned()));
    }
    let response = post("/v1/api-keys", json!({"name": "a\u{0}b", "scopes": ["assets:read"]})).await;
    assert_eq!(json_error(response).await, (422, "invalid_text".to_owned()));
    let response = post("/v1/webhooks", json!({"url": "https://example.com/hook", "description": "a\u{0}b"})).await;
    assert_eq!(json_error(response).await, (422, "invalid_text".to_owned()));

    let asset_id = new_asset(&app, &token).await;
    for body in [json!({"title": "a\u{0}b"}), json!({"description": "a\u{0}b"}), json!({"passthrough": "\u{0}"})] {
        let response = app
            .client
            .patch(app.url(&format!("/v1/assets/{asset_id}")))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await
            .expect("request");
        assert_eq!(json_error(response).await, (422, "invalid_text".to_owned()), "{body}");
    }
    // A query string, percent-encoded.
    let response = app.get_with("/v1/assets?status=ready%00", &token).await;
    assert_eq!(json_error(response).await, (422, "invalid_text".to_owned()));
    // A tus metadata value (base64 of "a\0b").
    let response = app
        .client
        .post(app.url("/v1/uploads/tus"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .header("Upload-Metadata", format!("asset_id {},filename YQBi", b64(&asset_id.to_string())))
        .send()
        .await
        .expect("request");
    assert_eq!(json_error(response).await, (422, "invalid_text".to_owned()));
    // The text "\u0000" (an escaped backslash) is not a NUL and is stored as it is.
    let response = post("/v1/assets", json!({"title": "C:\\u0000"})).await;
    assert_eq!(response.status(), 201);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn ending_a_playback_session_needs_a_key_that_may_write(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lesson = lesson(&app).await;
    let response = start_session(&app, lesson.asset_id, &lesson.owner, None).await;
    assert_eq!(response.status(), 201);
    let session: Value = response.json().await.expect("json");
    let session_id = session["session_id"].as_str().expect("id").to_owned();
    let delete = |key: String| {
        let request = app.client.delete(app.url(&format!("/v1/playback/{session_id}"))).bearer_auth(key);
        async move { request.send().await.expect("request") }
    };
    for scopes in [&["assets:read"][..], &["webhooks:read"], &["courses:write"]] {
        let key = api_key(&app, &lesson.owner, scopes).await;
        assert_eq!(json_error(delete(key).await).await, (403, "insufficient_scope".to_owned()), "{scopes:?}");
    }
    let hls = session["hls_url"].as_str().expect("hls url");
    assert_eq!(app.client.get(hls).send().await.expect("manifest").status(), 200, "still playing");
    let key = api_key(&app, &lesson.owner, &["playback:create"]).await;
    assert_eq!(delete(key).await.status(), 204);
    assert_ne!(app.client.get(hls).send().await.expect("manifest").status(), 200, "ended");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_private_asset_and_an_unknown_one_are_refused_alike(pool: PgPool) {
    let app = spawn_app(pool).await;
    let lesson = lesson(&app).await;
    let private = start_session(&app, lesson.asset_id, &lesson.learner, None).await;
    let unknown = start_session(&app, uuid::Uuid::new_v4(), &lesson.learner, None).await;
    assert_eq!(private.status(), unknown.status());
    assert_eq!(private.text().await.expect("body"), unknown.text().await.expect("body"));
    // A key without playback:create learns nothing about existence either.
    let reader = api_key(&app, &lesson.owner, &["assets:read"]).await;
    let known = start_session(&app, lesson.asset_id, &reader, None).await;
    let unknown = start_session(&app, uuid::Uuid::new_v4(), &reader, None).await;
    assert_eq!(known.status(), unknown.status());
    assert_eq!(known.text().await.expect("body"), unknown.text().await.expect("body"));
    // With a grant the learner plays.
    assert_eq!(grant(&app, &lesson, lesson.learner_id).await.status(), 201);
    assert_eq!(start_session(&app, lesson.asset_id, &lesson.learner, None).await.status(), 201);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_over_long_or_odd_request_id_is_replaced_and_a_fair_one_echoed(pool: PgPool) {
    let app = spawn_app(pool).await;
    let echoed = |id: String| {
        let request = app.client.get(app.url("/healthz")).header("x-request-id", id);
        async move {
            let response = request.send().await.expect("request");
            response.headers()["x-request-id"].to_str().expect("ascii").to_owned()
        }
    };
    assert_eq!(echoed("trace-1234".to_owned()).await, "trace-1234");
    let long = "x".repeat(10_000);
    let answered = echoed(long).await;
    assert!(answered.len() <= 128 && uuid::Uuid::parse_str(&answered).is_ok(), "{answered}");
    let spaced = echoed("a b".to_owned()).await;
    assert!(uuid::Uuid::parse_str(&spaced).is_ok(), "{spaced}");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_frameworks_own_rejections_use_the_error_body(pool: PgPool) {
    let app = spawn_app(pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let response = app.client.put(app.url("/storage/uploads/x/4294967296")).body("x").send().await.expect("request");
    assert_eq!(json_error(response).await, (400, "invalid_path".to_owned()));
    let response = app.get_with("/v1/assets?limit=99999999999999999999", &token).await;
    assert_eq!(json_error(response).await, (400, "invalid_query".to_owned()));
    let response = app
        .client
        .post(app.url("/v1/assets"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .expect("request");
    assert_eq!(json_error(response).await.0, 422);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_empty_file_sent_with_only_the_creation_completes_the_upload(pool: PgPool) {
    let app = media_app(pool, Backend::Local, test_uploads()).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    let url = tus_upload_url(&app, &token, &asset_id.to_string(), 0).await;
    let head = tus_head(&app, &token, &url).await;
    assert_eq!(head.headers()["upload-offset"], "0");
    let state = asset_state(&app.pool, asset_id).await;
    assert_eq!(state.status, "uploaded", "{state:?}");
    assert_eq!(state.source_size, Some(0));
}

/// A presigned part URL that the test may use: `(url, part_size)`.
async fn presigned_part(app: &TestApp, token: &str, asset_id: uuid::Uuid) -> (String, u64) {
    let post = |path: String, body: Value| {
        let request = app.client.post(app.url(&path)).bearer_auth(token).json(&body);
        async move { request.send().await.expect("request") }
    };
    let started = post(format!("/v1/assets/{asset_id}/multipart"), json!({"size": 20 * MIB})).await;
    assert_eq!(started.status(), 201);
    let started: Value = started.json().await.expect("json");
    let upload_id = started["upload_id"].as_str().expect("id");
    let part_size = started["part_size"].as_u64().expect("size");
    let parts =
        post(format!("/v1/assets/{asset_id}/multipart/parts"), json!({"upload_id": upload_id, "part_numbers": [1]}))
            .await;
    assert_eq!(parts.status(), 200);
    let parts: Value = parts.json().await.expect("json");
    (parts["parts"][0]["url"].as_str().expect("url").to_owned(), part_size)
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_presigned_local_part_takes_at_most_its_size_and_only_once(pool: PgPool) {
    let mut ingest = test_ingest_settings();
    ingest.multipart_part_size = 5 * MIB as u64;
    let app = spawn_app_with(pool, TestOptions { ingest: Some(ingest), ..TestOptions::default() }).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    let (url, part_size) = presigned_part(&app, &token, asset_id).await;
    assert_eq!(part_size, 5 * MIB as u64);
    let too_large = generated_bytes(1, part_size as usize + 1);
    // Declared too large: refused before a byte is read.
    let response = app.client.put(&url).body(too_large.clone()).send().await.expect("PUT");
    assert_eq!(json_error(response).await, (413, "part_too_large".to_owned()));
    // Sent chunked without a length: cut off at the limit.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = too_large.chunks(64 * 1024).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let response = app.client.put(&url).body(body).send().await.expect("PUT");
    assert_eq!(json_error(response).await, (413, "part_too_large".to_owned()));
    // The URL was not used up by refused bodies; it takes one part of the right size.
    let response = app.client.put(&url).body(generated_bytes(2, part_size as usize)).send().await.expect("PUT");
    assert_eq!(response.status(), 200);
    let response = app.client.put(&url).body(b"again".to_vec()).send().await.expect("PUT");
    assert_eq!(json_error(response).await, (403, "signature_used".to_owned()));
}

/// A tus PATCH that sends `first` bytes of `declared` and then nothing, until `release` is sent
/// (or dropped).
fn stalled_patch(
    app: &TestApp,
    token: &str,
    url: &str,
    declared: u64,
    first: usize,
) -> (tokio::task::JoinHandle<reqwest::Response>, tokio::sync::oneshot::Sender<()>) {
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let head = futures::stream::once(async move { Ok::<_, std::io::Error>(vec![0u8; first]) });
    let tail = futures::stream::once(async move {
        let _ = released.await;
        Err::<Vec<u8>, _>(std::io::Error::other("the client gave up"))
    });
    let request = app
        .client
        .patch(url)
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Content-Length", declared.to_string())
        .body(reqwest::Body::wrap_stream(head.chain(tail)));
    (tokio::spawn(async move { request.send().await.expect("an answer before the body ends") }), release)
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_stalled_upload_is_ended_after_the_idle_timeout_and_keeps_what_arrived(pool: PgPool) {
    let uploads = lectern::media::UploadSettings { body_idle_timeout: Duration::from_secs(1), ..test_uploads() };
    let app = media_app(pool, Backend::Local, uploads).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    let url = tus_upload_url(&app, &token, &asset_id.to_string(), 100).await;
    let (answer, _release) = stalled_patch(&app, &token, &url, 100, 1);
    let response = tokio::time::timeout(Duration::from_secs(15), answer)
        .await
        .expect("the server ends a stalled upload itself")
        .expect("task");
    assert_eq!(json_error(response).await.0, 400);
    let head = tus_head(&app, &token, &url).await;
    assert_eq!(head.headers()["upload-offset"], "1", "the byte that arrived is kept");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn uploads_sending_at_once_are_bounded_per_account_and_in_total(pool: PgPool) {
    let uploads = lectern::media::UploadSettings { max_concurrent: 3, max_concurrent_per_account: 2, ..test_uploads() };
    let app = media_app(pool, Backend::Local, uploads).await;
    let first = instructor(&app, "first@example.com").await;
    let second = instructor(&app, "second@example.com").await;
    let mut held = Vec::new();
    for token in [&first, &first, &second] {
        let asset_id = new_asset(&app, token).await;
        let url = tus_upload_url(&app, token, &asset_id.to_string(), 100).await;
        held.push(stalled_patch(&app, token, &url, 100, 1));
    }
    // Let the three requests reach the server and take their slots.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for (token, why) in [(&first, "per account"), (&second, "in total")] {
        let asset_id = new_asset(&app, token).await;
        let url = tus_upload_url(&app, token, &asset_id.to_string(), 5).await;
        let response = crate::helpers::uploads::tus_patch(&app, token, &url, 0, b"hello".to_vec()).await;
        assert!(response.headers().contains_key("retry-after"), "{why}");
        assert_eq!(json_error(response).await, (429, "too_many_uploads".to_owned()), "{why}");
    }
    // Ending the stalled requests gives their slots back.
    for (answer, release) in held {
        drop(release);
        let _ = answer.await;
    }
    let asset_id = new_asset(&app, &first).await;
    let url = tus_upload_url(&app, &first, &asset_id.to_string(), 5).await;
    let response = crate::helpers::uploads::tus_patch(&app, &first, &url, 0, b"hello".to_vec()).await;
    assert_eq!(response.status(), 204);
}
