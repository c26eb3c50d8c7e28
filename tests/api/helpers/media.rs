//! The media fixtures of `tests/media/make-fixtures.sh`, generated once per test run into the
//! shared target directory (the script keeps files that already exist, so reruns are quick), and
//! assets: created through the API or directly, their uploads completed, their state read back.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The fixture directory and the `fixtures` list of its `fixtures.json`.
pub fn fixtures() -> &'static (PathBuf, Vec<Value>) {
    static FIXTURES: OnceLock<(PathBuf, Vec<Value>)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("media-fixtures");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/media/make-fixtures.sh");
        // Test binaries may run in parallel; one lock file keeps two generators from racing.
        std::fs::create_dir_all(&dir).expect("fixture dir");
        let output = Command::new("flock")
            .arg(dir.join(".lock"))
            .arg("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("flock and bash run");
        assert!(output.status.success(), "fixture generation failed: {}", String::from_utf8_lossy(&output.stderr));
        let manifest: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("fixtures.json")).expect("fixtures.json"))
                .expect("valid JSON");
        let list = manifest["fixtures"].as_array().expect("a fixture list").clone();
        (dir, list)
    })
}

/// Checks a probed source (the probe's JSON, from the CLI or the asset) against a fixture's
/// `expect`: container, audio stream count, and the first video stream's size and rotation.
/// Returns whether the source has video, for checks of its own.
pub fn assert_probed_as_expected(name: &str, source: &Value, expect: &Value) -> bool {
    assert_eq!(source["container"], expect["container"], "{name}");
    let has_video = source["video"].as_array().is_some_and(|v| !v.is_empty());
    assert_eq!(Value::Bool(has_video), expect["has_video"], "{name}");
    assert_eq!(
        source["audio"].as_array().map(Vec::len),
        expect["audio_streams"].as_u64().map(|n| n as usize),
        "{name}"
    );
    if has_video {
        let video = &source["video"][0];
        assert_eq!(video["width"], expect["width"], "{name}");
        assert_eq!(video["height"], expect["height"], "{name}");
        assert_eq!(video["rotation_degrees"], expect["rotation_degrees"], "{name}");
    }
    has_video
}

pub fn fixture_dir() -> PathBuf {
    fixtures().0.clone()
}

/// `POST /v1/assets` with `body`.
pub async fn post_asset(app: &super::TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url("/v1/assets")).bearer_auth(token).json(&body).send().await.expect("request")
}

/// Creates an asset through the API that must succeed; returns its JSON.
pub async fn create_asset(app: &super::TestApp, token: &str, title: &str) -> Value {
    let response = post_asset(app, token, serde_json::json!({"title": title})).await;
    assert_eq!(response.status(), 201, "creating {title}");
    response.json().await.expect("json")
}

/// Creates an asset owned by the holder of `token` directly through `assets::create` (the probe,
/// multipart and housekeeping tests do not depend on the create endpoint) and returns its id.
pub async fn new_asset(app: &super::TestApp, token: &str) -> uuid::Uuid {
    let me: Value = app.get_with("/v1/me", token).await.json().await.expect("json");
    let owner_id: uuid::Uuid = me["account_id"].as_str().expect("account id").parse().expect("uuid");
    let new = lectern::media::assets::NewAsset {
        owner_id,
        title: "Lecture".to_owned(),
        description: None,
        passthrough: None,
        input_url: None,
        idempotency: None,
    };
    match lectern::media::assets::create(&app.pool, &new).await.expect("asset created") {
        lectern::media::assets::Created::New(asset) => asset.asset_id,
        lectern::media::assets::Created::Existing(_) => panic!("no idempotency key was given"),
    }
}

/// The asset row as the jobs leave it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AssetState {
    pub status: String,
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    pub source: Option<Value>,
    pub source_sha256: Option<String>,
    pub source_size: Option<i64>,
}

pub async fn asset_state(pool: &sqlx::PgPool, asset_id: uuid::Uuid) -> AssetState {
    sqlx::query_as(
        "select status, error_code, error_message, source, source_sha256, source_size from asset where asset_id = $1",
    )
    .bind(asset_id)
    .fetch_one(pool)
    .await
    .expect("asset row")
}

/// Waits until the asset leaves the states in `passing` (the jobs run in the app's workers).
pub async fn wait_until_not(pool: &sqlx::PgPool, asset_id: uuid::Uuid, passing: &[&str]) -> AssetState {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let state = asset_state(pool, asset_id).await;
        if !passing.contains(&state.status.as_str()) {
            return state;
        }
        assert!(std::time::Instant::now() < deadline, "asset {asset_id} is still {}", state.status);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Event types of an asset, in order.
pub async fn event_types(pool: &sqlx::PgPool, asset_id: uuid::Uuid) -> Vec<String> {
    sqlx::query_scalar("select type from asset_event where asset_id = $1 order by event_id")
        .bind(asset_id)
        .fetch_all(pool)
        .await
        .expect("events")
}

/// Stores `bytes` as the asset's original and completes the upload, as tus or multipart would
/// (the workers then probe it).
pub async fn complete_upload(app: &super::TestApp, asset_id: uuid::Uuid, bytes: Vec<u8>) {
    use sha2::Digest;
    let key = lectern::media::source_key(lectern::media::AssetId(asset_id));
    let sha256: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    let size = bytes.len() as u64;
    lectern::storage::put_bytes(
        &*app.storage,
        &key,
        bytes::Bytes::from(bytes),
        lectern::storage::PutOptions::default(),
    )
    .await
    .expect("stored");
    let mut connection = app.pool.acquire().await.expect("connection");
    let source = lectern::media::SourceObject { key, size, sha256 };
    lectern::media::upload_completed(&mut connection, lectern::media::AssetId(asset_id), &source)
        .await
        .expect("upload completed");
}

/// Creates an asset with the `fast` preset owned by the holder of `token`, stores the fixture
/// file `fixture` as its original and completes the upload (the workers then probe and
/// transcode it); returns the asset id.
pub async fn upload_fast(app: &super::TestApp, token: &str, fixture: &str) -> uuid::Uuid {
    super::processing::start_processing(app, token, &fixtures().0.join(fixture), "fast").await
}
