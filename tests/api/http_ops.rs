//! The operational surface every deployment relies on: health, readiness, metrics, OpenAPI,
//! error format, request ids and CORS.

use crate::helpers::{TestOptions, spawn_app, spawn_app_with};
use serde_json::Value;
use sqlx::PgPool;

#[sqlx::test]
async fn healthz_answers_ok(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.client.get(app.url("/healthz")).send().await.expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
}

#[sqlx::test]
async fn readyz_reports_database_and_storage_separately(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.client.get(app.url("/readyz")).send().await.expect("request");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["checks"]["database"]["status"], "ok");
    assert_eq!(body["checks"]["storage"]["status"], "ok");
    assert_eq!(body["checks"]["storage"]["backend"], "local");
}

#[sqlx::test]
async fn readyz_is_503_and_names_the_database_when_it_is_gone(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    pool.close().await;
    let response = app.client.get(app.url("/readyz")).send().await.expect("request");
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["database"]["status"], "error");
    assert!(body["checks"]["database"]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(body["checks"]["storage"]["status"], "ok");
}

#[sqlx::test]
async fn an_unknown_route_is_a_json_404_with_a_stable_code(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.client.get(app.url("/no/such/thing")).send().await.expect("request");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "not_found");
    assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[sqlx::test]
async fn a_wrong_method_is_a_json_405(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.client.delete(app.url("/healthz")).send().await.expect("request");
    assert_eq!(response.status(), 405);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[sqlx::test]
async fn every_response_carries_a_request_id_and_a_given_one_is_kept(pool: PgPool) {
    let app = spawn_app(pool).await;
    let generated = app.client.get(app.url("/healthz")).send().await.expect("request");
    let id = generated.headers().get("x-request-id").expect("request id").to_str().expect("ascii");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let kept =
        app.client.get(app.url("/healthz")).header("x-request-id", "trace-me-123").send().await.expect("request");
    assert_eq!(kept.headers().get("x-request-id").expect("request id"), "trace-me-123");
}

#[sqlx::test]
async fn metrics_count_requests_by_route_template_in_prometheus_text(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.client.get(app.url("/healthz")).send().await.expect("request");
    app.client.get(app.url("/nothing/here")).send().await.expect("request");
    let response = app.client.get(app.url("/metrics")).send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain"));
    let text = response.text().await.expect("text");
    assert!(text.contains(r#"lectern_http_requests_total{method="GET",route="/healthz",status="200"} 1"#), "{text}");
    assert!(text.contains(r#"route="unmatched",status="404""#), "{text}");
    assert!(text.contains("lectern_http_request_duration_seconds_bucket"), "{text}");
}

#[sqlx::test]
async fn metrics_report_queue_depth_per_kind(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    lectern::jobs::queue::enqueue(
        &pool,
        "storage.delete_prefix",
        &serde_json::json!({"prefix": "x/"}),
        Default::default(),
    )
    .await
    .expect("enqueue");
    let text = app.client.get(app.url("/metrics")).send().await.expect("request").text().await.expect("text");
    assert!(text.contains(r#"lectern_queue_depth{kind="storage.delete_prefix"} 1"#), "{text}");
}

#[sqlx::test]
async fn the_openapi_document_is_3_1_and_lists_every_route(pool: PgPool) {
    let app = spawn_app(pool).await;
    let document: Value =
        app.client.get(app.url("/openapi.json")).send().await.expect("request").json().await.expect("json");
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().expect("paths");
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/openapi.json",
        "/storage/objects/{key}",
        "/storage/uploads/{upload_id}/{part_number}",
    ] {
        assert!(paths.contains_key(path), "{path} missing from {paths:?}");
    }
    // Every documented GET answers (none is a 404 or 405 from the fallbacks).
    for (path, item) in paths {
        if item.get("get").is_some() && !path.contains('{') {
            let status = app.client.get(app.url(path)).send().await.expect("request").status();
            assert!(status != 404 && status != 405, "{path} answered {status}");
        }
    }
}

#[sqlx::test]
async fn cors_is_off_by_default(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("origin", "https://learn.example.com")
        .send()
        .await
        .expect("request");
    assert!(response.headers().get("access-control-allow-origin").is_none());
}

#[sqlx::test]
async fn configured_cors_origins_are_allowed_and_others_are_not(pool: PgPool) {
    let options = TestOptions { cors_origins: vec!["https://learn.example.com".to_owned()], ..TestOptions::default() };
    let app = spawn_app_with(pool, options).await;
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/healthz"))
        .header("origin", "https://learn.example.com")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .expect("request");
    assert_eq!(preflight.headers()["access-control-allow-origin"], "https://learn.example.com");
    let other =
        app.client.get(app.url("/healthz")).header("origin", "https://evil.example.net").send().await.expect("request");
    assert!(other.headers().get("access-control-allow-origin").is_none());
}

#[sqlx::test]
async fn json_is_compressed_for_clients_that_accept_gzip(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response =
        app.client.get(app.url("/openapi.json")).header("accept-encoding", "gzip").send().await.expect("request");
    assert_eq!(response.headers().get("content-encoding").map(|v| v.to_str().expect("ascii")), Some("gzip"));
}
