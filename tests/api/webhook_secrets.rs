//! Webhook signing secrets (issue 18): sealed at rest with the webhook key, rotated with an
//! overlap during which both secrets sign, and carried over a rotation of the webhook key itself
//! (rows sealed with the earlier key, and rows from before sealing, in clear).

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::{PASSWORD, TestApp, TestOptions, error_code, instructor, spawn_app_with};
use crate::webhooks::{Receiver, create_asset, loopback_settings, verifies, webhook};

async fn app(pool: PgPool, options: TestOptions) -> TestApp {
    let options = TestOptions { workers: 2, webhooks: Some(loopback_settings()), ..options };
    spawn_app_with(pool, options).await
}

async fn rotate(app: &TestApp, token: &str, webhook_id: &str, body: Value) -> reqwest::Response {
    let url = app.url(&format!("/v1/webhooks/{webhook_id}/rotate-secret"));
    app.client.post(url).bearer_auth(token).json(&body).send().await.expect("request")
}

/// The whole row as text (bytea columns in hex), to look for a secret anywhere in it.
async fn row_text(pool: &PgPool, webhook_id: &str) -> String {
    sqlx::query_scalar("select to_jsonb(w)::text from webhook_endpoint w where webhook_endpoint_id = $1::uuid")
        .bind(webhook_id)
        .fetch_one(pool)
        .await
        .expect("the row")
}

fn assert_not_in_clear(row: &str, secret: &str) {
    assert!(!row.contains(secret), "the secret is stored in clear: {row}");
    assert!(!row.contains(&hex::encode(secret)), "the secret is stored as bytes: {row}");
    assert!(!row.contains(&secret["whsec_".len()..]), "the secret's random part is stored: {row}");
}

/// The `v1` entries of a `Lectern-Signature` header.
fn signatures(header: &str) -> usize {
    header.split(',').filter(|part| part.starts_with("v1=")).count()
}

#[sqlx::test]
async fn a_secret_is_stored_sealed_with_the_webhook_key_and_still_signs(pool: PgPool) {
    let app = app(pool, TestOptions::default()).await;
    let receiver = Receiver::start().await;
    let token = instructor(&app, "teacher@example.com").await;
    let created = webhook(&app, &token, json!({"url": receiver.url, "events": ["asset.created"]})).await;
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let webhook_id = created["id"].as_str().expect("id").to_owned();

    assert_not_in_clear(&row_text(&app.pool, &webhook_id).await, &secret);
    let (clear, key_id): (Option<String>, Option<String>) =
        sqlx::query_as("select secret, secret_key_id from webhook_endpoint where webhook_endpoint_id = $1::uuid")
            .bind(&webhook_id)
            .fetch_one(&app.pool)
            .await
            .expect("the row");
    assert_eq!(clear, None);
    assert_eq!(key_id.as_deref(), Some(app.keys().webhook_secrets.current.key_id.as_str()));

    create_asset(&app, &token).await;
    let [request] = receiver.wait_for(1).await.try_into().expect("one send");
    let signature = request.header("lectern-signature");
    assert_eq!(signatures(signature), 1, "{signature}");
    assert!(verifies(&secret, signature, &request.body), "{signature}");
}

#[sqlx::test]
async fn while_a_rotated_secret_overlaps_either_verifies_and_afterwards_only_the_new_one(pool: PgPool) {
    let app = app(pool, TestOptions::default()).await;
    let receiver = Receiver::start().await;
    let token = instructor(&app, "teacher@example.com").await;
    let created = webhook(&app, &token, json!({"url": receiver.url, "events": ["asset.created"]})).await;
    let old = created["secret"].as_str().expect("secret").to_owned();
    let webhook_id = created["id"].as_str().expect("id").to_owned();
    assert!(created["previous_secret_expires_at"].is_null());

    let rotated = rotate(&app, &token, &webhook_id, json!({"overlap_seconds": 3600})).await;
    assert_eq!(rotated.status(), 200);
    let rotated: Value = rotated.json().await.expect("json");
    let new = rotated["secret"].as_str().expect("the new secret").to_owned();
    assert!(new.starts_with("whsec_") && new != old);
    assert!(rotated["previous_secret_expires_at"].is_string(), "{rotated}");
    let row = row_text(&app.pool, &webhook_id).await;
    assert_not_in_clear(&row, &old);
    assert_not_in_clear(&row, &new);

    // During the overlap: two `v1`, and a receiver holding either secret accepts the send.
    create_asset(&app, &token).await;
    let during = receiver.wait_for(1).await.remove(0);
    let signature = during.header("lectern-signature");
    assert_eq!(signatures(signature), 2, "{signature}");
    assert!(verifies(&new, signature, &during.body), "the new secret verifies: {signature}");
    assert!(verifies(&old, signature, &during.body), "the old secret still verifies: {signature}");
    assert!(!verifies("whsec_neither", signature, &during.body));

    // The overlap ends (moved into the past rather than waited for).
    sqlx::query(
        "update webhook_endpoint set previous_secret_expires_at = now() - interval '1 second'
         where webhook_endpoint_id = $1::uuid",
    )
    .bind(&webhook_id)
    .execute(&app.pool)
    .await
    .expect("the overlap ends");
    let shown: Value = app.get_with(&format!("/v1/webhooks/{webhook_id}"), &token).await.json().await.expect("json");
    assert!(shown["previous_secret_expires_at"].is_null(), "{shown}");
    create_asset(&app, &token).await;
    let after = receiver.wait_for(2).await.remove(1);
    let signature = after.header("lectern-signature");
    assert_eq!(signatures(signature), 1, "{signature}");
    assert!(verifies(&new, signature, &after.body));
    assert!(!verifies(&old, signature, &after.body), "the old secret no longer verifies");

    // No overlap: the replaced secret stops at once.
    let urgent: Value =
        rotate(&app, &token, &webhook_id, json!({"overlap_seconds": 0})).await.json().await.expect("json");
    let newest = urgent["secret"].as_str().expect("secret").to_owned();
    assert!(urgent["previous_secret_expires_at"].is_null(), "{urgent}");
    create_asset(&app, &token).await;
    let last = receiver.wait_for(3).await.remove(2);
    let signature = last.header("lectern-signature");
    assert!(verifies(&newest, signature, &last.body));
    assert!(!verifies(&new, signature, &last.body));
}

#[sqlx::test]
async fn rotations_are_bounded_and_only_for_the_owner(pool: PgPool) {
    let app = app(pool, TestOptions::default()).await;
    let token = instructor(&app, "teacher@example.com").await;
    let other = instructor(&app, "other@example.com").await;
    let created = webhook(&app, &token, json!({"url": "http://127.0.0.1:9/hook"})).await;
    let webhook_id = created["id"].as_str().expect("id");
    for overlap in [-1, 604_801] {
        let response = rotate(&app, &token, webhook_id, json!({"overlap_seconds": overlap})).await;
        assert_eq!(response.status(), 422, "{overlap}");
        assert_eq!(error_code(response).await, "invalid_field");
    }
    let response = rotate(&app, &other, webhook_id, json!({})).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "webhook_not_found");
    // The defaults: a day of overlap.
    let rotated: Value = rotate(&app, &token, webhook_id, json!({})).await.json().await.expect("json");
    let until = time::OffsetDateTime::parse(
        rotated["previous_secret_expires_at"].as_str().expect("an overlap"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("a time");
    let from_now = until - time::OffsetDateTime::now_utc();
    assert!(from_now > time::Duration::hours(23) && from_now <= time::Duration::hours(24), "{from_now}");
}

#[sqlx::test]
async fn after_the_webhook_key_rotates_old_and_clear_rows_are_sealed_with_the_new_key_and_still_sign(pool: PgPool) {
    // The first server (no workers) seals a secret with its key.
    let options = TestOptions { webhooks: Some(loopback_settings()), ..TestOptions::default() };
    let before = spawn_app_with(pool.clone(), options).await;
    let token = instructor(&before, "teacher@example.com").await;
    let receiver = Receiver::start().await;
    let created = webhook(&before, &token, json!({"url": receiver.url, "events": ["asset.created"]})).await;
    let sealed_secret = created["secret"].as_str().expect("secret").to_owned();
    let old_key_id = before.keys().webhook_secrets.current.key_id;
    let owner_id: uuid::Uuid = sqlx::query_scalar("select owner_id from webhook_endpoint")
        .fetch_one(&pool)
        .await
        .expect("the endpoint's owner");
    // A row from before secrets were sealed: in clear.
    let clear_id: uuid::Uuid = sqlx::query_scalar(
        "insert into webhook_endpoint (owner_id, url, secret, events)
         values ($1, $2, 'whsec_from_before_sealing', '{asset.created}') returning webhook_endpoint_id",
    )
    .bind(owner_id)
    .bind(&receiver.url)
    .fetch_one(&pool)
    .await
    .expect("a clear row");

    // The next server has a key of its own (a rotation), and the first one's as a previous key.
    let new_key = tempfile::tempdir().expect("a key directory");
    let options = TestOptions {
        webhook_key: Some(new_key.path().join("webhook-secret-key")),
        webhook_previous_keys: vec![before.webhook_key.clone()],
        ..TestOptions::default()
    };
    let after = app(pool.clone(), options).await;
    let new_key_id = after.keys().webhook_secrets.current.key_id;
    assert_ne!(new_key_id, old_key_id);
    let rows: Vec<(uuid::Uuid, Option<String>, Option<String>)> =
        sqlx::query_as("select webhook_endpoint_id, secret, secret_key_id from webhook_endpoint")
            .fetch_all(&pool)
            .await
            .expect("rows");
    assert_eq!(rows.len(), 2);
    for (id, clear, key_id) in &rows {
        assert_eq!(clear.as_deref(), None, "{id} holds its secret in clear");
        assert_eq!(key_id.as_deref(), Some(new_key_id.as_str()), "{id} is not sealed with the current key");
    }
    assert_not_in_clear(&row_text(&pool, &clear_id.to_string()).await, "whsec_from_before_sealing");

    // Tokens are the first server's; sign in again.
    let signed_in: Value = after.login("teacher@example.com", PASSWORD).await.json().await.expect("json");
    let token = signed_in["access_token"].as_str().expect("token");
    create_asset(&after, token).await;
    let received = receiver.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.received().len(), 2);
    let by_secret = |secret: &str| {
        received.iter().filter(|request| verifies(secret, request.header("lectern-signature"), &request.body)).count()
    };
    assert_eq!(by_secret(&sealed_secret), 1);
    assert_eq!(by_secret("whsec_from_before_sealing"), 1);
}
