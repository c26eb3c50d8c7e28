//! Yandex and VK ID sign-in against local stand-ins (axum servers answering with the shapes the
//! providers document), plus the callback's rate limit. The stand-ins record every request so
//! the tests can check what Lectern sent: the PKCE verifier, VK's device_id, the user-info call.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{TestApp, TestOptions, error_code, spawn_app_with, test_auth_settings};
use axum::extract::{Form, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use lectern::auth::oauth::pkce_challenge;
use lectern::auth::{PlainOAuthSettings, RateLimit};
use serde_json::{Value, json};
use sqlx::PgPool;
use url::Url;

/// What a stand-in saw.
#[derive(Default)]
struct Seen {
    token_forms: Vec<Vec<(String, String)>>,
    userinfo_authorization: Vec<String>,
    userinfo_forms: Vec<Vec<(String, String)>>,
}

type Shared = Arc<Mutex<Seen>>;

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{address}")
}

/// Yandex: `POST /token` → access token; `GET /info` (Authorization: OAuth …) → the user.
async fn yandex_stand_in(seen: Shared) -> String {
    async fn token(State(seen): State<Shared>, Form(form): Form<Vec<(String, String)>>) -> Json<Value> {
        seen.lock().expect("lock").token_forms.push(form);
        Json(
            json!({"access_token": "y0_AgAAAA-test", "expires_in": 31_536_000, "refresh_token": "1:r", "token_type": "bearer"}),
        )
    }
    async fn info(State(seen): State<Shared>, headers: HeaderMap) -> Json<Value> {
        let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        seen.lock().expect("lock").userinfo_authorization.push(authorization);
        Json(json!({
            "id": "1000034426",
            "login": "ivan",
            "client_id": "4760187d81bc4b7799476b42b5103713",
            "display_name": "Ivan",
            "real_name": "Ivan Ivanov",
            "default_email": "ivan@yandex.ru",
            "emails": ["ivan@yandex.ru", "ivan.other@yandex.ru"],
            "psuid": "1.AAceCw.tbHgw5DtJ9_zeqPrk-Ba2w.qPWSRC5v2t2IaksPJgnge"
        }))
    }
    serve(Router::new().route("/token", post(token)).route("/info", get(info)).with_state(seen)).await
}

/// VK ID: `POST /oauth2/auth` → tokens and user_id; `POST /oauth2/user_info` → `{"user": …}`.
async fn vk_stand_in(seen: Shared) -> String {
    async fn token(State(seen): State<Shared>, Form(form): Form<Vec<(String, String)>>) -> Json<Value> {
        let state = form.iter().find(|(n, _)| n == "state").map(|(_, v)| v.clone()).unwrap_or_default();
        seen.lock().expect("lock").token_forms.push(form);
        Json(json!({
            "refresh_token": "vk2.a.r", "access_token": "vk2.a.access", "id_token": "eyJ.e.s",
            "token_type": "Bearer", "expires_in": 3600, "user_id": 1_234_567_890, "state": state, "scope": "vkid.personal_info email"
        }))
    }
    async fn user_info(State(seen): State<Shared>, Form(form): Form<Vec<(String, String)>>) -> Json<Value> {
        seen.lock().expect("lock").userinfo_forms.push(form);
        Json(json!({"user": {
            "user_id": "1234567890", "first_name": "Ivan", "last_name": "Ivanov", "avatar": "https://example.invalid/a.jpg",
            "email": "ivan@vk.example", "sex": 2, "verified": false, "birthday": "01.01.2000"
        }}))
    }
    serve(Router::new().route("/oauth2/auth", post(token)).route("/oauth2/user_info", post(user_info)).with_state(seen))
        .await
}

fn plain(base: &str, client_id: &str, authorize: &str, token: &str, userinfo: &str) -> PlainOAuthSettings {
    PlainOAuthSettings {
        client_id: client_id.to_owned(),
        client_secret: Some(secrecy::SecretString::from("stand-in-secret")),
        authorize_url: Url::parse(&format!("{base}{authorize}")).expect("url"),
        token_url: Url::parse(&format!("{base}{token}")).expect("url"),
        userinfo_url: Url::parse(&format!("{base}{userinfo}")).expect("url"),
    }
}

struct Setup {
    app: TestApp,
    yandex: Shared,
    vk: Shared,
}

async fn setup(pool: PgPool, callback_limit: Option<RateLimit>) -> Setup {
    let yandex = Shared::default();
    let vk = Shared::default();
    let yandex_base = yandex_stand_in(yandex.clone()).await;
    let vk_base = vk_stand_in(vk.clone()).await;
    let mut auth = test_auth_settings();
    auth.oauth.yandex = Some(plain(&yandex_base, "yandex-app", "/authorize", "/token", "/info?format=json"));
    auth.oauth.vk = Some(plain(&vk_base, "51234567", "/authorize", "/oauth2/auth", "/oauth2/user_info"));
    if let Some(limit) = callback_limit {
        auth.rate_limits.oauth_callback = limit;
    }
    let app = spawn_app_with(pool, TestOptions { auth: Some(auth), ..TestOptions::default() }).await;
    Setup { app, yandex, vk }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// `GET /start` for `provider`; the authorization URL's query as pairs.
async fn start(app: &TestApp, provider: &str) -> (Url, Vec<(String, String)>) {
    let response = browser().get(app.url(&format!("/v1/auth/oauth/{provider}/start"))).send().await.expect("start");
    assert_eq!(response.status(), 302);
    let url = Url::parse(response.headers()["location"].to_str().expect("location")).expect("url");
    let query = url.query_pairs().map(|(n, v)| (n.into_owned(), v.into_owned())).collect();
    (url, query)
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name}"))
}

#[sqlx::test]
async fn yandex_sign_in_sends_the_pkce_verifier_and_maps_the_user_with_an_unverified_email(pool: PgPool) {
    let setup = setup(pool, None).await;
    let app = &setup.app;
    let (url, query) = start(app, "yandex").await;
    assert!(url.as_str().contains("/authorize?"));
    assert_eq!(param(&query, "client_id"), "yandex-app");
    assert_eq!(param(&query, "response_type"), "code");
    assert_eq!(param(&query, "code_challenge_method"), "S256");
    assert_eq!(param(&query, "redirect_uri"), app.url("/v1/auth/oauth/yandex/callback"));
    let state = param(&query, "state");

    let response = browser()
        .get(app.url(&format!("/v1/auth/oauth/yandex/callback?code=4%2F0code&state={state}")))
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.expect("json");
    let me: Value =
        app.get_with("/v1/me", tokens["access_token"].as_str().expect("access")).await.json().await.expect("json");
    assert_eq!(me["email"], "ivan@yandex.ru");
    assert_eq!(me["email_verified"], false, "Yandex reports no verified flag");

    {
        let seen = setup.yandex.lock().expect("lock");
        let form = &seen.token_forms[0];
        assert_eq!(param(form, "grant_type"), "authorization_code");
        assert_eq!(param(form, "code"), "4/0code");
        assert_eq!(pkce_challenge(param(form, "code_verifier")), param(&query, "code_challenge"));
        assert_eq!(seen.userinfo_authorization, vec!["OAuth y0_AgAAAA-test".to_owned()]);
    }
    let subject: String = sqlx::query_scalar("select subject from account_identity where provider = 'yandex'")
        .fetch_one(&app.pool)
        .await
        .expect("identity");
    assert_eq!(subject, "1000034426");
}

#[sqlx::test]
async fn a_yandex_email_that_belongs_to_an_account_is_not_linked_by_default(pool: PgPool) {
    let setup = setup(pool, None).await;
    let app = &setup.app;
    app.register("ivan@yandex.ru").await;
    let (_, query) = start(app, "yandex").await;
    let state = param(&query, "state");
    let response = browser()
        .get(app.url(&format!("/v1/auth/oauth/yandex/callback?code=c&state={state}")))
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), 409);
    assert_eq!(error_code(response).await, "email_unverified");
}

#[sqlx::test]
async fn vk_sign_in_sends_the_verifier_and_device_id_and_maps_the_user(pool: PgPool) {
    let setup = setup(pool, None).await;
    let app = &setup.app;
    let (_, query) = start(app, "vk").await;
    assert_eq!(param(&query, "client_id"), "51234567");
    assert_eq!(param(&query, "scope"), "email");
    let state = param(&query, "state").to_owned();

    // VK ID sends the device id along with the code; Apple-style form posts work as well.
    let response = browser()
        .post(app.url("/v1/auth/oauth/vk/callback"))
        .form(&[("code", "vk-code"), ("state", state.as_str()), ("device_id", "device-42"), ("type", "code_v2")])
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.expect("json");
    let me: Value =
        app.get_with("/v1/me", tokens["access_token"].as_str().expect("access")).await.json().await.expect("json");
    assert_eq!(me["email"], "ivan@vk.example");
    assert_eq!(me["email_verified"], false);

    {
        let seen = setup.vk.lock().expect("lock");
        let form = &seen.token_forms[0];
        assert_eq!(param(form, "grant_type"), "authorization_code");
        assert_eq!(param(form, "code"), "vk-code");
        assert_eq!(param(form, "device_id"), "device-42");
        assert_eq!(param(form, "client_id"), "51234567");
        assert_eq!(param(form, "state"), state);
        assert_eq!(param(form, "redirect_uri"), app.url("/v1/auth/oauth/vk/callback"));
        assert_eq!(pkce_challenge(param(form, "code_verifier")), param(&query, "code_challenge"));
        let info = &seen.userinfo_forms[0];
        assert_eq!(param(info, "access_token"), "vk2.a.access");
        assert_eq!(param(info, "client_id"), "51234567");
    }
    let subject: String = sqlx::query_scalar("select subject from account_identity where provider = 'vk'")
        .fetch_one(&app.pool)
        .await
        .expect("identity");
    assert_eq!(subject, "1234567890");
}

#[sqlx::test]
async fn a_state_started_for_one_provider_cannot_finish_at_another(pool: PgPool) {
    let setup = setup(pool, None).await;
    let app = &setup.app;
    let (_, query) = start(app, "yandex").await;
    let state = param(&query, "state");
    let response = browser()
        .get(app.url(&format!("/v1/auth/oauth/vk/callback?code=c&state={state}&device_id=d")))
        .send()
        .await
        .expect("callback");
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "invalid_oauth_state");
    let unknown = browser().get(app.url("/v1/auth/oauth/google/start")).send().await.expect("start");
    assert_eq!(unknown.status(), 404);
    assert_eq!(error_code(unknown).await, "unknown_provider");
}

#[sqlx::test]
async fn the_callback_is_rate_limited_per_client_address(pool: PgPool) {
    let limit = RateLimit { max: 2, period: Duration::from_secs(60) };
    let setup = setup(pool, Some(limit)).await;
    let app = &setup.app;
    for _ in 0..2 {
        let response =
            browser().get(app.url("/v1/auth/oauth/vk/callback?state=x&code=y")).send().await.expect("callback");
        assert_eq!(error_code(response).await, "invalid_oauth_state");
    }
    let limited = browser().get(app.url("/v1/auth/oauth/vk/callback?state=x&code=y")).send().await.expect("callback");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().get("retry-after").is_some());
    assert_eq!(error_code(limited).await, "rate_limited");
}

#[sqlx::test]
async fn the_sign_in_routes_are_documented_with_their_security(pool: PgPool) {
    let setup = setup(pool, None).await;
    let app = &setup.app;
    let document: Value =
        app.client.get(app.url("/openapi.json")).send().await.expect("request").json().await.expect("json");
    let paths = &document["paths"];
    for (path, method) in [
        ("/v1/auth/oauth/providers", "get"),
        ("/v1/auth/oauth/{provider}/start", "get"),
        ("/v1/auth/oauth/{provider}/callback", "get"),
        ("/v1/auth/oauth/{provider}/callback", "post"),
        ("/v1/auth/oauth/token", "post"),
    ] {
        assert!(paths[path][method].is_object(), "{method} {path} is not documented");
    }
    for (path, method) in
        [("/v1/me/identities", "get"), ("/v1/me/identities/{id}", "post"), ("/v1/me/identities/{id}", "delete")]
    {
        assert_eq!(paths[path][method]["security"], json!([{"bearer": []}]), "{method} {path}");
    }
    let providers: Value =
        app.client.get(app.url("/v1/auth/oauth/providers")).send().await.expect("list").json().await.expect("json");
    let ids: Vec<&str> =
        providers["providers"].as_array().expect("array").iter().map(|p| p["id"].as_str().expect("id")).collect();
    assert_eq!(ids, ["yandex", "vk"]);
}
