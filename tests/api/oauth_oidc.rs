//! External sign-in against a real OpenID Connect provider: panva's `oidc-provider` (a certified
//! implementation) run by Node from `tests/oauth/`, installed by
//! `scripts/install-oauth-provider.sh`. The provider completes its login and consent
//! interactions by itself; the test picks the account through `login_hint` and plays the browser
//! with reqwest, following redirects by hand (with a cookie jar) until the provider sends the
//! browser back to Lectern's callback.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::helpers::{TestApp, TestOptions, error_code, free_port, spawn_app_with, test_auth_settings};
use lectern::auth::{AuthSettings, OidcClientSettings};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::io::{AsyncBufReadExt, BufReader};
use url::Url;

const CLIENT_ID: &str = "lectern-test";
const CLIENT_SECRET: &str = "lectern-test-secret";

/// The Node provider process; killed when dropped.
struct OidcProvider {
    _child: tokio::process::Child,
}

fn provider_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/oauth")
}

/// Starts the provider on `port` with one client whose redirect URI is Lectern's callback.
async fn start_provider(port: u16, redirect_uri: &str, tamper: Option<&str>) -> OidcProvider {
    let dir = provider_dir();
    assert!(
        dir.join("node_modules/oidc-provider/package.json").exists(),
        "oidc-provider is not installed in {}: run scripts/install-oauth-provider.sh (needs Node 20+ and npm)",
        dir.display()
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg("provider.mjs")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("CLIENT_ID", CLIENT_ID)
        .env("CLIENT_SECRET", CLIENT_SECRET)
        .env("REDIRECT_URI", redirect_uri)
        .env("TAMPER", tamper.unwrap_or_default())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    let mut child = command
        .spawn()
        .unwrap_or_else(|error| panic!("cannot run `node` for the OpenID provider test ({error}); install Node 20+"));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut lines = BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(line) = lines.next_line().await.expect("provider output") {
            if line.starts_with("ready ") {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(ready, "the OpenID provider (tests/oauth/provider.mjs) did not start");
    // Keep draining its output so the pipe never fills.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    OidcProvider { _child: child }
}

/// A Lectern with the generic OpenID provider enabled, and that provider running.
struct Setup {
    app: TestApp,
    _provider: OidcProvider,
}

fn client_settings(port: u16, display_name: &str) -> OidcClientSettings {
    OidcClientSettings {
        issuer: Url::parse(&format!("http://127.0.0.1:{port}")).expect("url"),
        client_id: CLIENT_ID.to_owned(),
        client_secret: Some(SecretString::from(CLIENT_SECRET)),
        display_name: display_name.to_owned(),
    }
}

/// Lectern with `configure` applied to its identity settings (given the provider's port), and
/// the provider accepting the callbacks of `providers`.
async fn setup_custom(
    pool: PgPool,
    tamper: Option<&str>,
    providers: &[&str],
    configure: impl FnOnce(&mut AuthSettings, u16),
) -> Setup {
    let port = free_port();
    let mut auth = test_auth_settings();
    configure(&mut auth, port);
    // Discovery is read lazily, so Lectern can start before the provider that needs its port.
    let app = spawn_app_with(pool, TestOptions { auth: Some(auth), ..TestOptions::default() }).await;
    let callbacks: Vec<String> = providers.iter().map(|p| app.url(&format!("/v1/auth/oauth/{p}/callback"))).collect();
    let provider = start_provider(port, &callbacks.join(","), tamper).await;
    Setup { app, _provider: provider }
}

async fn setup_with(pool: PgPool, tamper: Option<&str>) -> Setup {
    setup_custom(pool, tamper, &["oidc"], |auth, port| auth.oauth.oidc = Some(client_settings(port, "Test provider")))
        .await
}

async fn setup(pool: PgPool) -> Setup {
    setup_with(pool, None).await
}

/// A browser without automatic redirects.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

/// Plays the browser from a provider authorization URL (as Lectern made it) until the provider
/// redirects back to Lectern; returns that callback URL without requesting it. `login_hint`
/// (`sub~email~verified`) picks the account the provider signs in.
async fn authorize(app: &TestApp, authorize_url: &str, login_hint: &str) -> Url {
    let browser = browser();
    let mut url = Url::parse(authorize_url).expect("authorize url");
    url.query_pairs_mut().append_pair("login_hint", login_hint);
    let mut cookies: HashMap<String, String> = HashMap::new();
    for _ in 0..20 {
        if url.as_str().starts_with(&app.address) {
            return url;
        }
        let cookie_header =
            cookies.iter().map(|(name, value)| format!("{name}={value}")).collect::<Vec<_>>().join("; ");
        let response = browser.get(url.clone()).header("cookie", cookie_header).send().await.expect("provider request");
        for set_cookie in response.headers().get_all("set-cookie") {
            let text = set_cookie.to_str().expect("ascii cookie");
            if let Some((name, rest)) = text.split_once('=') {
                cookies.insert(name.to_owned(), rest.split(';').next().unwrap_or_default().to_owned());
            }
        }
        assert!(response.status().is_redirection(), "the provider answered {} at {url}", response.status());
        let location = response.headers()["location"].to_str().expect("location");
        url = url.join(location).expect("redirect target");
    }
    panic!("the provider never redirected back to Lectern");
}

/// `GET /start` and the provider's authorization URL it redirects to.
async fn start(app: &TestApp, query: &str) -> String {
    start_at(app, "oidc", query).await
}

async fn start_at(app: &TestApp, provider: &str, query: &str) -> String {
    let response =
        browser().get(app.url(&format!("/v1/auth/oauth/{provider}/start{query}"))).send().await.expect("start");
    assert_eq!(response.status(), 302);
    response.headers()["location"].to_str().expect("location").to_owned()
}

/// The whole sign-in without `return_to`: the callback's response (tokens as JSON on success).
async fn sign_in(app: &TestApp, login_hint: &str) -> reqwest::Response {
    let authorize_url = start(app, "").await;
    let callback = authorize(app, &authorize_url, login_hint).await;
    browser().get(callback).send().await.expect("callback")
}

async fn signed_in_tokens(app: &TestApp, login_hint: &str) -> Value {
    let response = sign_in(app, login_hint).await;
    assert_eq!(response.status(), 200, "sign-in should succeed");
    response.json().await.expect("token pair")
}

async fn me(app: &TestApp, access: &str) -> Value {
    let response = app.get_with("/v1/me", access).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

#[sqlx::test]
async fn a_first_sign_in_creates_a_learner_and_the_next_one_signs_into_the_same_account(pool: PgPool) {
    let setup = setup(pool).await;
    let app = &setup.app;
    let providers: Value =
        app.client.get(app.url("/v1/auth/oauth/providers")).send().await.expect("list").json().await.expect("json");
    assert_eq!(providers["providers"][0]["id"], "oidc");
    assert_eq!(providers["providers"][0]["name"], "Test provider");

    let tokens = signed_in_tokens(app, "ada-1~Ada@Example.com~true").await;
    assert_eq!(tokens["token_type"], "Bearer");
    let account = me(app, tokens["access_token"].as_str().expect("access")).await;
    assert_eq!(account["email"], "ada@example.com");
    assert_eq!(account["email_verified"], true);
    assert_eq!(account["roles"], json!(["learner"]));
    let password: Option<String> =
        sqlx::query_scalar("select password_hash from account").fetch_one(&app.pool).await.expect("row");
    assert!(password.is_none(), "an account made by a provider has no password");

    let again = signed_in_tokens(app, "ada-1~Ada@Example.com~true").await;
    let same = me(app, again["access_token"].as_str().expect("access")).await;
    assert_eq!(same["account_id"], account["account_id"]);
    let (accounts, identities): (i64, i64) =
        sqlx::query_as("select (select count(*) from account), (select count(*) from account_identity)")
            .fetch_one(&app.pool)
            .await
            .expect("counts");
    assert_eq!((accounts, identities), (1, 1));
    // The refresh token works like any other.
    assert_eq!(app.refresh(tokens["refresh_token"].as_str().expect("refresh")).await.status(), 200);
}

#[sqlx::test]
async fn a_verified_email_links_the_identity_to_the_existing_password_account(pool: PgPool) {
    let setup = setup(pool).await;
    let app = &setup.app;
    let registered = app.register("grace@example.com").await;
    let tokens = signed_in_tokens(app, "grace-7~grace@example.com~true").await;
    let account = me(app, tokens["access_token"].as_str().expect("access")).await;
    assert_eq!(account["account_id"], registered["account"]["account_id"]);
    assert_eq!(account["email_verified"], true, "the provider's verification is recorded");
    let listed = app.get_with("/v1/me/identities", tokens["access_token"].as_str().expect("access")).await;
    let listed: Value = listed.json().await.expect("json");
    assert_eq!(listed["identities"][0]["provider"], "oidc");
    assert_eq!(listed["identities"][0]["email"], "grace@example.com");
}

#[sqlx::test]
async fn an_unverified_email_of_an_existing_account_is_refused_without_linking_or_duplicating(pool: PgPool) {
    let setup = setup(pool).await;
    let app = &setup.app;
    app.register("linus@example.com").await;
    let response = sign_in(app, "mallory-1~linus@example.com~false").await;
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["code"], "email_unverified");
    assert!(body["error"]["message"].as_str().expect("message").contains("/v1/me/identities"));
    let (accounts, identities): (i64, i64) =
        sqlx::query_as("select (select count(*) from account), (select count(*) from account_identity)")
            .fetch_one(&app.pool)
            .await
            .expect("counts");
    assert_eq!((accounts, identities), (1, 0));
}

#[sqlx::test]
async fn an_id_token_with_another_nonce_is_refused(pool: PgPool) {
    let setup = setup(pool).await;
    let app = &setup.app;
    let authorize_url = start(app, "").await;
    let callback = authorize(app, &authorize_url, "eve-1~eve@example.com~true").await;
    sqlx::query("update oauth_flow set nonce = 'not-the-nonce-the-provider-saw'")
        .execute(&app.pool)
        .await
        .expect("update");
    let response = browser().get(callback).send().await.expect("callback");
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "invalid_id_token");
    let accounts: i64 = sqlx::query_scalar("select count(*) from account").fetch_one(&app.pool).await.expect("count");
    assert_eq!(accounts, 0);
}

#[sqlx::test]
async fn an_id_token_with_a_tampered_signature_is_refused(pool: PgPool) {
    let setup = setup_with(pool, Some("id_token_signature")).await;
    let app = &setup.app;
    let response = sign_in(app, "eve-2~eve@example.com~true").await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "invalid_id_token");
}

#[sqlx::test]
async fn a_state_works_once(pool: PgPool) {
    let setup = setup(pool).await;
    let app = &setup.app;
    let authorize_url = start(app, "").await;
    let callback = authorize(app, &authorize_url, "ada-2~ada2@example.com~true").await;
    assert_eq!(browser().get(callback.clone()).send().await.expect("callback").status(), 200);
    let replay = browser().get(callback).send().await.expect("callback again");
    assert_eq!(replay.status(), 400);
    assert_eq!(error_code(replay).await, "invalid_oauth_state");

    let unknown =
        browser().get(app.url("/v1/auth/oauth/oidc/callback?state=made-up&code=x")).send().await.expect("request");
    assert_eq!(unknown.status(), 400);
    assert_eq!(error_code(unknown).await, "invalid_oauth_state");
}

#[sqlx::test]
async fn the_pkce_verifier_is_sent_and_checked_by_the_provider(pool: PgPool) {
    let setup = setup(pool).await;
    let app = &setup.app;
    let authorize_url = start(app, "").await;
    let challenge = Url::parse(&authorize_url)
        .expect("url")
        .query_pairs()
        .find(|(name, _)| name == "code_challenge")
        .map(|(_, value)| value.into_owned())
        .expect("a code_challenge");
    let stored: String =
        sqlx::query_scalar("select pkce_verifier from oauth_flow").fetch_one(&app.pool).await.expect("flow");
    assert_eq!(lectern::auth::oauth::pkce_challenge(&stored), challenge, "S256 of the stored verifier");
    let callback = authorize(app, &authorize_url, "pat-1~pat@example.com~true").await;
    // Another verifier than the one whose challenge the provider saw: oidc-provider refuses it.
    sqlx::query("update oauth_flow set pkce_verifier = repeat('x', 43)").execute(&app.pool).await.expect("update");
    let response = browser().get(callback).send().await.expect("callback");
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "oauth_provider_error");
}

#[sqlx::test]
async fn with_return_to_the_app_gets_a_single_use_login_code_and_never_tokens_in_the_url(pool: PgPool) {
    let setup = setup(pool).await;
    let app = &setup.app;
    let return_to = app.url("/app/signed-in?tab=1");
    let authorize_url = start(app, &format!("?return_to={}", urlencode(&return_to))).await;
    let callback = authorize(app, &authorize_url, "kim-1~kim@example.com~true").await;
    let response = browser().get(callback).send().await.expect("callback");
    assert_eq!(response.status(), 303);
    let location = Url::parse(response.headers()["location"].to_str().expect("location")).expect("url");
    assert!(location.as_str().starts_with(&app.url("/app/signed-in?tab=1&login_code=")), "{location}");
    assert!(!location.as_str().contains("access_token") && !location.as_str().contains("refresh_token"));
    let code = location.query_pairs().find(|(name, _)| name == "login_code").expect("login_code").1.into_owned();

    let exchanged = app.post_json("/v1/auth/oauth/token", json!({"login_code": code})).await;
    assert_eq!(exchanged.status(), 200);
    let tokens: Value = exchanged.json().await.expect("json");
    assert_eq!(me(app, tokens["access_token"].as_str().expect("access")).await["email"], "kim@example.com");
    let again = app.post_json("/v1/auth/oauth/token", json!({"login_code": code})).await;
    assert_eq!(again.status(), 400);
    assert_eq!(error_code(again).await, "invalid_login_code");

    let foreign = browser()
        .get(app.url(&format!("/v1/auth/oauth/oidc/start?return_to={}", urlencode("https://evil.example/x"))))
        .send()
        .await
        .expect("start");
    assert_eq!(foreign.status(), 400);
    assert_eq!(error_code(foreign).await, "invalid_return_to");
}

#[sqlx::test]
async fn errors_go_back_to_return_to_and_a_cancelled_sign_in_is_oauth_denied(pool: PgPool) {
    let setup = setup(pool).await;
    let app = &setup.app;
    app.register("zoe@example.com").await;
    let return_to = app.url("/app/done");
    let authorize_url = start(app, &format!("?return_to={}", urlencode(&return_to))).await;
    let callback = authorize(app, &authorize_url, "zoe-x~zoe@example.com~false").await;
    let response = browser().get(callback).send().await.expect("callback");
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], app.url("/app/done?error=email_unverified").as_str());

    let authorize_url = start(app, "").await;
    let state = Url::parse(&authorize_url)
        .expect("url")
        .query_pairs()
        .find(|(n, _)| n == "state")
        .expect("state")
        .1
        .into_owned();
    let denied = browser()
        .get(app.url(&format!("/v1/auth/oauth/oidc/callback?error=access_denied&state={state}")))
        .send()
        .await
        .expect("callback");
    assert_eq!(denied.status(), 400);
    assert_eq!(error_code(denied).await, "oauth_denied");
}

#[sqlx::test]
async fn identities_are_linked_from_a_session_and_the_last_way_in_cannot_be_unlinked(pool: PgPool) {
    let setup = setup(pool).await;
    let app = &setup.app;
    // A provider-only account: one identity, no password.
    let tokens = signed_in_tokens(app, "solo-1~solo@example.com~true").await;
    let access = tokens["access_token"].as_str().expect("access").to_owned();
    let listed: Value = app.get_with("/v1/me/identities", &access).await.json().await.expect("json");
    let first_id = listed["identities"][0]["identity_id"].as_str().expect("id").to_owned();
    let unlink = |id: String| {
        let access = access.clone();
        async move {
            app.client
                .delete(app.url(&format!("/v1/me/identities/{id}")))
                .bearer_auth(access)
                .send()
                .await
                .expect("delete")
        }
    };
    let refused = unlink(first_id.clone()).await;
    assert_eq!(refused.status(), 409);
    assert_eq!(error_code(refused).await, "last_sign_in_method");

    // Link a second identity (another subject at the same provider) from the signed-in session.
    let link = app.client.post(app.url("/v1/me/identities/oidc")).bearer_auth(&access).send().await.expect("link");
    assert_eq!(link.status(), 200);
    let authorize_url = link.json::<Value>().await.expect("json")["authorize_url"].as_str().expect("url").to_owned();
    let callback = authorize(app, &authorize_url, "solo-2~other-address@example.com~false").await;
    let linked = browser().get(callback).send().await.expect("callback");
    assert_eq!(linked.status(), 200, "an unverified email does not matter when linking from a session");
    let listed: Value = app.get_with("/v1/me/identities", &access).await.json().await.expect("json");
    assert_eq!(listed["identities"].as_array().expect("array").len(), 2);

    // Someone else's identity cannot be linked.
    let other = signed_in_tokens(app, "other-1~other@example.com~true").await;
    let link = app.client.post(app.url("/v1/me/identities/oidc")).bearer_auth(&access).send().await.expect("link");
    let authorize_url = link.json::<Value>().await.expect("json")["authorize_url"].as_str().expect("url").to_owned();
    let callback = authorize(app, &authorize_url, "other-1~other@example.com~true").await;
    let stolen = browser().get(callback).send().await.expect("callback");
    assert_eq!(stolen.status(), 409);
    assert_eq!(error_code(stolen).await, "identity_in_use");
    drop(other);

    // With two identities, one may go; then the other is the last way in again.
    assert_eq!(unlink(first_id).await.status(), 204);
    let listed: Value = app.get_with("/v1/me/identities", &access).await.json().await.expect("json");
    let remaining = listed["identities"][0]["identity_id"].as_str().expect("id").to_owned();
    assert_eq!(error_code(unlink(remaining).await).await, "last_sign_in_method");
    assert_eq!(unlink(uuid::Uuid::new_v4().to_string()).await.status(), 404);
}

#[sqlx::test]
async fn an_account_with_a_password_may_unlink_its_only_identity(pool: PgPool) {
    let setup = setup(pool).await;
    let app = &setup.app;
    app.register("pw@example.com").await;
    let tokens = signed_in_tokens(app, "pw-1~pw@example.com~true").await;
    let access = tokens["access_token"].as_str().expect("access");
    let listed: Value = app.get_with("/v1/me/identities", access).await.json().await.expect("json");
    let id = listed["identities"][0]["identity_id"].as_str().expect("id");
    let response = app
        .client
        .delete(app.url(&format!("/v1/me/identities/{id}")))
        .bearer_auth(access)
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 204);
}

#[sqlx::test]
async fn google_can_be_pointed_at_another_issuer_and_its_identities_are_its_own(pool: PgPool) {
    let setup = setup_custom(pool, None, &["google", "oidc"], |auth, port| {
        auth.oauth.google = Some(client_settings(port, "Google"));
        auth.oauth.oidc = Some(client_settings(port, "Test provider"));
    })
    .await;
    let app = &setup.app;
    let providers: Value =
        app.client.get(app.url("/v1/auth/oauth/providers")).send().await.expect("list").json().await.expect("json");
    let names: Vec<&str> =
        providers["providers"].as_array().expect("array").iter().map(|p| p["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["Google", "Test provider"]);

    let authorize_url = start_at(app, "google", "").await;
    let callback = authorize(app, &authorize_url, "g-1~g@example.com~true").await;
    assert!(callback.path().ends_with("/v1/auth/oauth/google/callback"));
    let response = browser().get(callback).send().await.expect("callback");
    assert_eq!(response.status(), 200);
    // The same subject at another provider is another identity (of the same, verified, email).
    let tokens = signed_in_tokens(app, "g-1~g@example.com~true").await;
    let listed: Value = app
        .get_with("/v1/me/identities", tokens["access_token"].as_str().expect("access"))
        .await
        .json()
        .await
        .expect("json");
    let mut providers: Vec<&str> = listed["identities"]
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["provider"].as_str().expect("provider"))
        .collect();
    providers.sort_unstable();
    assert_eq!(providers, ["google", "oidc"]);
}

#[sqlx::test]
async fn an_expired_state_is_refused(pool: PgPool) {
    let setup = setup(pool).await;
    let app = &setup.app;
    let authorize_url = start(app, "").await;
    let callback = authorize(app, &authorize_url, "late-1~late@example.com~true").await;
    sqlx::query("update oauth_flow set expires_at = now() - interval '1 second'")
        .execute(&app.pool)
        .await
        .expect("update");
    let response = browser().get(callback).send().await.expect("callback");
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "invalid_oauth_state");
}

fn urlencode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
