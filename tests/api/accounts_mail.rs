//! Mail that reaches a person (issue 21): verification at registration and on an email change,
//! and password reset, sent by the `mail.send` job to a real SMTP server (aiosmtpd) on 127.0.0.1,
//! read back, and followed.

use std::time::Duration;

use serde_json::json;
use sqlx::PgPool;

use crate::helpers::mail::SmtpServer;
use crate::helpers::{PASSWORD, TestApp, TestOptions, error_code, spawn_app_with, test_auth_settings};

async fn app_with_mail(pool: PgPool, smtp: &SmtpServer) -> TestApp {
    spawn_app_with(pool, TestOptions { workers: 1, mail: Some(smtp.settings()), ..TestOptions::default() }).await
}

async fn register_in(app: &TestApp, email: &str, language: &str) -> serde_json::Value {
    let response = app
        .client
        .post(app.url("/v1/auth/register"))
        .header("accept-language", language)
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

async fn me(app: &TestApp, access_token: &str) -> reqwest::Response {
    app.get_with("/v1/me", access_token).await
}

#[sqlx::test]
async fn registration_mails_a_link_that_verifies_the_address_once(pool: PgPool) {
    let smtp = SmtpServer::start().await;
    let app = app_with_mail(pool, &smtp).await;
    let registered = register_in(&app, "ada@example.com", "en-GB,en;q=0.9").await;
    assert_eq!(registered["account"]["email_verified"], false);
    let access = registered["tokens"]["access_token"].as_str().expect("token");

    let message = smtp.wait_for("ada@example.com", 1).await;
    assert_eq!(message.from, "Lectern Test <noreply@lectern.test>");
    assert_eq!(message.subject, "Confirm your email address for Lectern Test");
    let link = message.link();
    assert!(link.starts_with(&app.url("/settings/verify-email?token=")), "{link}");
    assert!(message.html.contains(&link.replace('&', "&amp;")), "the HTML carries the same link");

    // The link opens the console's page (which posts the token back).
    let page = app.client.get(&link).send().await.expect("request");
    assert_ne!(page.status(), 404);
    assert!(page.headers()["content-type"].to_str().expect("ascii").starts_with("text/html"));

    let verified = app.post_json("/v1/auth/email/verify", json!({"token": message.token()})).await;
    assert_eq!(verified.status(), 200);
    let account: serde_json::Value = verified.json().await.expect("json");
    assert_eq!(account["email_verified"], true);
    let mine: serde_json::Value = me(&app, access).await.json().await.expect("json");
    assert_eq!(mine["email_verified"], true);

    let again = app.post_json("/v1/auth/email/verify", json!({"token": message.token()})).await;
    assert_eq!(again.status(), 400);
    assert_eq!(error_code(again).await, "invalid_link");

    // The sent job keeps no copy of the link.
    let payload: serde_json::Value =
        sqlx::query_scalar("select payload from job where kind = 'mail.send' and state = 'succeeded'")
            .fetch_one(&app.pool)
            .await
            .expect("the sent job");
    assert_eq!(payload["redacted"], true);
    assert!(!payload.to_string().contains(&message.token()), "{payload}");
}

#[sqlx::test]
async fn a_russian_speaker_gets_russian_mail(pool: PgPool) {
    let smtp = SmtpServer::start().await;
    let app = app_with_mail(pool, &smtp).await;
    register_in(&app, "ivan@example.com", "ru-RU,ru;q=0.9,en;q=0.5").await;
    let message = smtp.wait_for("ivan@example.com", 1).await;
    assert_eq!(message.subject, "Подтвердите адрес электронной почты для Lectern Test");
    assert!(message.text.contains("Подтвердить адрес"), "{}", message.text);
    assert!(message.html.contains("lang=\"ru\""));

    // Later mail (a reset) follows the language chosen at registration.
    let forgot = app.post_json("/v1/auth/password/forgot", json!({"email": "ivan@example.com"})).await;
    assert_eq!(forgot.status(), 202);
    assert_eq!(smtp.wait_for("ivan@example.com", 2).await.subject, "Сброс пароля Lectern Test");
}

#[sqlx::test]
async fn a_password_reset_by_mail_signs_out_every_device(pool: PgPool) {
    let smtp = SmtpServer::start().await;
    let app = app_with_mail(pool, &smtp).await;
    let registered = register_in(&app, "grace@example.com", "en").await;
    let old_access = registered["tokens"]["access_token"].as_str().expect("token").to_owned();
    let old_refresh = registered["tokens"]["refresh_token"].as_str().expect("token").to_owned();
    let second_device: serde_json::Value = app.login("grace@example.com", PASSWORD).await.json().await.expect("json");

    let forgot = app.post_json("/v1/auth/password/forgot", json!({"email": " Grace@Example.com "})).await;
    assert_eq!(forgot.status(), 202);
    let message = smtp.wait_for("grace@example.com", 2).await;
    assert_eq!(message.subject, "Reset your Lectern Test password");
    assert!(message.link().starts_with(&app.url("/sign-in/reset-password?token=")));
    let token = message.token();

    // The existing policy applies, and a refused password does not spend the link.
    let weak = app.post_json("/v1/auth/password/reset", json!({"token": token, "password": "short"})).await;
    assert_eq!(weak.status(), 422);
    assert_eq!(error_code(weak).await, "weak_password");

    let new_password = "a brand new passphrase 2026";
    let reset = app.post_json("/v1/auth/password/reset", json!({"token": token, "password": new_password})).await;
    assert_eq!(reset.status(), 204);

    // Every session is over: refresh tokens and access tokens of both devices.
    assert_eq!(app.refresh(&old_refresh).await.status(), 401);
    let second_refresh = second_device["refresh_token"].as_str().expect("token");
    assert_eq!(app.refresh(second_refresh).await.status(), 401);
    assert_eq!(me(&app, &old_access).await.status(), 401);
    let reasons: Vec<String> = sqlx::query_scalar(
        "select revoked_reason from auth_session s join account a using (account_id) where a.email = $1",
    )
    .bind("grace@example.com")
    .fetch_all(&app.pool)
    .await
    .expect("sessions");
    assert_eq!(reasons, ["password_reset", "password_reset"]);

    assert_eq!(app.login("grace@example.com", PASSWORD).await.status(), 401);
    let signed_in = app.login("grace@example.com", new_password).await;
    assert_eq!(signed_in.status(), 200);
    let tokens: serde_json::Value = signed_in.json().await.expect("json");
    let mine: serde_json::Value =
        me(&app, tokens["access_token"].as_str().expect("token")).await.json().await.expect("json");
    assert_eq!(mine["email_verified"], true, "following the mailed link proved the address");

    let reused =
        app.post_json("/v1/auth/password/reset", json!({"token": token, "password": "yet another passphrase"})).await;
    assert_eq!(reused.status(), 400);
    assert_eq!(error_code(reused).await, "invalid_link");
}

#[sqlx::test]
async fn asking_for_a_reset_answers_the_same_for_an_unknown_address(pool: PgPool) {
    let smtp = SmtpServer::start().await;
    let app = app_with_mail(pool, &smtp).await;
    register_in(&app, "known@example.com", "en").await;
    smtp.wait_for("known@example.com", 1).await;

    let unknown = app.post_json("/v1/auth/password/forgot", json!({"email": "nobody@example.com"})).await;
    let known = app.post_json("/v1/auth/password/forgot", json!({"email": "known@example.com"})).await;
    assert_eq!(unknown.status(), 202);
    assert_eq!(known.status(), 202);
    assert_eq!(unknown.text().await.expect("body"), known.text().await.expect("body"));
    smtp.wait_for("known@example.com", 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.count().await, 2, "nothing was sent for the unknown address");

    let invalid = app.post_json("/v1/auth/password/forgot", json!({"email": "not an address"})).await;
    assert_eq!(invalid.status(), 422);
    assert_eq!(error_code(invalid).await, "invalid_email");
}

#[sqlx::test]
async fn expired_and_superseded_links_are_refused(pool: PgPool) {
    let smtp = SmtpServer::start().await;
    let app = app_with_mail(pool, &smtp).await;
    register_in(&app, "late@example.com", "en").await;
    smtp.wait_for("late@example.com", 1).await;

    app.post_json("/v1/auth/password/forgot", json!({"email": "late@example.com"})).await;
    let first = smtp.wait_for("late@example.com", 2).await.token();
    app.post_json("/v1/auth/password/forgot", json!({"email": "late@example.com"})).await;
    let second = smtp.wait_for("late@example.com", 3).await.token();
    let body = |token: &str| json!({"token": token, "password": "a brand new passphrase 2026"});
    let superseded = app.post_json("/v1/auth/password/reset", body(&first)).await;
    assert_eq!(superseded.status(), 400, "only the newest link counts");

    sqlx::query(
        "update account_token set created_at = now() - interval '2 hours', expires_at = now() - interval '1 hour'",
    )
    .execute(&app.pool)
    .await
    .expect("expire the links");
    let expired = app.post_json("/v1/auth/password/reset", body(&second)).await;
    assert_eq!(expired.status(), 400);
    assert_eq!(error_code(expired).await, "invalid_link");
    let verify_expired = app.post_json("/v1/auth/email/verify", json!({"token": second})).await;
    assert_eq!(verify_expired.status(), 400, "a reset token is no verification token either");
    assert_eq!(app.login("late@example.com", PASSWORD).await.status(), 200, "the password is unchanged");
}

#[sqlx::test]
async fn an_email_change_takes_effect_when_the_new_address_is_verified(pool: PgPool) {
    let smtp = SmtpServer::start().await;
    let app = app_with_mail(pool, &smtp).await;
    let registered = register_in(&app, "old@example.com", "en").await;
    let access = registered["tokens"]["access_token"].as_str().expect("token").to_owned();
    let change =
        |body: serde_json::Value| app.client.put(app.url("/v1/me/email")).bearer_auth(&access).json(&body).send();

    let without_password = change(json!({"email": "new@example.com"})).await.expect("request");
    assert_eq!(without_password.status(), 403);
    assert_eq!(error_code(without_password).await, "wrong_password");
    app.register("taken@example.com").await;
    let taken = change(json!({"email": "taken@example.com", "password": PASSWORD})).await.expect("request");
    assert_eq!(taken.status(), 409);
    assert_eq!(error_code(taken).await, "email_taken");

    let accepted = change(json!({"email": "New@Example.com", "password": PASSWORD})).await.expect("request");
    assert_eq!(accepted.status(), 202);
    let pending: serde_json::Value = accepted.json().await.expect("json");
    assert_eq!(pending["pending_email"], "new@example.com");
    let mine: serde_json::Value = me(&app, &access).await.json().await.expect("json");
    assert_eq!(mine["email"], "old@example.com", "unchanged until the new address is verified");

    let message = smtp.wait_for("new@example.com", 1).await;
    let verified = app.post_json("/v1/auth/email/verify", json!({"token": message.token()})).await;
    assert_eq!(verified.status(), 200);
    let mine: serde_json::Value = me(&app, &access).await.json().await.expect("json");
    assert_eq!(mine["email"], "new@example.com");
    assert_eq!(mine["email_verified"], true);
    assert_eq!(app.login("new@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.login("old@example.com", PASSWORD).await.status(), 401);
}

#[sqlx::test]
async fn verification_can_be_sent_again_until_the_address_is_verified(pool: PgPool) {
    let smtp = SmtpServer::start().await;
    let app = app_with_mail(pool, &smtp).await;
    let registered = register_in(&app, "again@example.com", "en").await;
    let access = registered["tokens"]["access_token"].as_str().expect("token").to_owned();
    let first = smtp.wait_for("again@example.com", 1).await.token();
    let resend = || app.client.post(app.url("/v1/auth/email/verification")).bearer_auth(&access).send();
    assert_eq!(resend().await.expect("request").status(), 202);
    let second = smtp.wait_for("again@example.com", 2).await.token();
    assert_eq!(app.post_json("/v1/auth/email/verify", json!({"token": first})).await.status(), 400);
    assert_eq!(app.post_json("/v1/auth/email/verify", json!({"token": second})).await.status(), 200);
    let done = resend().await.expect("request");
    assert_eq!(done.status(), 409);
    assert_eq!(error_code(done).await, "already_verified");
}

#[sqlx::test]
async fn reset_requests_are_rate_limited_per_address(pool: PgPool) {
    let mut auth = test_auth_settings();
    auth.rate_limits.account_mail = lectern::auth::RateLimit { max: 2, period: Duration::from_secs(3600) };
    let app = spawn_app_with(pool, TestOptions { auth: Some(auth), ..TestOptions::default() }).await;
    for _ in 0..2 {
        assert_eq!(
            app.post_json("/v1/auth/password/forgot", json!({"email": "someone@example.com"})).await.status(),
            202
        );
    }
    let limited = app.post_json("/v1/auth/password/forgot", json!({"email": "someone@example.com"})).await;
    assert_eq!(limited.status(), 429);
    assert_eq!(error_code(limited).await, "rate_limited");
}

#[sqlx::test]
async fn mail_waits_in_the_queue_while_the_server_is_down(pool: PgPool) {
    let mut smtp = SmtpServer::start().await;
    let settings = smtp.settings();
    let port = smtp.port;
    smtp.stop().await;
    let app = spawn_app_with(
        pool,
        TestOptions {
            workers: 1,
            mail: Some(settings),
            job_timings: Some(lectern::jobs::WorkerSettings {
                poll_interval: Duration::from_millis(100),
                retry_delay: Duration::from_millis(200),
                retry_max_delay: Duration::from_millis(400),
                ..lectern::jobs::WorkerSettings::default()
            }),
            ..TestOptions::default()
        },
    )
    .await;
    let registered = register_in(&app, "patient@example.com", "en").await;
    assert_eq!(registered["account"]["email_verified"], false, "registration does not wait for mail");

    // The first attempts fail (nothing listens) and are retried.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (attempts, state): (i32, String) =
            sqlx::query_as("select attempts, state from job where kind = 'mail.send'")
                .fetch_one(&app.pool)
                .await
                .expect("the mail job");
        assert_ne!(state, "failed", "the job gave up while the server was down");
        if attempts >= 2 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the job was not retried");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let smtp = SmtpServer::start_on(port).await;
    let message = smtp.wait_for("patient@example.com", 1).await;
    assert_eq!(app.post_json("/v1/auth/email/verify", json!({"token": message.token()})).await.status(), 200);
}

#[sqlx::test]
async fn a_sign_in_from_a_new_device_is_mailed_unless_switched_off(pool: PgPool) {
    let smtp = SmtpServer::start().await;
    let app = app_with_mail(pool, &smtp).await;
    let sign_in_from = |device: &'static str| {
        app.client
            .post(app.url("/v1/auth/login"))
            .header("user-agent", device)
            .json(&json!({"email": "dev@example.com", "password": PASSWORD}))
            .send()
    };
    let registered = app
        .client
        .post(app.url("/v1/auth/register"))
        .header("user-agent", "Laptop/1.0")
        .json(&json!({"email": "dev@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("request");
    assert_eq!(registered.status(), 201);
    let registered: serde_json::Value = registered.json().await.expect("json");
    let access = registered["tokens"]["access_token"].as_str().expect("token").to_owned();
    smtp.wait_for("dev@example.com", 1).await; // the verification link

    assert_eq!(sign_in_from("Laptop/1.0").await.expect("request").status(), 200, "a known device");
    assert_eq!(sign_in_from("Phone/2.0").await.expect("request").status(), 200);
    let notice = smtp.wait_for("dev@example.com", 2).await;
    assert_eq!(notice.subject, "New sign-in to your Lectern Test account");
    assert!(notice.text.contains("Device: Phone/2.0"), "{}", notice.text);
    assert!(notice.text.contains("Address: 127.0.0.1"), "{}", notice.text);

    let preferences: serde_json::Value =
        app.get_with("/v1/me/notifications", &access).await.json().await.expect("json");
    assert_eq!(preferences["notifications"]["new_sign_in"], true);
    let put = |body: serde_json::Value| {
        app.client.put(app.url("/v1/me/notifications")).bearer_auth(&access).json(&body).send()
    };
    let unknown = put(json!({"notifications": {"horoscope": true}})).await.expect("request");
    assert_eq!(unknown.status(), 422);
    assert_eq!(error_code(unknown).await, "invalid_notification_kind");
    let switched = put(json!({"notifications": {"new_sign_in": false}})).await.expect("request");
    assert_eq!(switched.status(), 200);
    let switched: serde_json::Value = switched.json().await.expect("json");
    assert_eq!(switched["notifications"]["new_sign_in"], false);
    assert_eq!(switched["notifications"]["certificate_issued"], true);

    assert_eq!(sign_in_from("Tablet/3.0").await.expect("request").status(), 200);
    // Nothing more is queued: every mail job so far was sent, and there are two of them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let jobs: i64 = sqlx::query_scalar("select count(*) from job where kind = 'mail.send'")
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(jobs, 2);
    assert_eq!(smtp.count().await, 2);
}
