//! Two-factor sign-in (issue 21) with codes from PyPI `pyotp`, an implementation independent of
//! ours: enrolment, the challenge at password and external sign-in, the clock window, replays,
//! recovery codes, and the operator's requirement for administrators.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::mail::python;
use crate::helpers::{
    PASSWORD, TestApp, TestOptions, account_with_roles, error_code, spawn_app_with, test_auth_settings,
};

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

/// Waits while the current 30 s step is about to end, so a test's "now" stays one step.
async fn clear_of_step_boundary() {
    let into_step = unix_now() % 30;
    if into_step >= 25 {
        tokio::time::sleep(Duration::from_secs(31 - into_step)).await;
    }
}

/// pyotp's code for the base32 `secret` at Unix time `at`.
async fn pyotp_code(secret: &str, at: u64) -> String {
    let output = tokio::process::Command::new(python())
        .args(["-c", "import pyotp, sys; print(pyotp.TOTP(sys.argv[1]).at(int(sys.argv[2])))", secret, &at.to_string()])
        .output()
        .await
        .expect("python runs");
    assert!(output.status.success(), "pyotp: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8").trim().to_owned()
}

async fn post_with(app: &TestApp, path: &str, token: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).bearer_auth(token).json(&body).send().await.expect("request")
}

/// Enrols the account and confirms it with pyotp's current code; returns the secret, the time
/// the confirming code was made for, and the recovery codes.
async fn enrol(app: &TestApp, access: &str) -> (String, u64, Vec<String>) {
    let started = post_with(app, "/v1/me/two-factor", access, json!({})).await;
    assert_eq!(started.status(), 201);
    let enrolment: Value = started.json().await.expect("json");
    let secret = enrolment["secret"].as_str().expect("secret").to_owned();
    clear_of_step_boundary().await;
    let now = unix_now();
    let confirmed =
        post_with(app, "/v1/me/two-factor/confirm", access, json!({"code": pyotp_code(&secret, now).await})).await;
    assert_eq!(confirmed.status(), 200);
    let codes: Value = confirmed.json().await.expect("json");
    let codes = codes["recovery_codes"].as_array().expect("codes").iter().map(|c| c.as_str().expect("code").to_owned());
    (secret, now, codes.collect())
}

async fn challenge(app: &TestApp, email: &str) -> String {
    let response = app.login(email, PASSWORD).await;
    assert_eq!(response.status(), 202, "a password alone no longer signs in");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["two_factor_required"], true);
    assert!(body.get("access_token").is_none());
    body["challenge_token"].as_str().expect("challenge").to_owned()
}

async fn answer(app: &TestApp, challenge: &str, factor: Value) -> reqwest::Response {
    let mut body = factor;
    body["challenge_token"] = json!(challenge);
    app.post_json("/v1/auth/login/two-factor", body).await
}

#[sqlx::test]
async fn enrolment_shows_a_uri_and_qr_code_that_pyotp_reads(pool: PgPool) {
    let app = crate::helpers::spawn_app(pool).await;
    let registered = app.register("ada@example.com").await;
    let access = registered["tokens"]["access_token"].as_str().expect("token");
    let started = post_with(&app, "/v1/me/two-factor", access, json!({})).await;
    assert_eq!(started.status(), 201);
    let enrolment: Value = started.json().await.expect("json");
    assert!(enrolment["qr_svg"].as_str().expect("svg").starts_with("<svg"));
    let parsed = tokio::process::Command::new(python())
        .args([
            "-c",
            "import pyotp, sys; t = pyotp.parse_uri(sys.argv[1]); print(t.secret, t.issuer, t.name, t.digits, t.interval)",
            enrolment["otpauth_uri"].as_str().expect("uri"),
        ])
        .output()
        .await
        .expect("python runs");
    assert!(parsed.status.success(), "{}", String::from_utf8_lossy(&parsed.stderr));
    let secret = enrolment["secret"].as_str().expect("secret");
    assert_eq!(String::from_utf8_lossy(&parsed.stdout).trim(), format!("{secret} Lectern ada@example.com 6 30"));

    // Not on until confirmed: a password still signs in, and a wrong code does not confirm.
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
    let wrong = post_with(&app, "/v1/me/two-factor/confirm", access, json!({"code": "000000"})).await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(error_code(wrong).await, "invalid_two_factor_code");
    let status: Value = app.get_with("/v1/me/two-factor", access).await.json().await.expect("json");
    assert_eq!(status["enabled"], false);
}

#[sqlx::test]
async fn password_sign_in_needs_a_fresh_code_within_a_small_window(pool: PgPool) {
    let app = crate::helpers::spawn_app(pool).await;
    let registered = app.register("grace@example.com").await;
    let access = registered["tokens"]["access_token"].as_str().expect("token").to_owned();
    let (secret, confirmed_at, recovery) = enrol(&app, &access).await;
    assert_eq!(recovery.len(), 10);
    let status: Value = app.get_with("/v1/me/two-factor", &access).await.json().await.expect("json");
    assert_eq!(status, json!({"enabled": true, "recovery_codes_left": 10}));

    let first = challenge(&app, "grace@example.com").await;
    // The code that confirmed the enrolment was spent there, and an older one is no better.
    let replayed = answer(&app, &first, json!({"code": pyotp_code(&secret, confirmed_at).await})).await;
    assert_eq!(replayed.status(), 401);
    assert_eq!(error_code(replayed).await, "invalid_two_factor_code");
    let older = answer(&app, &first, json!({"code": pyotp_code(&secret, confirmed_at - 30).await})).await;
    assert_eq!(older.status(), 401);
    // Three steps ahead is outside the window.
    let far = answer(&app, &first, json!({"code": pyotp_code(&secret, confirmed_at + 90).await})).await;
    assert_eq!(far.status(), 401);
    // The next step (a clock 30 s ahead) is inside it.
    let next = pyotp_code(&secret, confirmed_at + 30).await;
    let signed_in = answer(&app, &first, json!({"code": next})).await;
    assert_eq!(signed_in.status(), 200);
    let tokens: Value = signed_in.json().await.expect("json");
    assert_eq!(app.get_with("/v1/me", tokens["access_token"].as_str().expect("token")).await.status(), 200);
    // The challenge worked once.
    let again = answer(&app, &first, json!({"code": next})).await;
    assert_eq!(again.status(), 400);
    assert_eq!(error_code(again).await, "invalid_link");

    // The same code at a new challenge is a replay.
    let second = challenge(&app, "grace@example.com").await;
    assert_eq!(answer(&app, &second, json!({"code": next})).await.status(), 401);

    // A recovery code works once, in any case and with or without its dash.
    let typed = recovery[0].to_lowercase().replace('-', "");
    assert_eq!(answer(&app, &second, json!({"recovery_code": typed})).await.status(), 200);
    let third = challenge(&app, "grace@example.com").await;
    assert_eq!(answer(&app, &third, json!({"recovery_code": recovery[0]})).await.status(), 401);
    assert_eq!(answer(&app, &third, json!({"recovery_code": recovery[1]})).await.status(), 200);
    let status: Value = app.get_with("/v1/me/two-factor", &access).await.json().await.expect("json");
    assert_eq!(status["recovery_codes_left"], 8);

    // Turning it off takes a second factor too; then a password signs in alone again.
    let delete = |body: Value| app.client.delete(app.url("/v1/me/two-factor")).bearer_auth(&access).json(&body).send();
    assert_eq!(delete(json!({"code": "000000"})).await.expect("request").status(), 401);
    assert_eq!(delete(json!({"recovery_code": recovery[2]})).await.expect("request").status(), 204);
    assert_eq!(app.login("grace@example.com", PASSWORD).await.status(), 200);
}

/// A Yandex stand-in whose user is always `ivan@yandex.ru`.
async fn yandex() -> String {
    let router = Router::new()
        .route("/token", post(|| async { Json(json!({"access_token": "y0_test", "token_type": "bearer", "expires_in": 3600})) }))
        .route(
            "/info",
            get(|| async {
                Json(json!({"id": "1000034426", "login": "ivan", "default_email": "ivan@yandex.ru", "emails": ["ivan@yandex.ru"]}))
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// Signs in through the stand-in and answers the callback's response.
async fn yandex_sign_in(app: &TestApp) -> reqwest::Response {
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let started = browser.get(app.url("/v1/auth/oauth/yandex/start")).send().await.expect("start");
    let location = url::Url::parse(started.headers()["location"].to_str().expect("ascii")).expect("url");
    let state = location.query_pairs().find(|(name, _)| name == "state").expect("state").1.into_owned();
    browser
        .get(app.url(&format!("/v1/auth/oauth/yandex/callback?code=c0de&state={state}")))
        .send()
        .await
        .expect("callback")
}

#[sqlx::test]
async fn external_sign_in_is_challenged_too(pool: PgPool) {
    let base = yandex().await;
    let mut auth = test_auth_settings();
    auth.oauth.yandex = Some(lectern::auth::PlainOAuthSettings {
        client_id: "yandex-app".to_owned(),
        client_secret: Some(secrecy::SecretString::from("stand-in-secret")),
        authorize_url: url::Url::parse(&format!("{base}/authorize")).expect("url"),
        token_url: url::Url::parse(&format!("{base}/token")).expect("url"),
        userinfo_url: url::Url::parse(&format!("{base}/info")).expect("url"),
    });
    let app = spawn_app_with(pool, TestOptions { auth: Some(auth), ..TestOptions::default() }).await;
    let first = yandex_sign_in(&app).await;
    assert_eq!(first.status(), 200);
    let tokens: Value = first.json().await.expect("json");
    let access = tokens["access_token"].as_str().expect("token").to_owned();
    let (secret, confirmed_at, _) = enrol(&app, &access).await;

    let second = yandex_sign_in(&app).await;
    assert_eq!(second.status(), 202, "the provider's word is one factor");
    let body: Value = second.json().await.expect("json");
    let challenge = body["challenge_token"].as_str().expect("challenge");
    let code = pyotp_code(&secret, confirmed_at + 30).await;
    assert_eq!(answer(&app, challenge, json!({"code": code})).await.status(), 200);
}

#[sqlx::test]
async fn administrators_act_without_their_role_until_they_enrol_when_the_operator_says_so(pool: PgPool) {
    let mut auth = test_auth_settings();
    auth.require_admin_two_factor = true;
    let app = spawn_app_with(pool, TestOptions { auth: Some(auth), ..TestOptions::default() }).await;
    let (learner_id, _) = account_with_roles(&app, "learner@example.com", &["learner"]).await;
    let (_, admin) = account_with_roles(&app, "admin@example.com", &["learner", "admin"]).await;
    let promote = || {
        app.client
            .put(app.url(&format!("/v1/users/{learner_id}/roles")))
            .bearer_auth(&admin)
            .json(&json!({"roles": ["learner", "instructor"]}))
            .send()
    };
    let refused = promote().await.expect("request");
    assert_eq!(refused.status(), 403);
    assert_eq!(error_code(refused).await, "forbidden");

    enrol(&app, &admin).await;
    assert_eq!(promote().await.expect("request").status(), 200);
}
