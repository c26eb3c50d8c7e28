//! API keys: made by instructors and administrators, shown once, stored hashed, usable as a
//! bearer credential until revoked, and never more powerful than their owner.

use crate::helpers::{TestApp, account_with_roles, create_api_key, error_code, spawn_app};
use lectern::auth::AuthError;
use lectern::auth::api_keys::{self, Scope};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

async fn instructor(app: &TestApp) -> (uuid::Uuid, String) {
    account_with_roles(app, "teacher@example.com", &["learner", "instructor"]).await
}

/// Creates a key that must succeed and returns the 201 body.
async fn created_key(app: &TestApp, access: &str, scopes: &[&str]) -> Value {
    let response = create_api_key(app, access, json!({"name": "course site", "scopes": scopes})).await;
    assert_eq!(response.status(), 201);
    response.json().await.expect("json")
}

async fn revoke(app: &TestApp, access: &str, key_id: &str) -> reqwest::Response {
    app.client.delete(app.url(&format!("/v1/api-keys/{key_id}"))).bearer_auth(access).send().await.expect("request")
}

#[sqlx::test]
async fn a_key_is_shown_once_and_listed_afterwards_without_its_secret(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, access) = instructor(&app).await;
    let created = created_key(&app, &access, &["assets:read", "playback:create"]).await;
    let secret = created["secret"].as_str().expect("secret");
    assert!(secret.starts_with("lk_"));
    assert_eq!(secret.len(), 3 + 43, "lk_ and 32 bytes in base64url");
    assert_eq!(created["scopes"], json!(["assets:read", "playback:create"]));
    assert!(secret.starts_with(created["prefix"].as_str().expect("prefix")));

    let listed = app.get_with("/v1/api-keys", &access).await;
    assert_eq!(listed.status(), 200);
    let text = listed.text().await.expect("body");
    assert!(!text.contains(secret), "the list must not carry the secret");
    let listed: Value = serde_json::from_str(&text).expect("json");
    let keys = listed["api_keys"].as_array().expect("array");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["api_key_id"], created["api_key_id"]);
    assert_eq!(keys[0]["name"], "course site");
    assert!(keys[0].get("secret").is_none());
    assert!(keys[0]["revoked_at"].is_null());
}

#[sqlx::test]
async fn a_key_is_stored_only_as_its_sha256(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, access) = instructor(&app).await;
    let created = created_key(&app, &access, &["assets:read"]).await;
    let secret = created["secret"].as_str().expect("secret");
    let (hash, prefix, row_text): (Vec<u8>, String, String) =
        sqlx::query_as("select secret_hash, prefix, api_key::text from api_key")
            .fetch_one(&app.pool)
            .await
            .expect("one key");
    assert_eq!(hash, Sha256::digest(secret.as_bytes()).to_vec());
    assert!(!row_text.contains(secret), "no column holds the secret in clear");
    assert!(prefix.len() < 12 && secret.starts_with(&prefix));
}

#[sqlx::test]
async fn a_key_works_as_a_bearer_credential_for_its_owner(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (owner_id, access) = instructor(&app).await;
    let created = created_key(&app, &access, &["playback:create", "assets:read"]).await;
    let secret = created["secret"].as_str().expect("secret");

    let response = app.get_with("/v1/me", secret).await;
    assert_eq!(response.status(), 200);
    let me: Value = response.json().await.expect("json");
    assert_eq!(me["account_id"], owner_id.to_string());
    assert_eq!(me["api_key"]["api_key_id"], created["api_key_id"]);
    assert_eq!(me["api_key"]["scopes"], json!(["assets:read", "playback:create"]));

    // A person's token shows no key.
    let me: Value = app.get_with("/v1/me", &access).await.json().await.expect("json");
    assert!(me.get("api_key").is_none());

    let keys: Value = app.get_with("/v1/api-keys", &access).await.json().await.expect("json");
    assert!(keys["api_keys"][0]["last_used_at"].is_string(), "the use was recorded");
}

#[sqlx::test]
async fn a_key_cannot_manage_keys_or_sessions(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, access) = instructor(&app).await;
    let created = created_key(&app, &access, &["assets:read"]).await;
    let secret = created["secret"].as_str().expect("secret");
    let response = create_api_key(&app, secret, json!({"name": "child", "scopes": ["assets:read"]})).await;
    assert_eq!(response.status(), 401);
    assert_eq!(app.get_with("/v1/auth/sessions", secret).await.status(), 401);
}

#[sqlx::test]
async fn a_revoked_or_unknown_key_is_refused_and_revoking_twice_succeeds(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, access) = instructor(&app).await;
    let created = created_key(&app, &access, &["assets:read"]).await;
    let secret = created["secret"].as_str().expect("secret");
    let key_id = created["api_key_id"].as_str().expect("id");
    assert_eq!(app.get_with("/v1/me", secret).await.status(), 200);

    assert_eq!(revoke(&app, &access, key_id).await.status(), 204);
    let response = app.get_with("/v1/me", secret).await;
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_eq!(error_code(response).await, "invalid_api_key");
    assert_eq!(revoke(&app, &access, key_id).await.status(), 204, "revoking is idempotent");

    let keys: Value = app.get_with("/v1/api-keys", &access).await.json().await.expect("json");
    assert!(keys["api_keys"][0]["revoked_at"].is_string());

    let unknown = app.get_with("/v1/me", "lk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA").await;
    assert_eq!(unknown.status(), 401);
    assert_eq!(error_code(unknown).await, "invalid_api_key");
}

#[sqlx::test]
async fn nobody_else_can_revoke_your_key(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, access) = instructor(&app).await;
    let created = created_key(&app, &access, &["assets:read"]).await;
    let key_id = created["api_key_id"].as_str().expect("id");
    let (_, other) = account_with_roles(&app, "other@example.com", &["learner", "admin"]).await;
    let response = revoke(&app, &other, key_id).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "not_found");
    assert_eq!(revoke(&app, &access, "not-a-uuid").await.status(), 404);
    assert_eq!(app.get_with("/v1/me", created["secret"].as_str().expect("secret")).await.status(), 200);
}

#[sqlx::test]
async fn a_learner_cannot_create_keys(pool: PgPool) {
    let app = spawn_app(pool).await;
    let learner = app.register("learner@example.com").await;
    let access = learner["tokens"]["access_token"].as_str().expect("token");
    let response = create_api_key(&app, access, json!({"name": "mine", "scopes": ["assets:read"]})).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "forbidden");
}

#[sqlx::test]
async fn unknown_scopes_are_422_and_scopes_beyond_the_owner_role_are_403(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, access) = instructor(&app).await;
    let response = create_api_key(&app, &access, json!({"name": "site", "scopes": ["assets:delete"]})).await;
    assert_eq!(response.status(), 422);
    assert_eq!(error_code(response).await, "invalid_scope");
    let response = create_api_key(&app, &access, json!({"name": "site", "scopes": []})).await;
    assert_eq!(error_code(response).await, "invalid_scope");
    // Webhook endpoints hear only about their owner's assets, so instructors may manage them.
    created_key(&app, &access, &["webhooks:read", "webhooks:write"]).await;
    let (_, learner) = account_with_roles(&app, "learner@example.com", &["learner"]).await;
    let response = create_api_key(&app, &learner, json!({"name": "site", "scopes": ["assets:read"]})).await;
    assert_eq!(response.status(), 403);
    assert_eq!(error_code(response).await, "forbidden");

    let (_, admin) = account_with_roles(&app, "admin@example.com", &["learner", "admin"]).await;
    created_key(&app, &admin, &["webhooks:write"]).await;
}

#[sqlx::test]
async fn a_key_loses_the_scopes_its_demoted_owner_no_longer_has(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (admin_id, admin) = account_with_roles(&app, "admin@example.com", &["learner", "admin"]).await;
    let created = created_key(&app, &admin, &["webhooks:write", "assets:read"]).await;
    app.set_roles(admin_id, &["learner"]).await;
    let me: Value =
        app.get_with("/v1/me", created["secret"].as_str().expect("secret")).await.json().await.expect("json");
    assert_eq!(me["api_key"]["scopes"], json!([]));
}

#[sqlx::test]
async fn acting_on_behalf_of_a_user_needs_playback_create_and_an_existing_account(pool: PgPool) {
    let app = spawn_app(pool).await;
    let (_, access) = instructor(&app).await;
    let learner = app.register("learner@example.com").await;
    let learner_id: uuid::Uuid = learner["account"]["account_id"].as_str().expect("id").parse().expect("uuid");

    let reader = created_key(&app, &access, &["assets:read"]).await;
    let reader =
        api_keys::authenticate(&app.pool, reader["secret"].as_str().expect("secret")).await.expect("valid key");
    let refused = api_keys::on_behalf_of(&app.pool, &reader, learner_id).await;
    assert!(matches!(refused, Err(AuthError::InsufficientScope("playback:create"))));
    let response = lectern::http::error::ApiError::from(AuthError::InsufficientScope("playback:create"));
    assert_eq!((response.status.as_u16(), response.code), (403, "insufficient_scope"));
    assert!(reader.require_scope(Scope::AssetsRead).is_ok());

    let player = created_key(&app, &access, &["playback:create"]).await;
    let player =
        api_keys::authenticate(&app.pool, player["secret"].as_str().expect("secret")).await.expect("valid key");
    assert_eq!(api_keys::on_behalf_of(&app.pool, &player, learner_id).await.expect("allowed"), learner_id);
    let nobody = api_keys::on_behalf_of(&app.pool, &player, uuid::Uuid::new_v4()).await;
    assert!(matches!(nobody, Err(AuthError::NotFound(_))));
}
