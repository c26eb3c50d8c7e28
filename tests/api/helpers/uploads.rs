//! Helpers for the media tests: instructors, assets, tus requests, and apps on either storage
//! backend (a local directory, or a fresh bucket on the SeaweedFS that
//! `scripts/seaweedfs.sh start` runs — unreachable SeaweedFS fails the test, it never skips).
#![allow(dead_code)]

use std::time::Duration;

use base64::Engine;
use lectern::config::UploadSettings;
use lectern::storage::{KeyPrefix, ObjectStore, S3Settings, S3Store, StorageSettings};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use url::Url;

use crate::helpers::{TestApp, TestOptions, spawn_app_with};

/// Part size used by tests: the S3 minimum, so multi-part uploads stay small.
pub const PART: usize = 5 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    S3,
}

pub fn test_uploads() -> UploadSettings {
    UploadSettings { part_size: PART, ..UploadSettings::default() }
}

/// S3 settings for a fresh bucket on the test SeaweedFS.
pub async fn s3_settings() -> S3Settings {
    let endpoint =
        std::env::var("LECTERN_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8333".to_owned());
    let access_key = std::env::var("LECTERN_TEST_S3_ACCESS_KEY").unwrap_or_else(|_| "lectern-test".to_owned());
    let secret_key =
        std::env::var("LECTERN_TEST_S3_SECRET_KEY").unwrap_or_else(|_| "lectern-test-secret".to_owned());
    if let Err(error) = reqwest::Client::new().get(&endpoint).timeout(Duration::from_secs(3)).send().await {
        panic!("SeaweedFS is not reachable at {endpoint} ({error}); run `scripts/seaweedfs.sh start` first");
    }
    S3Settings {
        bucket: format!("lectern-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..20]),
        endpoint: Some(Url::parse(&endpoint).expect("LECTERN_TEST_S3_ENDPOINT is a URL")),
        region: "us-east-1".to_owned(),
        access_key_id: Some(access_key),
        secret_access_key: Some(SecretString::from(secret_key)),
        force_path_style: true,
        create_bucket: true,
        multipart_part_size: PART,
    }
}

/// An app on `backend` with test upload settings (changed by `adjust`).
pub async fn media_app(pool: PgPool, backend: Backend, uploads: UploadSettings) -> TestApp {
    Box::pin(media_app_with(pool, backend, uploads, None)).await
}

pub async fn media_app_with(pool: PgPool, backend: Backend, uploads: UploadSettings, public_url: Option<Url>) -> TestApp {
    let storage = match backend {
        Backend::Local => None,
        Backend::S3 => Some(StorageSettings::S3(s3_settings().await)),
    };
    Box::pin(spawn_app_with(pool, TestOptions { uploads: Some(uploads), storage, public_url, ..TestOptions::default() })).await
}

/// Empties and removes an S3 test bucket (best effort); nothing for the local backend.
pub async fn cleanup(app: &TestApp) {
    if app.s3_bucket.is_some() {
        let store = s3_store_of(app).await;
        let everything = KeyPrefix::parse("").expect("the empty prefix is valid");
        let _ = store.delete_prefix(&everything).await;
        let _ = store.client().delete_bucket().bucket(store.bucket()).send().await;
    }
}

/// Registers an account with `roles` and returns its id and access token.
pub async fn account_with_roles(app: &TestApp, email: &str, roles: &[&str]) -> (String, String) {
    let registered = app.register(email).await;
    let account_id = registered["account"]["account_id"].as_str().expect("id").to_owned();
    let roles: Vec<String> = roles.iter().map(|role| (*role).to_owned()).collect();
    sqlx::query("update account set roles = $2 where account_id = $1")
        .bind(account_id.parse::<uuid::Uuid>().expect("uuid"))
        .bind(&roles)
        .execute(&app.pool)
        .await
        .expect("update");
    (account_id, registered["tokens"]["access_token"].as_str().expect("token").to_owned())
}

pub async fn instructor(app: &TestApp, email: &str) -> String {
    account_with_roles(app, email, &["learner", "instructor"]).await.1
}

pub async fn post_asset(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url("/v1/assets")).bearer_auth(token).json(&body).send().await.expect("request")
}

/// Creates an asset that must succeed; returns its JSON.
pub async fn create_asset(app: &TestApp, token: &str, title: &str) -> Value {
    let response = post_asset(app, token, json!({"title": title})).await;
    assert_eq!(response.status(), 201, "creating {title}");
    response.json().await.expect("json")
}

pub fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

/// `POST /v1/uploads/tus` for an asset with a known length.
pub async fn tus_create(app: &TestApp, token: &str, asset_id: &str, length: u64) -> reqwest::Response {
    app.client
        .post(app.url("/v1/uploads/tus"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", length.to_string())
        .header("Upload-Metadata", format!("asset_id {},filename {}", b64(asset_id), b64("lecture.mp4")))
        .send()
        .await
        .expect("request")
}

/// Creates a tus upload that must succeed; returns its URL.
pub async fn tus_upload_url(app: &TestApp, token: &str, asset_id: &str, length: u64) -> String {
    let response = tus_create(app, token, asset_id, length).await;
    assert_eq!(response.status(), 201, "creating an upload: {:?}", response.text().await);
    response.headers()["location"].to_str().expect("ascii").to_owned()
}

pub async fn tus_patch(app: &TestApp, token: &str, url: &str, offset: u64, body: Vec<u8>) -> reqwest::Response {
    app.client
        .patch(url)
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(body)
        .send()
        .await
        .expect("request")
}

pub async fn tus_head(app: &TestApp, token: &str, url: &str) -> reqwest::Response {
    app.client.head(url).bearer_auth(token).header("Tus-Resumable", "1.0.0").send().await.expect("request")
}

pub fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Deterministic pseudo-random bytes (xorshift), so failures are reproducible.
pub fn random_bytes(length: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut bytes = Vec::with_capacity(length + 8);
    while bytes.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(length);
    bytes
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Every object under `prefix` in the app's store.
pub async fn objects_under(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    let prefix = KeyPrefix::parse(prefix).expect("valid prefix");
    store.list(&prefix).await.expect("listing").into_iter().map(|meta| meta.key.as_str().to_owned()).collect()
}

/// No multipart upload is left open in the app's store.
pub async fn assert_no_open_multipart(app: &TestApp, backend: Backend) {
    match backend {
        Backend::Local => {
            for bookkeeping in [".multipart", ".appends"] {
                let entries = local_entries(app, bookkeeping);
                assert!(entries.is_empty(), "uploads left in {bookkeeping}: {entries:?}");
            }
        }
        Backend::S3 => {
            let store = s3_store_of(app).await;
            let uploads =
                store.client().list_multipart_uploads().bucket(store.bucket()).send().await.expect("listing uploads");
            assert!(uploads.uploads().is_empty(), "multipart uploads left: {:?}", uploads.uploads());
        }
    }
}

/// The S3 store the app uses, rebuilt from the bucket recorded at start.
async fn s3_store_of(app: &TestApp) -> S3Store {
    let bucket = app.s3_bucket.clone().expect("an S3 app");
    let mut settings = s3_settings().await;
    settings.bucket = bucket;
    settings.create_bucket = false;
    S3Store::connect(&settings).await.expect("S3 store")
}

/// Names in one of the local store's bookkeeping directories (`.appends`, `.multipart`).
pub fn local_entries(app: &TestApp, bookkeeping: &str) -> Vec<String> {
    let directory = app.data_dir.path().join("objects").join(bookkeeping);
    std::fs::read_dir(&directory)
        .map(|dir| dir.filter_map(Result::ok).map(|entry| entry.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}
