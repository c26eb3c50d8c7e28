//! The media fixtures of `tests/media/make-fixtures.sh`, generated once per test binary into the
//! shared target directory (the script keeps files that already exist, so reruns are quick).
#![allow(dead_code)]

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
        // Test binaries run in parallel; one lock file keeps two generators from racing.
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

pub fn fixture_dir() -> PathBuf {
    fixtures().0.clone()
}

/// The fixture entry named `name` (e.g. `landscape_1080p30`).
pub fn fixture(name: &str) -> &'static Value {
    fixtures().1.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no fixture {name}"))
}

/// Registers an instructor and returns their access token.
pub async fn instructor(app: &super::TestApp, email: &str) -> String {
    let registered = app.register(email).await;
    let account_id: uuid::Uuid = registered["account"]["account_id"].as_str().expect("id").parse().expect("uuid");
    sqlx::query("update account set roles = '{learner,instructor}' where account_id = $1")
        .bind(account_id)
        .execute(&app.pool)
        .await
        .expect("update roles");
    registered["tokens"]["access_token"].as_str().expect("token").to_owned()
}

/// Creates an asset through the API and returns its id.
pub async fn create_asset(app: &super::TestApp, token: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url("/v1/assets")).bearer_auth(token).json(&body).send().await.expect("request")
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

/// Storage settings for a fresh bucket on the shared SeaweedFS (see `scripts/seaweedfs.sh`).
pub async fn seaweed_settings() -> lectern::storage::StorageSettings {
    let endpoint = std::env::var("LECTERN_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8333".to_owned());
    seaweed_settings_at(&endpoint).await
}

/// Storage settings for a fresh bucket on the SeaweedFS S3 endpoint at `endpoint` (a test's
/// private instance, or the shared one).
pub async fn seaweed_settings_at(endpoint: &str) -> lectern::storage::StorageSettings {
    let reachable = reqwest::Client::new().get(endpoint).timeout(std::time::Duration::from_secs(3)).send().await;
    assert!(reachable.is_ok(), "SeaweedFS is not reachable at {endpoint}; run `scripts/seaweedfs.sh start` first");
    let bucket = format!("lectern-ingest-{}", &uuid::Uuid::new_v4().simple().to_string()[..20]);
    lectern::storage::StorageSettings::S3(lectern::storage::S3Settings {
        bucket,
        endpoint: Some(url::Url::parse(endpoint).expect("endpoint URL")),
        region: "us-east-1".to_owned(),
        access_key_id: Some(std::env::var("LECTERN_TEST_S3_ACCESS_KEY").unwrap_or_else(|_| "lectern-test".to_owned())),
        secret_access_key: Some(secrecy::SecretString::from(
            std::env::var("LECTERN_TEST_S3_SECRET_KEY").unwrap_or_else(|_| "lectern-test-secret".to_owned()),
        )),
        force_path_style: true,
        create_bucket: true,
        multipart_part_size: 5 * 1024 * 1024,
    })
}

/// Deterministic bytes (xorshift), so a test can make a large body twice.
pub fn generated_bytes(seed: u64, length: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
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

/// No storage multipart upload is left open: S3 `ListMultipartUploads` is empty, or the local
/// backend's `.multipart` directory is. `storage` is what the app was started with (`None`: the
/// local store in its data directory).
pub async fn assert_no_multipart_uploads(app: &super::TestApp, storage: Option<&lectern::storage::StorageSettings>) {
    match storage {
        Some(lectern::storage::StorageSettings::S3(settings)) => {
            let store = lectern::storage::S3Store::connect(settings).await.expect("S3 store");
            let listed =
                store.client().list_multipart_uploads().bucket(store.bucket()).send().await.expect("ListMultipartUploads");
            assert!(listed.uploads().is_empty(), "multipart uploads left: {:?}", listed.uploads());
        }
        Some(lectern::storage::StorageSettings::Local(settings)) => assert_local_multipart_empty(&settings.root),
        None => assert_local_multipart_empty(&app.data_dir.path().join("objects")),
    }
}

fn assert_local_multipart_empty(root: &Path) {
    let entries: Vec<_> = match std::fs::read_dir(root.join(".multipart")) {
        Ok(entries) => entries.collect(),
        Err(_) => Vec::new(),
    };
    assert!(entries.is_empty(), ".multipart still holds {entries:?}");
}

/// Removes a test bucket with everything in it (objects and open multipart uploads), so the
/// shared SeaweedFS does not run out of volumes: it gives every bucket its own collection. Call
/// it at the end of a passing S3 test; a failing one keeps its bucket for inspection.
pub async fn remove_bucket(storage: &lectern::storage::StorageSettings) {
    let lectern::storage::StorageSettings::S3(settings) = storage else { return };
    let store = lectern::storage::S3Store::connect(settings).await.expect("S3 store");
    let client = store.client();
    if let Ok(listed) = client.list_multipart_uploads().bucket(store.bucket()).send().await {
        for upload in listed.uploads() {
            let _ = client
                .abort_multipart_upload()
                .bucket(store.bucket())
                .key(upload.key().unwrap_or_default())
                .upload_id(upload.upload_id().unwrap_or_default())
                .send()
                .await;
        }
    }
    let everything = lectern::storage::KeyPrefix::parse("").expect("the empty prefix is valid");
    let _ = lectern::storage::ObjectStore::delete_prefix(&store, &everything).await;
    let _ = client.delete_bucket().bucket(store.bucket()).send().await;
}

/// Stores `bytes` as the asset's original and completes the upload, as tus or multipart would
/// (the workers then probe it).
pub async fn complete_upload(app: &super::TestApp, asset_id: uuid::Uuid, bytes: Vec<u8>) {
    use sha2::Digest;
    let key = lectern::media::source_key(lectern::media::AssetId(asset_id));
    let sha256: [u8; 32] = sha2::Sha256::digest(&bytes).into();
    let size = bytes.len() as u64;
    lectern::storage::put_bytes(&*app.storage, &key, bytes::Bytes::from(bytes), lectern::storage::PutOptions::default())
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
