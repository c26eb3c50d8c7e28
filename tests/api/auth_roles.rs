//! Roles: only administrators change them, a change shows in tokens after a refresh, and
//! `lectern users create-admin` makes the first administrator.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::helpers::{PASSWORD, TestApp, error_code, spawn_app};
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

async fn put_roles(app: &TestApp, access_token: &str, account_id: &str, roles: Value) -> reqwest::Response {
    app.client
        .put(app.url(&format!("/v1/users/{account_id}/roles")))
        .bearer_auth(access_token)
        .json(&json!({"roles": roles}))
        .send()
        .await
        .expect("request")
}

fn claims(token: &str) -> Value {
    use base64::Engine;
    let part = token.split('.').nth(1).expect("three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

#[sqlx::test]
async fn a_learner_cannot_change_roles(pool: PgPool) {
    let app = spawn_app(pool).await;
    let learner = app.register("learner@example.com").await;
    let account_id = learner["account"]["account_id"].as_str().expect("id");
    let access = learner["tokens"]["access_token"].as_str().expect("token");
    let response = put_roles(&app, access, account_id, json!(["admin"])).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "forbidden");
}

#[sqlx::test]
async fn an_admin_grants_a_role_that_appears_in_the_next_refreshed_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.register("admin@example.com").await;
    app.make_admin(admin["account"]["account_id"].as_str().expect("id")).await;
    let admin_access = admin["tokens"]["access_token"].as_str().expect("token");

    let teacher = app.register("teacher@example.com").await;
    let teacher_id = teacher["account"]["account_id"].as_str().expect("id");
    assert_eq!(claims(teacher["tokens"]["access_token"].as_str().expect("token"))["roles"], json!(["learner"]));

    let response = put_roles(&app, admin_access, teacher_id, json!(["instructor"])).await;
    assert_eq!(response.status(), 200);
    let account: Value = response.json().await.expect("json");
    assert_eq!(account["roles"], json!(["learner", "instructor"]));

    let refreshed: Value =
        app.refresh(teacher["tokens"]["refresh_token"].as_str().expect("token")).await.json().await.expect("json");
    assert_eq!(claims(refreshed["access_token"].as_str().expect("token"))["roles"], json!(["learner", "instructor"]));
    let me: Value =
        app.get_with("/v1/me", refreshed["access_token"].as_str().expect("token")).await.json().await.expect("json");
    assert_eq!(me["roles"], json!(["learner", "instructor"]));
}

#[sqlx::test]
async fn a_demoted_admin_loses_admin_rights_on_the_next_request(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let admin = app.register("soon.former.admin@example.com").await;
    let admin_id = admin["account"]["account_id"].as_str().expect("id");
    app.make_admin(admin_id).await;
    let access = admin["tokens"]["access_token"].as_str().expect("token");
    assert_eq!(put_roles(&app, access, admin_id, json!(["admin", "instructor"])).await.status(), 200);
    sqlx::query("update account set roles = '{learner}'").execute(&pool).await.expect("demote");
    assert_eq!(put_roles(&app, access, admin_id, json!(["admin"])).await.status(), 403);
}

#[sqlx::test]
async fn roles_of_a_missing_account_are_404_and_unknown_roles_are_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let admin = app.register("root@example.com").await;
    app.make_admin(admin["account"]["account_id"].as_str().expect("id")).await;
    let access = admin["tokens"]["access_token"].as_str().expect("token");
    let missing = put_roles(&app, access, &uuid::Uuid::new_v4().to_string(), json!(["instructor"])).await;
    assert_eq!(missing.status(), 404);
    let admin_id = admin["account"]["account_id"].as_str().expect("id");
    let unknown = put_roles(&app, access, admin_id, json!(["emperor"])).await;
    assert_eq!(unknown.status(), 422);
}

fn lectern() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lectern"));
    for (name, _) in std::env::vars() {
        if name.starts_with("LECTERN_") || name == "DATABASE_URL" || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command
}

/// Runs `lectern users create-admin --email <email>` against the test's database with
/// `password` on standard input.
fn create_admin(connect: &PgConnectOptions, email: &str, password: &str) -> std::process::Output {
    let base =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut url = url::Url::parse(&base).expect("DATABASE_URL is a URL");
    url.set_path(connect.get_database().expect("a per-test database"));
    let mut child = lectern()
        .args(["users", "create-admin", "--email", email])
        .env("DATABASE_URL", url.as_str())
        .env("LECTERN_ARGON2_MEMORY_KIB", "256")
        .env("LECTERN_ARGON2_ITERATIONS", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut stdin = child.stdin.take().expect("stdin");
    writeln!(stdin, "{password}").expect("write password");
    drop(stdin);
    child.wait_with_output().expect("runs")
}

#[sqlx::test]
async fn create_admin_makes_an_administrator_who_can_sign_in(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let pool = pool_options.connect_with(connect.clone()).await.expect("pool");
    let output = tokio::task::spawn_blocking(move || create_admin(&connect, "First.Admin@Example.com", PASSWORD))
        .await
        .expect("joined");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("created administrator first.admin@example.com"));

    let app = spawn_app(pool.clone()).await;
    let tokens: Value = app.login("first.admin@example.com", PASSWORD).await.json().await.expect("json");
    let me: Value =
        app.get_with("/v1/me", tokens["access_token"].as_str().expect("token")).await.json().await.expect("json");
    assert_eq!(me["roles"], json!(["learner", "admin"]));
}

#[sqlx::test]
async fn create_admin_grants_admin_to_an_existing_account_without_touching_its_password(
    pool_options: PgPoolOptions,
    connect: PgConnectOptions,
) {
    let pool = pool_options.connect_with(connect.clone()).await.expect("pool");
    let app = spawn_app(pool.clone()).await;
    app.register("promoted@example.com").await;
    let output = tokio::task::spawn_blocking(move || {
        create_admin(&connect, "promoted@example.com", "a different password entirely")
    })
    .await
    .expect("joined");
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stderr).contains("granted admin"));
    let count: i64 = sqlx::query_scalar("select count(*) from account").fetch_one(&pool).await.expect("count");
    assert_eq!(count, 1);
    let tokens: Value = app.login("promoted@example.com", PASSWORD).await.json().await.expect("json");
    assert_eq!(claims(tokens["access_token"].as_str().expect("token"))["roles"], json!(["learner", "admin"]));
}

#[sqlx::test]
async fn create_admin_refuses_a_weak_password(pool_options: PgPoolOptions, connect: PgConnectOptions) {
    let _pool = pool_options.connect_with(connect.clone()).await.expect("pool");
    let output =
        tokio::task::spawn_blocking(move || create_admin(&connect, "weak@example.com", "short")).await.expect("joined");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("weak_password"), "{output:?}");
}
