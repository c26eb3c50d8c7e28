//! The LTI 1.3 tool, driven the way LMS platforms drive it: a launch from the third-party
//! `lti-provider-mock` platform (login initiation, authorization redirect, RS256 id_token form
//! post) that signs the user in and enrols them without any cookie towards Lectern; every check
//! of a launch refused with its own code by a test platform that speaks the same wire protocol
//! (`helpers::lti`); key rotation through the platform's JWKS; and deep linking, whose signed
//! response is verified with PyJWT against the tool's published key set.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::lti::{self, CLIENT_ID, DEPLOYMENT_ID, ISSUER, SigningKey};
use crate::helpers::{TestApp, TestOptions, account_with_roles, error_code, free_port, spawn_app, spawn_app_with};

fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/lti-venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: the LTI tests need the Python stand-ins; run `bash scripts/install-lti-tools.sh`",
        python.display()
    );
    python
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lti").join(name)
}

async fn admin(app: &TestApp) -> String {
    account_with_roles(app, "admin@example.com", &["learner", "admin"]).await.1
}

/// A published course of an instructor with one text lesson: (course_id, lesson_id).
async fn published_course(app: &TestApp, title: &str) -> (Uuid, Uuid) {
    let (course_id, lessons) = course_with_lessons(app, title, 1).await;
    (course_id, lessons[0])
}

/// A published course of an instructor with `n` text lessons.
async fn course_with_lessons(app: &TestApp, title: &str, n: usize) -> (Uuid, Vec<Uuid>) {
    let instructor = account_with_roles(
        app,
        &format!("teacher-{}@example.com", Uuid::new_v4().simple()),
        &["learner", "instructor"],
    )
    .await
    .1;
    let post = |path: String, body: Value| {
        let request = app.client.post(app.url(&path)).bearer_auth(&instructor).json(&body);
        async move {
            let response = request.send().await.expect("request");
            let status = response.status();
            let body: Value = response.json().await.expect("json");
            assert!(status.is_success(), "{path}: {status} {body}");
            body
        }
    };
    let course = post("/v1/courses".to_owned(), json!({"title": title})).await;
    let course_id: Uuid = course["course_id"].as_str().expect("id").parse().expect("uuid");
    let section = post(format!("/v1/courses/{course_id}/sections"), json!({"title": "Week 1"})).await;
    let section_id = section["section_id"].as_str().expect("id");
    let mut lessons = Vec::new();
    for n in 0..n {
        let title = if n == 0 { "Reading".to_owned() } else { format!("Reading {}", n + 1) };
        let lesson = post(
            format!("/v1/sections/{section_id}/lessons"),
            json!({"title": title, "kind": "text", "body": "Read this."}),
        )
        .await;
        lessons.push(lesson["lesson_id"].as_str().expect("id").parse().expect("uuid"));
    }
    post(format!("/v1/courses/{course_id}/publish"), json!({})).await;
    (course_id, lessons)
}

fn landing_app_options() -> TestOptions {
    TestOptions {
        lti: Some(lectern::lti::LtiSettings {
            landing_url: Some(url::Url::parse("https://player.example.com/lesson?theme=dark").expect("url")),
            ..lectern::lti::LtiSettings::default()
        }),
        ..TestOptions::default()
    }
}

/// lti-provider-mock served by uvicorn on a free port, configured for `app`.
struct MockPlatform {
    base: String,
    _child: tokio::process::Child,
}

async fn start_mock(app: &TestApp, issuer: &str, launch_path: &str) -> MockPlatform {
    let port = free_port();
    let child = tokio::process::Command::new(venv_python())
        .args(["-m", "uvicorn", "lti_provider_mock.server:app", "--host", "127.0.0.1", "--port", &port.to_string()])
        .env("LTI_PROVIDER_MOCK__LTI__ISS", issuer)
        .env("LTI_PROVIDER_MOCK__LTI__LOGIN_URL", app.url("/lti/login"))
        .env("LTI_PROVIDER_MOCK__LTI__LAUNCH_URL", app.url(launch_path))
        .env(
            "LTI_PROVIDER_MOCK__USERS",
            r#"[{"id":"mock-user-1","given_name":"Grace","family_name":"Hopper","email":"grace@example.edu"}]"#,
        )
        .env("LTI_PROVIDER_MOCK__COURSES", r#"[{"id":"physics","name":"Physics 101"}]"#)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("uvicorn starts");
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..100 {
        if reqwest::get(format!("{base}/jwks")).await.is_ok_and(|r| r.status().is_success()) {
            return MockPlatform { base, _child: child };
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("lti-provider-mock did not start on {base}");
}

async fn mock_launch(mock: &MockPlatform) -> Value {
    let output = tokio::process::Command::new(venv_python())
        .arg(script("mock_launch.py"))
        .args([mock.base.as_str(), "mock-user-1", "physics"])
        .output()
        .await
        .expect("the driver runs");
    assert!(output.status.success(), "mock_launch.py failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).expect("one JSON object")
}

async fn register_mock(app: &TestApp, admin: &str, mock: &MockPlatform, issuer: &str) -> Value {
    let response = app
        .client
        .post(app.url("/v1/lti/platforms"))
        .bearer_auth(admin)
        .json(&json!({
            "name": "lti-provider-mock",
            "issuer": issuer,
            "client_id": "lti-provider-mock",
            "deployment_ids": ["1"],
            "auth_login_url": format!("{}/authorize", mock.base),
            "auth_token_url": format!("{}/token", mock.base),
            "jwks_url": format!("{}/jwks", mock.base),
        }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

#[sqlx::test]
async fn a_launch_from_lti_provider_mock_signs_the_user_in_and_enrols_them_without_cookies(pool: PgPool) {
    let app = spawn_app_with(pool, landing_app_options()).await;
    let admin = admin(&app).await;
    let (course_id, _) = published_course(&app, "Physics 101").await;
    let issuer = "https://mock-lms.example.org";
    let mock = start_mock(&app, issuer, &format!("/lti/launch?course_id={course_id}")).await;
    register_mock(&app, &admin, &mock, issuer).await;

    let launched = mock_launch(&mock).await;
    assert_eq!(launched["stage"], "launch", "{launched}");
    // Lectern sent the browser to the platform's authorization endpoint with the OIDC parameters
    // LTI requires.
    let authorize = url::Url::parse(launched["authorize"].as_str().expect("authorize")).expect("url");
    let query: std::collections::HashMap<String, String> = authorize.query_pairs().into_owned().collect();
    assert_eq!(query["scope"], "openid");
    assert_eq!(query["response_type"], "id_token");
    assert_eq!(query["response_mode"], "form_post");
    assert_eq!(query["prompt"], "none");
    assert_eq!(query["client_id"], "lti-provider-mock");
    assert_eq!(query["redirect_uri"], app.url("/lti/launch"));
    assert_eq!(query["lti_message_hint"], "test");
    assert!(query["state"].len() >= 43 && query["nonce"].len() >= 43);

    assert_eq!(launched["status"], 303, "{launched}");
    let location = url::Url::parse(launched["location"].as_str().expect("location")).expect("url");
    assert_eq!(location.host_str(), Some("player.example.com"));
    let landing: std::collections::HashMap<String, String> = location.query_pairs().into_owned().collect();
    assert_eq!(landing["theme"], "dark", "the landing page's own query is kept");
    assert_eq!(landing["course_id"], course_id.to_string());
    assert!(!landing.contains_key("lesson_id"));

    // The landing page trades the code for tokens: no second login.
    let tokens: Value = app
        .post_json("/v1/auth/oauth/token", json!({"login_code": landing["login_code"]}))
        .await
        .json()
        .await
        .expect("json");
    let access = tokens["access_token"].as_str().expect("an access token");
    let me: Value = app.get_with("/v1/me", access).await.json().await.expect("json");
    let account_id: Uuid = me["account_id"].as_str().unwrap_or_else(|| panic!("{me}")).parse().expect("uuid");
    // Linked by platform and sub, never by the email the platform showed.
    assert!(me["email"].as_str().expect("email").ends_with("@lti.invalid"), "{me}");
    let (source, status): (String, String) =
        sqlx::query_as("select source, status from enrollment where course_id = $1 and account_id = $2")
            .bind(course_id)
            .bind(account_id)
            .fetch_one(&app.pool)
            .await
            .expect("an enrolment");
    assert_eq!((source.as_str(), status.as_str()), ("lti", "active"));
    let subject: String = sqlx::query_scalar("select subject from lti_identity where account_id = $1")
        .bind(account_id)
        .fetch_one(&app.pool)
        .await
        .expect("the link");
    assert_eq!(subject, "mock-user-1");

    // A second launch of the same user signs in the same account; the code is single-use.
    let again = mock_launch(&mock).await;
    assert_eq!(again["status"], 303, "{again}");
    let location = url::Url::parse(again["location"].as_str().expect("location")).expect("url");
    let code = location.query_pairs().find(|(k, _)| k == "login_code").expect("code").1.into_owned();
    let tokens: Value =
        app.post_json("/v1/auth/oauth/token", json!({"login_code": code})).await.json().await.expect("json");
    let me_again: Value =
        app.get_with("/v1/me", tokens["access_token"].as_str().expect("token")).await.json().await.expect("json");
    assert_eq!(me_again["account_id"], me["account_id"]);
    let spent = app.post_json("/v1/auth/oauth/token", json!({"login_code": code})).await;
    assert_eq!(error_code(spent).await, "invalid_login_code");
    let accounts: i64 = sqlx::query_scalar("select count(*) from lti_identity").fetch_one(&app.pool).await.expect("n");
    assert_eq!(accounts, 1);
}

#[sqlx::test]
async fn registering_a_platform_is_for_administrators_and_checks_every_field(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = admin(&app).await;
    let (_, learner) = account_with_roles(&app, "learner@example.com", &["learner"]).await;
    let body = json!({
        "name": "Moodle", "issuer": "https://moodle.example.edu", "client_id": "abc123",
        "deployment_ids": ["1", "1", "2"],
        "auth_login_url": "https://moodle.example.edu/mod/lti/auth.php",
        "auth_token_url": "https://moodle.example.edu/mod/lti/token.php",
        "jwks_url": "https://moodle.example.edu/mod/lti/certs.php",
    });
    let post = |token: &str, body: &Value| app.client.post(app.url("/v1/lti/platforms")).bearer_auth(token).json(body);
    let refused = post(&learner, &body).send().await.expect("request");
    assert_eq!(refused.status(), 403);
    assert_eq!(error_code(refused).await, "forbidden");

    for (field, value) in [
        ("jwks_url", json!("ftp://moodle.example.edu/certs")),
        ("auth_login_url", json!("not a url")),
        ("deployment_ids", json!([])),
        ("issuer", json!(" ")),
        ("client_id", json!("")),
    ] {
        let mut bad = body.clone();
        bad[field] = value;
        let response = post(&admin, &bad).send().await.expect("request");
        assert_eq!(response.status(), 422, "{field}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"]["code"], "invalid_field");
        assert!(error["error"]["message"].as_str().expect("message").contains(field), "{field}: {error}");
    }

    let created = post(&admin, &body).send().await.expect("request");
    assert_eq!(created.status(), 201);
    let created: Value = created.json().await.expect("json");
    assert_eq!(created["deployment_ids"], json!(["1", "2"]), "duplicates are dropped");
    let duplicate = post(&admin, &body).send().await.expect("request");
    assert_eq!(duplicate.status(), 409);
    assert_eq!(error_code(duplicate).await, "lti_platform_exists");

    let id = created["platform_id"].as_str().expect("id");
    let listed: Value = app.get_with("/v1/lti/platforms", &admin).await.json().await.expect("json");
    assert_eq!(listed["platforms"].as_array().expect("list").len(), 1);
    let mut changed = body.clone();
    changed["deployment_ids"] = json!(["3"]);
    let updated: Value = app
        .client
        .put(app.url(&format!("/v1/lti/platforms/{id}")))
        .bearer_auth(&admin)
        .json(&changed)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    assert_eq!(updated["deployment_ids"], json!(["3"]));
    let deleted =
        app.client.delete(app.url(&format!("/v1/lti/platforms/{id}"))).bearer_auth(&admin).send().await.expect("r");
    assert_eq!(deleted.status(), 204);
    let gone = app.get_with(&format!("/v1/lti/platforms/{id}"), &admin).await;
    assert_eq!(gone.status(), 404);

    // The tool's configuration names the URLs an LMS asks for, and its key set is RS256.
    let tool: Value = app.client.get(app.url("/v1/lti/tool")).send().await.expect("r").json().await.expect("json");
    assert_eq!(tool["login_url"], app.url("/lti/login"));
    assert_eq!(tool["launch_url"], app.url("/lti/launch"));
    assert_eq!(tool["jwks_url"], app.url("/lti/jwks"));
    let jwks: Value = app.client.get(app.url("/lti/jwks")).send().await.expect("r").json().await.expect("json");
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert_ne!(jwks["keys"][0]["n"], Value::Null);
}

#[sqlx::test]
async fn every_launch_check_refuses_with_its_own_code(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = admin(&app).await;
    let (course_id, lesson_id) = published_course(&app, "Chemistry").await;
    let platform = lti::start(&app, &admin).await;
    let target = app.url(&format!("/lti/launch?lesson_id={lesson_id}"));

    // A well-formed launch works: the user is signed in and lands on the lesson.
    let login = lti::login(&app, &target).await;
    let claims = lti::resource_link_claims(&login["nonce"], "user-42", &target);
    let good_token = platform.key.sign(&claims);
    let response = lti::launch(&app, &good_token, &login["state"]).await;
    assert_eq!(response.status(), 200);
    let result: Value = response.json().await.expect("json");
    assert_eq!(result["course_id"], course_id.to_string());
    assert_eq!(result["lesson_id"], lesson_id.to_string());
    assert_eq!(result["account_created"], true);
    assert!(result["tokens"]["access_token"].is_string());

    // Replaying the same token, with the same (spent) state or a fresh one, is refused.
    let replay = lti::launch(&app, &good_token, &login["state"]).await;
    assert_eq!(error_code(replay).await, "lti_state_invalid");
    let fresh = lti::login(&app, &target).await;
    let replay = lti::launch(&app, &good_token, &fresh["state"]).await;
    assert_eq!(error_code(replay).await, "lti_nonce_invalid");
    // The same nonce cannot be used twice even when the login's state is right: the platform
    // signs a second token with an already spent nonce.
    let reused = lti::login(&app, &target).await;
    sqlx::query("update lti_login_state set nonce = $1")
        .bind(&login["nonce"])
        .execute(&app.pool)
        .await
        .expect("the state now expects the spent nonce");
    let response = lti::launch(&app, &platform.key.sign(&claims), &reused["state"]).await;
    assert_eq!(error_code(response).await, "lti_nonce_replayed");

    // A launch without state (what a cookie-based tool sees when the cookie was dropped) or
    // with a made-up one.
    let missing = lti::browser().post(app.url("/lti/launch")).form(&[("id_token", good_token.as_str())]).send().await;
    let missing = missing.expect("request");
    assert_eq!(missing.status(), 400);
    assert_eq!(error_code(missing).await, "lti_state_invalid");
    let made_up = lti::launch(&app, &good_token, "not-a-state").await;
    assert_eq!(error_code(made_up).await, "lti_state_invalid");

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let impostor = SigningKey::generate(&platform.key.kid);
    type Tamper = Box<dyn Fn(&mut Value)>;
    let cases: Vec<(&str, u16, Tamper, bool)> = vec![
        ("lti_bad_signature", 401, Box::new(|_| {}), true),
        ("lti_wrong_audience", 401, Box::new(|c| c["aud"] = json!("someone-else")), false),
        ("lti_wrong_audience", 401, Box::new(|c| c["azp"] = json!("someone-else")), false),
        ("lti_wrong_audience", 401, Box::new(|c| c["aud"] = json!([CLIENT_ID, "other"])), false),
        ("lti_wrong_issuer", 401, Box::new(|c| c["iss"] = json!("https://evil.example")), false),
        (
            "lti_token_expired",
            401,
            Box::new(move |c| {
                c["iat"] = json!(now - 900);
                c["exp"] = json!(now - 120);
            }),
            false,
        ),
        ("lti_token_not_yet_valid", 401, Box::new(move |c| c["iat"] = json!(now + 600)), false),
        (
            "lti_deployment_unknown",
            403,
            Box::new(|c| c["https://purl.imsglobal.org/spec/lti/claim/deployment_id"] = json!("deployment-9")),
            false,
        ),
        (
            "lti_version_unsupported",
            400,
            Box::new(|c| c["https://purl.imsglobal.org/spec/lti/claim/version"] = json!("1.1")),
            false,
        ),
        (
            "lti_message_type_unsupported",
            400,
            Box::new(|c| {
                c["https://purl.imsglobal.org/spec/lti/claim/message_type"] = json!("LtiSubmissionReviewRequest");
            }),
            false,
        ),
    ];
    for (code, status, tamper, wrong_key) in cases {
        let login = lti::login(&app, &target).await;
        let mut claims = lti::resource_link_claims(&login["nonce"], "user-43", &target);
        tamper(&mut claims);
        let token = if wrong_key { impostor.sign(&claims) } else { platform.key.sign(&claims) };
        let response = lti::launch(&app, &token, &login["state"]).await;
        assert_eq!(response.status(), status, "{code}");
        assert_eq!(error_code(response).await, code);
    }
    // Nobody was signed in by any of them.
    let identities: i64 =
        sqlx::query_scalar("select count(*) from lti_identity").fetch_one(&app.pool).await.expect("n");
    assert_eq!(identities, 1);

    // Login initiations that name no registration, or a target elsewhere, never redirect.
    let unknown = lti::browser()
        .post(app.url("/lti/login"))
        .form(&[("iss", "https://other.example"), ("login_hint", "x"), ("target_link_uri", target.as_str())])
        .send()
        .await
        .expect("request");
    assert_eq!(unknown.status(), 404);
    assert_eq!(error_code(unknown).await, "lti_platform_unknown");
    let elsewhere = lti::browser()
        .get(app.url("/lti/login"))
        .query(&[
            ("iss", ISSUER),
            ("login_hint", "x"),
            ("target_link_uri", "https://evil.example/phish"),
            ("client_id", CLIENT_ID),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(elsewhere.status(), 400);
    assert_eq!(error_code(elsewhere).await, "lti_login_invalid");
    let wrong_deployment = lti::browser()
        .get(app.url("/lti/login"))
        .query(&[
            ("iss", ISSUER),
            ("login_hint", "x"),
            ("target_link_uri", target.as_str()),
            ("lti_deployment_id", "nope"),
        ])
        .send()
        .await
        .expect("request");
    assert_eq!(error_code(wrong_deployment).await, "lti_deployment_unknown");
}

async fn launch_with(app: &TestApp, target: &str, key: &SigningKey, sub: &str) -> reqwest::Response {
    let login = lti::login(app, target).await;
    let token = key.sign(&lti::resource_link_claims(&login["nonce"], sub, target));
    lti::launch(app, &token, &login["state"]).await
}

#[sqlx::test]
async fn an_unknown_kid_reads_the_platform_key_set_again_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = admin(&app).await;
    let (course_id, _) = published_course(&app, "Biology").await;
    let platform = lti::start(&app, &admin).await;
    let target = app.url(&format!("/lti/launch?course_id={course_id}"));
    assert_eq!(launch_with(&app, &target, &platform.key, "u1").await.status(), 200);
    assert_eq!(launch_with(&app, &target, &platform.key, "u2").await.status(), 200);
    assert_eq!(platform.reads(), 1, "the key set is cached");

    // The platform rotates: a token with the new kid makes one read, then the cache has it.
    // (Unknown kids refetch at most once per `REFETCH_MIN` after the last read.)
    tokio::time::sleep(lectern::lti::id_token::REFETCH_MIN + Duration::from_millis(100)).await;
    let rotated = SigningKey::generate("platform-key-2");
    platform.published.write().await.push(rotated.jwk.clone());
    assert_eq!(launch_with(&app, &target, &rotated, "u3").await.status(), 200);
    assert_eq!(platform.reads(), 2);
    assert_eq!(launch_with(&app, &target, &rotated, "u4").await.status(), 200);
    assert_eq!(platform.reads(), 2);

    // A made-up kid right after a read is refused without hammering the platform.
    let stranger = SigningKey::generate("made-up");
    let response = launch_with(&app, &target, &stranger, "u5").await;
    assert_eq!(error_code(response).await, "lti_bad_signature");
    assert_eq!(platform.reads(), 2);
}

#[sqlx::test]
async fn deep_linking_returns_a_signed_resource_link_that_then_launches_the_lesson(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = admin(&app).await;
    let (course_id, lesson_id) = published_course(&app, "Astronomy <101>").await;
    let platform = lti::start(&app, &admin).await;
    let target = app.url("/lti/launch");
    let login = lti::login(&app, &target).await;
    let mut claims = lti::resource_link_claims(&login["nonce"], "teacher-7", &target);
    claims["https://purl.imsglobal.org/spec/lti/claim/message_type"] = json!("LtiDeepLinkingRequest");
    claims["https://purl.imsglobal.org/spec/lti/claim/roles"] =
        json!(["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]);
    claims["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] = json!({
        "deep_link_return_url": "https://lms.example.edu/deep_links?x=1",
        "accept_types": ["link", "ltiResourceLink"],
        "accept_presentation_document_targets": ["iframe", "window"],
        "accept_multiple": false,
        "data": "opaque-platform-data",
    });
    let picker = lti::launch(&app, &platform.key.sign(&claims), &login["state"]).await;
    assert_eq!(picker.status(), 200);
    let page = picker.text().await.expect("html");
    assert!(page.contains("Astronomy &lt;101&gt;"), "titles are escaped: {page}");
    let token = page
        .split("name=\"token\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the picker's token")
        .to_owned();

    let chosen = lti::browser()
        .post(app.url("/lti/deep-linking"))
        .form(&[("token", token.as_str()), ("lesson_id", &lesson_id.to_string())])
        .send()
        .await
        .expect("request");
    assert_eq!(chosen.status(), 200);
    let page = chosen.text().await.expect("html");
    assert!(page.contains("action=\"https://lms.example.edu/deep_links?x=1\""), "{page}");
    let jwt = page.split("name=\"JWT\" value=\"").nth(1).and_then(|r| r.split('"').next()).expect("JWT").to_owned();
    // The token is single-use.
    let again = lti::browser()
        .post(app.url("/lti/deep-linking"))
        .form(&[("token", token.as_str()), ("lesson_id", &lesson_id.to_string())])
        .send()
        .await
        .expect("request");
    assert_eq!(error_code(again).await, "lti_deep_link_invalid");

    // PyJWT checks the response against the tool's published key set, as a platform does.
    let output = tokio::process::Command::new(venv_python())
        .arg(script("verify_jwt.py"))
        .args([app.url("/lti/jwks").as_str(), jwt.as_str(), ISSUER, CLIENT_ID])
        .output()
        .await
        .expect("runs");
    assert!(output.status.success(), "verify_jwt.py: {}", String::from_utf8_lossy(&output.stderr));
    let verified: Value = serde_json::from_slice(&output.stdout).expect("claims");
    assert_eq!(verified["https://purl.imsglobal.org/spec/lti/claim/message_type"], "LtiDeepLinkingResponse");
    assert_eq!(verified["https://purl.imsglobal.org/spec/lti/claim/version"], "1.3.0");
    assert_eq!(verified["https://purl.imsglobal.org/spec/lti/claim/deployment_id"], DEPLOYMENT_ID);
    assert_eq!(verified["https://purl.imsglobal.org/spec/lti-dl/claim/data"], "opaque-platform-data");
    let items = verified["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    let item = &items[0];
    assert_eq!(item["type"], "ltiResourceLink");
    assert_eq!(item["title"], "Reading");
    assert_eq!(item["custom"]["lesson_id"], lesson_id.to_string());
    assert_eq!(item["lineItem"]["scoreMaximum"], 100);

    // The platform later launches the link it stored: the learner lands on that lesson.
    let link_url = item["url"].as_str().expect("url").to_owned();
    let login = lti::login(&app, &link_url).await;
    let mut claims = lti::resource_link_claims(&login["nonce"], "learner-8", &link_url);
    claims["https://purl.imsglobal.org/spec/lti/claim/custom"] = item["custom"].clone();
    let launched = lti::launch(&app, &platform.key.sign(&claims), &login["state"]).await;
    assert_eq!(launched.status(), 200);
    let launched: Value = launched.json().await.expect("json");
    assert_eq!(launched["lesson_id"], lesson_id.to_string());
    assert_eq!(launched["course_id"], course_id.to_string());
}

/// Waits until the platform's gradebook holds `n` scores (the sends are jobs).
async fn scores_after(platform: &lti::Platform, n: usize) -> Vec<(String, Value)> {
    for _ in 0..300 {
        {
            let book = platform.gradebook.lock().expect("lock");
            assert!(book.refusals.is_empty(), "the platform refused: {:?}", book.refusals);
            if book.scores.len() >= n {
                return book.scores.clone();
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the platform did not receive {n} scores");
}

#[sqlx::test]
async fn grade_passback_sends_pending_then_fully_graded_scores_through_jobs(pool: PgPool) {
    let app = spawn_app_with(
        pool,
        TestOptions {
            workers: 1,
            lti: Some(lectern::lti::LtiSettings {
                grade_sync_interval: Duration::from_secs(1),
                ..lectern::lti::LtiSettings::default()
            }),
            ..TestOptions::default()
        },
    )
    .await;
    let admin = admin(&app).await;
    let (course_id, lessons) = course_with_lessons(&app, "Geology", 2).await;
    let platform = lti::start(&app, &admin).await;
    let target = app.url(&format!("/lti/launch?course_id={course_id}"));
    let launch_learner = || async {
        let login = lti::login(&app, &target).await;
        let mut claims = lti::resource_link_claims(&login["nonce"], "learner-ags", &target);
        claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"] = lti::ags_claim(&platform);
        let response = lti::launch(&app, &platform.key.sign(&claims), &login["state"]).await;
        assert_eq!(response.status(), 200);
        response.json::<Value>().await.expect("json")
    };
    let launched = launch_learner().await;
    let access = launched["tokens"]["access_token"].as_str().expect("token").to_owned();

    // The launch puts the learner in the gradebook: the tool created the line item (none
    // existed for this resource link) and posted a pending score of 0.
    let scores = scores_after(&platform, 1).await;
    {
        let book = platform.gradebook.lock().expect("lock");
        assert_eq!(book.line_items.len(), 1);
        assert_eq!(book.line_items[0]["resourceLinkId"], "resource-link-1");
        assert_eq!(book.line_items[0]["label"], "Geology");
        assert_eq!(book.line_items[0]["scoreMaximum"], 100);
    }
    let (line_item, first) = &scores[0];
    assert!(line_item.ends_with("/lineitems/1/lineitem"));
    assert_eq!(first["userId"], "learner-ags");
    assert_eq!(first["scoreGiven"], 0.0);
    assert_eq!(first["scoreMaximum"], 100);
    assert_eq!(first["activityProgress"], "Initialized");
    assert_eq!(first["gradingProgress"], "Pending");

    // Progress moves: the periodic sync queues a send of the new score.
    let done = app
        .client
        .post(app.url(&format!("/v1/me/lessons/{}/complete", lessons[0])))
        .bearer_auth(&access)
        .send()
        .await
        .expect("request");
    assert!(done.status().is_success(), "{}", done.text().await.unwrap_or_default());
    let scores = scores_after(&platform, 2).await;
    assert_eq!(scores[1].1["scoreGiven"], 50.0);
    assert_eq!(scores[1].1["activityProgress"], "InProgress");
    assert_eq!(scores[1].1["gradingProgress"], "Pending");

    let done = app
        .client
        .post(app.url(&format!("/v1/me/lessons/{}/complete", lessons[1])))
        .bearer_auth(&access)
        .send()
        .await
        .expect("request");
    assert!(done.status().is_success());
    let scores = scores_after(&platform, 3).await;
    assert_eq!(scores[2].1["scoreGiven"], 100.0);
    assert_eq!(scores[2].1["activityProgress"], "Completed");
    assert_eq!(scores[2].1["gradingProgress"], "FullyGraded");

    // Nothing changes afterwards: no further sends; the platform token was asked for once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (n_scores, token_requests) = {
        let book = platform.gradebook.lock().expect("lock");
        (book.scores.len(), book.token_requests)
    };
    assert_eq!(n_scores, 3);
    assert_eq!(token_requests, 1, "the token is cached until it expires");

    // Launching the same link again reuses the stored line item.
    launch_learner().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(platform.gradebook.lock().expect("lock").line_items.len(), 1);
}
