//! Accounts as people meet them: registering, signing in and out, `/v1/me`, email
//! normalisation, the password policy, and the lockout after repeated wrong passwords.

use crate::helpers::{PASSWORD, error_code, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;

#[sqlx::test]
async fn registering_returns_the_account_and_working_tokens(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = app.register("ada@example.com").await;
    assert_eq!(body["account"]["email"], "ada@example.com");
    assert_eq!(body["account"]["roles"], json!(["learner"]));
    assert_eq!(body["account"]["email_verified"], false);
    assert_eq!(body["tokens"]["token_type"], "Bearer");
    assert_eq!(body["tokens"]["expires_in"], 900);
    let access = body["tokens"]["access_token"].as_str().expect("access token");
    let me = app.get_with("/v1/me", access).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["account_id"], body["account"]["account_id"]);
    assert_eq!(me["email"], "ada@example.com");
}

#[sqlx::test]
async fn an_email_is_one_account_whatever_its_case_and_spacing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = app.register("  Grace.Hopper@Example.COM ").await;
    assert_eq!(body["account"]["email"], "grace.hopper@example.com");
    let again =
        app.post_json("/v1/auth/register", json!({"email": "grace.hopper@example.com", "password": PASSWORD})).await;
    assert_eq!(again.status(), 409);
    assert_eq!(error_code(again).await, "email_taken");
    let login = app.login("GRACE.HOPPER@example.com", PASSWORD).await;
    assert_eq!(login.status(), 200);
}

#[sqlx::test]
async fn weak_passwords_are_refused_with_weak_password(pool: PgPool) {
    let app = spawn_app(pool).await;
    let long = "x".repeat(1025);
    for password in ["short", "Katherine.Johnson", "katherine.johnson@example.com", long.as_str()] {
        let response = app
            .post_json("/v1/auth/register", json!({"email": "katherine.johnson@example.com", "password": password}))
            .await;
        assert_eq!(response.status(), 422, "{password:?}");
        assert_eq!(error_code(response).await, "weak_password", "{password:?}");
    }
}

#[sqlx::test]
async fn an_implausible_email_is_refused_with_invalid_email(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.post_json("/v1/auth/register", json!({"email": "not-an-email", "password": PASSWORD})).await;
    assert_eq!(response.status(), 422);
    assert_eq!(error_code(response).await, "invalid_email");
}

#[sqlx::test]
async fn signing_in_returns_a_new_session_with_tokens(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.register("alan@example.com").await;
    let response = app.login("alan@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.expect("json");
    let access = tokens["access_token"].as_str().expect("access token");
    assert_eq!(app.get_with("/v1/me", access).await.status(), 200);
    assert_eq!(tokens["refresh_token"].as_str().expect("refresh token").len(), 43);
}

#[sqlx::test]
async fn a_wrong_password_and_an_unknown_email_fail_exactly_alike(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.register("barbara@example.com").await;
    let wrong: Value = app.login("barbara@example.com", "not the password").await.json().await.expect("json");
    let unknown: Value = app.login("nobody@example.com", PASSWORD).await.json().await.expect("json");
    assert_eq!(wrong, unknown);
    assert_eq!(wrong["error"]["code"], "invalid_credentials");
    let response = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!(response.status(), 401);
}

#[sqlx::test]
async fn logging_out_ends_the_session_at_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = app.register("edsger@example.com").await;
    let access = body["tokens"]["access_token"].as_str().expect("access token");
    let refresh = body["tokens"]["refresh_token"].as_str().expect("refresh token");
    let logout = app.client.post(app.url("/v1/auth/logout")).bearer_auth(access).send().await.expect("request");
    assert_eq!(logout.status(), 204);
    let me = app.get_with("/v1/me", access).await;
    assert_eq!(me.status(), 401);
    assert_eq!(error_code(me).await, "invalid_token");
    let refreshed = app.refresh(refresh).await;
    assert_eq!(refreshed.status(), 401);
    assert_eq!(error_code(refreshed).await, "invalid_token");
}

#[sqlx::test]
async fn me_without_a_token_is_401_missing_token_with_a_bearer_challenge(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.client.get(app.url("/v1/me")).send().await.expect("request");
    assert_eq!(response.status(), 401);
    let challenge = response.headers()["www-authenticate"].to_str().expect("ascii").to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge}");
    assert_eq!(error_code(response).await, "missing_token");
}

#[sqlx::test]
async fn five_wrong_passwords_lock_the_account_even_against_the_right_one_until_the_lock_expires(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.register("mallory.target@example.com").await;
    for _ in 0..5 {
        let response = app.login("mallory.target@example.com", "guess guess guess").await;
        assert_eq!(error_code(response).await, "invalid_credentials");
    }
    let (failed, locked): (i32, bool) = sqlx::query_as(
        "select failed_logins, locked_until > now() + interval '50 seconds' from account where email = $1",
    )
    .bind("mallory.target@example.com")
    .fetch_one(&pool)
    .await
    .expect("row");
    assert_eq!((failed, locked), (5, true));

    // While locked, the right password fails exactly like a wrong one: the lock must not become
    // an oracle that tells a guesser when they are right.
    let locked_out = app.login("mallory.target@example.com", PASSWORD).await;
    assert_eq!(locked_out.status(), 401);
    assert_eq!(error_code(locked_out).await, "invalid_credentials");

    // The lock expires by itself; then the right password works and resets the counter.
    sqlx::query("update account set locked_until = now() - interval '1 second' where email = $1")
        .bind("mallory.target@example.com")
        .execute(&pool)
        .await
        .expect("update");
    assert_eq!(app.login("mallory.target@example.com", PASSWORD).await.status(), 200);
    let failed: i32 = sqlx::query_scalar("select failed_logins from account where email = $1")
        .bind("mallory.target@example.com")
        .fetch_one(&pool)
        .await
        .expect("row");
    assert_eq!(failed, 0);
}

#[sqlx::test]
async fn each_failure_past_the_threshold_doubles_the_lock_up_to_fifteen_minutes(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.register("doubling@example.com").await;
    let lock_seconds = || async {
        sqlx::query_scalar::<_, f64>(
            "select extract(epoch from locked_until - now())::float8 from account where email = 'doubling@example.com'",
        )
        .fetch_one(&pool)
        .await
        .expect("row")
    };
    let unlock = || async {
        sqlx::query("update account set locked_until = now() where email = 'doubling@example.com'")
            .execute(&pool)
            .await
            .expect("update");
    };
    for _ in 0..5 {
        app.login("doubling@example.com", "wrong wrong wrong").await;
    }
    assert!((55.0..=60.0).contains(&lock_seconds().await));
    unlock().await;
    app.login("doubling@example.com", "wrong wrong wrong").await;
    assert!((115.0..=120.0).contains(&lock_seconds().await));
    for _ in 0..6 {
        unlock().await;
        app.login("doubling@example.com", "wrong wrong wrong").await;
    }
    assert!((895.0..=900.0).contains(&lock_seconds().await));
}

#[sqlx::test]
async fn failures_from_more_than_a_day_ago_are_forgotten(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    app.register("old.typos@example.com").await;
    sqlx::query(
        "update account set failed_logins = 9, last_failed_login_at = now() - interval '25 hours' where email = $1",
    )
    .bind("old.typos@example.com")
    .execute(&pool)
    .await
    .expect("update");
    app.login("old.typos@example.com", "one more typo").await;
    let (failed, locked): (i32, bool) =
        sqlx::query_as("select failed_logins, locked_until is not null from account where email = $1")
            .bind("old.typos@example.com")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!((failed, locked), (1, false));
    assert_eq!(app.login("old.typos@example.com", PASSWORD).await.status(), 200);
}
