//! Helpers for the upload tests: apps with test upload settings on either storage backend (a
//! local directory, or a fresh bucket on SeaweedFS, see [`super::storage`]), and tus requests.

use base64::Engine;
use lectern::media::UploadSettings;
use sqlx::PgPool;
use url::Url;

use super::storage::{Backend, seaweed_settings};
use super::{TestApp, TestOptions, spawn_app_with};

/// Part size used by tests: the S3 minimum, so multi-part uploads stay small.
pub const PART: usize = 5 * 1024 * 1024;

pub fn test_uploads() -> UploadSettings {
    UploadSettings { part_size: PART, ..UploadSettings::default() }
}

/// An app on `backend` with the upload settings `uploads`.
pub async fn media_app(pool: PgPool, backend: Backend, uploads: UploadSettings) -> TestApp {
    Box::pin(media_app_with(pool, backend, uploads, None)).await
}

pub async fn media_app_with(
    pool: PgPool,
    backend: Backend,
    uploads: UploadSettings,
    public_url: Option<Url>,
) -> TestApp {
    let storage = match backend {
        Backend::Local => None,
        Backend::S3 => Some(seaweed_settings().await),
    };
    Box::pin(spawn_app_with(
        pool,
        TestOptions { uploads: Some(uploads), storage, public_url, ..TestOptions::default() },
    ))
    .await
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
