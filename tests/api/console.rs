//! The web console as `lectern serve` serves it (the built `web/dist`, read from disk by debug
//! builds), and the first-run setup that its first page drives. The browser flows are in
//! `console_browser.rs`.

use reqwest::header;
use serde_json::json;
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestOptions, error_code, spawn_app, spawn_app_with};

fn require_built_console() {
    assert!(
        lectern::console::is_built(),
        "web/dist is missing: build the console with scripts/build-ui.sh (scripts/test.sh does)"
    );
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_console_pages_answer_index_html_uncached_and_api_misses_stay_json(pool: PgPool) {
    require_built_console();
    let app = spawn_app(pool).await;
    for path in ["/", "/studio", "/studio/courses/6d1c0f7e-0000-4000-8000-000000000000", "/learn/a/b", "/setup"] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache", "{path}");
        assert!(response.headers()[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/html"));
        let html = response.text().await.expect("body");
        assert!(html.contains("<base href=\"/\" />"), "{path}: {html}");
        assert!(html.contains("<div id=\"root\">"), "{path}");
    }
    for path in ["/v1/nothing-here", "/studios", "/assets/missing.js"] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(error_code(response).await, "not_found", "{path}");
    }
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn hashed_assets_are_immutable_and_revalidate_with_their_etag(pool: PgPool) {
    require_built_console();
    let app = spawn_app(pool).await;
    let html = app.client.get(app.url("/")).send().await.expect("request").text().await.expect("body");
    let script = html
        .split("src=\"./")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no module script in {html}"))
        .to_owned();
    assert!(script.starts_with("assets/index-") && script.ends_with(".js"), "{script}");
    let response = app.client.get(app.url(&format!("/{script}"))).send().await.expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()[header::CACHE_CONTROL], "public, max-age=31536000, immutable");
    assert_eq!(response.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    let etag = response.headers()[header::ETAG].clone();
    assert!(!response.bytes().await.expect("body").is_empty());
    let again = app
        .client
        .get(app.url(&format!("/{script}")))
        .header(header::IF_NONE_MATCH, etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 304);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn behind_a_path_prefix_the_pages_name_it_as_their_base(pool: PgPool) {
    require_built_console();
    let public_url = url::Url::parse("https://school.example/lectern/").expect("url");
    let app = spawn_app_with(pool, TestOptions { public_url: Some(public_url), ..TestOptions::default() }).await;
    let html = app.client.get(app.url("/my")).send().await.expect("request").text().await.expect("body");
    assert!(html.contains("<base href=\"/lectern/\" />"), "{html}");
    // The built files refer to their assets relatively, so the base applies to them.
    assert!(html.contains("src=\"./assets/"), "{html}");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_setup_token_creates_the_first_administrator_once(pool: PgPool) {
    let token = lectern::auth::setup::prepare(&pool).await.expect("prepare").expect("no admin yet: a token");
    let app = spawn_app(pool.clone()).await;
    let status: serde_json::Value =
        app.client.get(app.url("/v1/setup")).send().await.expect("request").json().await.expect("json");
    assert_eq!(status, json!({"needed": true}));

    let wrong = app
        .post_json("/v1/setup", json!({"token": "0".repeat(32), "email": "root@example.com", "password": PASSWORD}))
        .await;
    assert_eq!(wrong.status(), 403);
    assert_eq!(error_code(wrong).await, "invalid_setup_token");
    let weak =
        app.post_json("/v1/setup", json!({"token": token, "email": "root@example.com", "password": "short"})).await;
    assert_eq!(weak.status(), 422);
    assert_eq!(error_code(weak).await, "weak_password");

    let created =
        app.post_json("/v1/setup", json!({"token": token, "email": "root@example.com", "password": PASSWORD})).await;
    assert_eq!(created.status(), 201);
    let created: serde_json::Value = created.json().await.expect("json");
    assert_eq!(created["account"]["roles"], json!(["learner", "admin"]));
    let access = created["tokens"]["access_token"].as_str().expect("token");
    let me: serde_json::Value = app.get_with("/v1/me", access).await.json().await.expect("json");
    assert_eq!(me["email"], "root@example.com");

    let again =
        app.post_json("/v1/setup", json!({"token": token, "email": "other@example.com", "password": PASSWORD})).await;
    assert_eq!(again.status(), 409);
    assert_eq!(error_code(again).await, "setup_done");
    let status: serde_json::Value =
        app.client.get(app.url("/v1/setup")).send().await.expect("request").json().await.expect("json");
    assert_eq!(status, json!({"needed": false}));
    // With an administrator, a restart prints no token and leaves none behind.
    assert_eq!(lectern::auth::setup::prepare(&pool).await.expect("prepare"), None);
    let left: i64 = sqlx::query_scalar("select count(*) from setup_token").fetch_one(&pool).await.expect("count");
    assert_eq!(left, 0);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_restart_replaces_the_setup_token(pool: PgPool) {
    let first = lectern::auth::setup::prepare(&pool).await.expect("prepare").expect("token");
    let second = lectern::auth::setup::prepare(&pool).await.expect("prepare").expect("token");
    assert_ne!(first, second);
    let app = spawn_app(pool).await;
    let stale =
        app.post_json("/v1/setup", json!({"token": first, "email": "root@example.com", "password": PASSWORD})).await;
    assert_eq!(error_code(stale).await, "invalid_setup_token");
    let fresh =
        app.post_json("/v1/setup", json!({"token": second, "email": "root@example.com", "password": PASSWORD})).await;
    assert_eq!(fresh.status(), 201);
}
