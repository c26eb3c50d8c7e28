//! Rate limits on sign-in, registration and refresh: in-process buckets, and Redis counters shared
//! between replicas (Redis runs on 127.0.0.1:6379 on development and CI machines;
//! `LECTERN_TEST_REDIS_URL` points elsewhere).

use std::time::Duration;

use crate::helpers::{PASSWORD, TestOptions, error_code, spawn_app_with, test_auth_settings};
use lectern::auth::rate_limit::RateLimiter;
use lectern::auth::{AuthSettings, RateLimit};
use secrecy::SecretString;
use serde_json::json;
use sqlx::PgPool;

fn redis_url() -> String {
    std::env::var("LECTERN_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

fn strict(max: u32) -> AuthSettings {
    let mut settings = test_auth_settings();
    let limit = RateLimit { max, period: Duration::from_secs(60) };
    settings.rate_limits.login = limit;
    settings.rate_limits.register = limit;
    settings.rate_limits.refresh = limit;
    settings
}

#[sqlx::test]
async fn too_many_sign_ins_are_429_rate_limited_with_retry_after(pool: PgPool) {
    let app = spawn_app_with(pool, TestOptions { auth: Some(strict(3)), ..TestOptions::default() }).await;
    for _ in 0..3 {
        assert_eq!(app.login("nobody@example.com", PASSWORD).await.status(), 401);
    }
    let limited = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(error_code(limited).await, "rate_limited");
}

#[sqlx::test]
async fn registrations_are_limited_per_client_address(pool: PgPool) {
    let app = spawn_app_with(pool, TestOptions { auth: Some(strict(2)), ..TestOptions::default() }).await;
    app.register("one@example.com").await;
    app.register("two@example.com").await;
    let third = app.post_json("/v1/auth/register", json!({"email": "three@example.com", "password": PASSWORD})).await;
    assert_eq!(third.status(), 429);
}

#[sqlx::test]
async fn with_redis_the_limit_is_counted_in_redis(pool: PgPool) {
    let mut settings = strict(2);
    settings.redis_url = Some(SecretString::from(redis_url()));
    let app = spawn_app_with(pool, TestOptions { auth: Some(settings), ..TestOptions::default() }).await;
    // A fresh email per run, since Redis outlives the test; the per-address count is shared with
    // other runs in the same minute, so only the per-email limit is asserted exactly.
    let email = format!("redis-{}@example.com", uuid::Uuid::new_v4().simple());
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(app.login(&email, PASSWORD).await.status().as_u16());
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
}

#[tokio::test]
async fn the_redis_limiter_allows_max_per_window_and_says_when_to_retry() {
    let limiter = RateLimiter::connect(Some(&SecretString::from(redis_url()))).await.expect("Redis is reachable");
    let key = format!("test:{}", uuid::Uuid::new_v4().simple());
    let limit = RateLimit { max: 3, period: Duration::from_secs(60) };
    let mut allowed = 0;
    let mut refusal = None;
    for _ in 0..5 {
        match limiter.check(&key, limit).await {
            Ok(()) => allowed += 1,
            Err(error) => refusal = Some(error),
        }
    }
    // A window boundary may fall inside the loop and reset the count once.
    assert!((3..=4).contains(&allowed), "{allowed}");
    match refusal {
        Some(lectern::auth::AuthError::RateLimited { retry_after }) => assert!((1..=60).contains(&retry_after)),
        other => panic!("expected rate_limited, got {other:?}"),
    }
}

#[sqlx::test]
async fn refreshes_are_limited_too(pool: PgPool) {
    let app = spawn_app_with(pool, TestOptions { auth: Some(strict(2)), ..TestOptions::default() }).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(app.refresh("bm90LWEtcmVhbC10b2tlbg").await.status().as_u16());
    }
    assert_eq!(statuses, vec![401, 401, 429]);
}

#[sqlx::test]
async fn behind_a_trusted_proxy_the_forwarded_address_is_the_client(pool: PgPool) {
    let mut settings = strict(2);
    settings.trusted_proxies = vec!["127.0.0.1".parse().expect("ip")];
    let app = spawn_app_with(pool, TestOptions { auth: Some(settings), ..TestOptions::default() }).await;
    let login_from = |address: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("x-forwarded-for", format!("203.0.113.50, {address}"))
            .json(&json!({"email": format!("{address}@example.com"), "password": PASSWORD}))
            .send()
    };
    // Two clients behind the same proxy each get their own allowance.
    for _ in 0..2 {
        assert_eq!(login_from("198.51.100.1").await.expect("request").status(), 401);
        assert_eq!(login_from("198.51.100.2").await.expect("request").status(), 401);
    }
    assert_eq!(login_from("198.51.100.1").await.expect("request").status(), 429);

    // The device list shows the forwarded address.
    let body = app.register("proxied@example.com").await;
    let access = body["tokens"]["access_token"].as_str().expect("token");
    let tokens: serde_json::Value = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("x-forwarded-for", "198.51.100.9")
        .json(&json!({"email": "proxied@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    let list: serde_json::Value = app.get_with("/v1/auth/sessions", access).await.json().await.expect("json");
    let proxied = list["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .find(|s| s["session_id"] == tokens["session_id"])
        .expect("the proxied session");
    assert_eq!(proxied["ip"], "198.51.100.9");
}
