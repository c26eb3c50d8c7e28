//! Refresh rotation, reuse detection and the list of signed-in devices.

use crate::helpers::{PASSWORD, error_code, spawn_app};
use serde_json::Value;
use sqlx::PgPool;

fn text(value: &Value, field: &str) -> String {
    value[field].as_str().unwrap_or_else(|| panic!("{field} missing from {value}")).to_owned()
}

#[sqlx::test]
async fn a_refresh_returns_a_new_pair_and_spends_the_old_refresh_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = app.register("rotation@example.com").await;
    let first = text(&body["tokens"], "refresh_token");
    let response = app.refresh(&first).await;
    assert_eq!(response.status(), 200);
    let pair: Value = response.json().await.expect("json");
    let second = text(&pair, "refresh_token");
    assert_ne!(first, second);
    assert_eq!(pair["session_id"], body["tokens"]["session_id"]);
    assert_eq!(app.get_with("/v1/me", &text(&pair, "access_token")).await.status(), 200);
    // The successor keeps working, once.
    assert_eq!(app.refresh(&second).await.status(), 200);
}

#[sqlx::test]
async fn reusing_a_spent_refresh_token_revokes_the_whole_session(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let body = app.register("stolen@example.com").await;
    let stolen = text(&body["tokens"], "refresh_token");

    // The legitimate client refreshes first…
    let legit: Value = app.refresh(&stolen).await.json().await.expect("json");
    let legit_refresh = text(&legit, "refresh_token");
    let legit_access = text(&legit, "access_token");
    assert_eq!(app.get_with("/v1/me", &legit_access).await.status(), 200);

    // …then the thief presents the copy it stole.
    let reuse = app.refresh(&stolen).await;
    assert_eq!(reuse.status(), 401);
    assert_eq!(error_code(reuse).await, "invalid_token");

    // The whole family is dead: the legitimate client's newer tokens too.
    let refreshed = app.refresh(&legit_refresh).await;
    assert_eq!(refreshed.status(), 401);
    assert_eq!(error_code(refreshed).await, "invalid_token");
    let me = app.get_with("/v1/me", &legit_access).await;
    assert_eq!(me.status(), 401);
    assert_eq!(error_code(me).await, "invalid_token");
    let reason: Option<String> =
        sqlx::query_scalar("select revoked_reason from auth_session").fetch_one(&pool).await.expect("one session");
    assert_eq!(reason.as_deref(), Some("refresh_token_reuse"));
}

#[sqlx::test]
async fn of_two_concurrent_refreshes_with_one_token_at_most_one_wins(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = app.register("racer@example.com").await;
    let token = text(&body["tokens"], "refresh_token");
    let (a, b) = tokio::join!(app.refresh(&token), app.refresh(&token));
    let wins = [a.status(), b.status()].iter().filter(|status| status.is_success()).count();
    assert!(wins <= 1, "both refreshes succeeded");
}

#[sqlx::test]
async fn an_unknown_refresh_token_is_401_invalid_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response = app.refresh("bm90LWEtcmVhbC10b2tlbg").await;
    assert_eq!(response.status(), 401);
    assert_eq!(error_code(response).await, "invalid_token");
}

#[sqlx::test]
async fn the_session_list_shows_every_device_and_marks_the_current_one(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = app.register("devices@example.com").await;
    let laptop = text(&body["tokens"], "access_token");
    let phone: Value = app
        .client
        .post(app.url("/v1/auth/login"))
        .header("user-agent", "LecternPhone/1.0")
        .json(&serde_json::json!({"email": "devices@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");

    let list: Value = app.get_with("/v1/auth/sessions", &laptop).await.json().await.expect("json");
    let sessions = list["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 2);
    let current: Vec<&Value> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0]["session_id"], body["tokens"]["session_id"]);
    let other = sessions.iter().find(|s| s["current"] == false).expect("the phone");
    assert_eq!(other["session_id"], phone["session_id"]);
    assert_eq!(other["user_agent"], "LecternPhone/1.0");
    assert_eq!(other["ip"], "127.0.0.1");
}

#[sqlx::test]
async fn signing_out_another_device_ends_that_session_only(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = app.register("two.devices@example.com").await;
    let laptop = text(&body["tokens"], "access_token");
    let phone: Value = app.login("two.devices@example.com", PASSWORD).await.json().await.expect("json");
    let phone_session = text(&phone, "session_id");

    let deleted = app
        .client
        .delete(app.url(&format!("/v1/auth/sessions/{phone_session}")))
        .bearer_auth(&laptop)
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), 204);
    assert_eq!(app.get_with("/v1/me", &text(&phone, "access_token")).await.status(), 401);
    assert_eq!(app.refresh(&text(&phone, "refresh_token")).await.status(), 401);
    assert_eq!(app.get_with("/v1/me", &laptop).await.status(), 200);
}

#[sqlx::test]
async fn another_accounts_session_cannot_be_deleted_and_looks_missing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let victim = app.register("victim@example.com").await;
    let attacker = app.register("attacker@example.com").await;
    let victim_session = text(&victim["tokens"], "session_id");
    let response = app
        .client
        .delete(app.url(&format!("/v1/auth/sessions/{victim_session}")))
        .bearer_auth(text(&attacker["tokens"], "access_token"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "not_found");
    assert_eq!(app.get_with("/v1/me", &text(&victim["tokens"], "access_token")).await.status(), 200);
}

#[sqlx::test]
async fn a_malformed_session_id_is_a_json_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = app.register("typo.in.url@example.com").await;
    let response = app
        .client
        .delete(app.url("/v1/auth/sessions/not-a-uuid"))
        .bearer_auth(text(&body["tokens"], "access_token"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "not_found");
}

#[sqlx::test]
async fn an_idle_or_too_old_session_can_no_longer_refresh_or_authenticate(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let idle = app.register("idle@example.com").await;
    let old = app.register("old@example.com").await;
    sqlx::query("update auth_session set idle_expires_at = now() - interval '1 second' where session_id = $1")
        .bind(text(&idle["tokens"], "session_id").parse::<uuid::Uuid>().expect("uuid"))
        .execute(&pool)
        .await
        .expect("update");
    // The absolute limit wins even over a fresh idle deadline.
    sqlx::query(
        "update auth_session set idle_expires_at = now() - interval '2 seconds', \
         absolute_expires_at = now() - interval '1 second' where session_id = $1",
    )
    .bind(text(&old["tokens"], "session_id").parse::<uuid::Uuid>().expect("uuid"))
    .execute(&pool)
    .await
    .expect("update");
    for body in [&idle, &old] {
        assert_eq!(app.refresh(&text(&body["tokens"], "refresh_token")).await.status(), 401);
        assert_eq!(app.get_with("/v1/me", &text(&body["tokens"], "access_token")).await.status(), 401);
    }
}

#[sqlx::test]
async fn a_refresh_pushes_the_idle_deadline_forward_but_never_past_the_absolute_one(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let body = app.register("active@example.com").await;
    let session_id: uuid::Uuid = text(&body["tokens"], "session_id").parse().expect("uuid");
    sqlx::query(
        "update auth_session set idle_expires_at = now() + interval '1 hour', \
         absolute_expires_at = now() + interval '2 hours' where session_id = $1",
    )
    .bind(session_id)
    .execute(&pool)
    .await
    .expect("update");
    assert_eq!(app.refresh(&text(&body["tokens"], "refresh_token")).await.status(), 200);
    let (idle, absolute): (time::OffsetDateTime, time::OffsetDateTime) =
        sqlx::query_as("select idle_expires_at, absolute_expires_at from auth_session where session_id = $1")
            .bind(session_id)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(idle, absolute);
}
