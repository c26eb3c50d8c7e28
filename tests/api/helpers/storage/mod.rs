//! Storage for the tests: settings for a fresh bucket on the shared SeaweedFS (the one
//! `scripts/seaweedfs.sh start` runs; unreachable SeaweedFS fails the test, it never skips),
//! removing a test's bucket, checks that no upload is left open, listing keys; and, for the
//! conformance suite, a store of each backend ([`Harness`]): a local store in a temporary root
//! whose presign routes listen on 127.0.0.1 (port 0), or an S3 store on a fresh bucket.

pub mod fixtures;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lectern::storage::{KeyPrefix, LocalSettings, LocalStore, ObjectStore, S3Settings, S3Store, StorageSettings};
use secrecy::SecretString;
use tempfile::TempDir;
use url::Url;

use super::TestApp;

/// The two storage backends a test can run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Local,
    S3,
}

/// S3 settings for a fresh bucket on the shared SeaweedFS (`LECTERN_TEST_S3_ENDPOINT`).
pub async fn s3_settings() -> S3Settings {
    let endpoint = std::env::var("LECTERN_TEST_S3_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8333".to_owned());
    s3_settings_at(&endpoint).await
}

/// S3 settings for a fresh bucket on the SeaweedFS S3 endpoint at `endpoint` (a test's private
/// instance, or the shared one). Parts are 5 MiB, the S3 minimum, so multi-part uploads stay small.
pub async fn s3_settings_at(endpoint: &str) -> S3Settings {
    if let Err(error) = reqwest::Client::new().get(endpoint).timeout(Duration::from_secs(3)).send().await {
        panic!("SeaweedFS is not reachable at {endpoint} ({error}); run `scripts/seaweedfs.sh start` first");
    }
    S3Settings {
        bucket: format!("lectern-test-{}", &uuid::Uuid::new_v4().simple().to_string()[..20]),
        endpoint: Some(Url::parse(endpoint).expect("the S3 endpoint is a URL")),
        region: "us-east-1".to_owned(),
        access_key_id: Some(std::env::var("LECTERN_TEST_S3_ACCESS_KEY").unwrap_or_else(|_| "lectern-test".to_owned())),
        secret_access_key: Some(SecretString::from(
            std::env::var("LECTERN_TEST_S3_SECRET_KEY").unwrap_or_else(|_| "lectern-test-secret".to_owned()),
        )),
        force_path_style: true,
        create_bucket: true,
        multipart_part_size: 5 * 1024 * 1024,
    }
}

/// [`s3_settings`] as an app's storage settings.
pub async fn seaweed_settings() -> StorageSettings {
    StorageSettings::S3(s3_settings().await)
}

/// Removes a test bucket with everything in it (objects and open multipart uploads), so the
/// shared SeaweedFS does not run out of volumes: it gives every bucket its own collection. Call
/// it at the end of a passing S3 test; a failing one keeps its bucket for inspection. Nothing
/// for the local backend (its directory goes with the app).
pub async fn remove_bucket(storage: &StorageSettings) {
    let StorageSettings::S3(settings) = storage else { return };
    let store = S3Store::connect(settings).await.expect("S3 store");
    remove_bucket_of(&store).await;
}

/// [`remove_bucket`] for a connected store (best effort).
pub async fn remove_bucket_of(store: &S3Store) {
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
    let everything = KeyPrefix::parse("").expect("the empty prefix is valid");
    let _ = store.delete_prefix(&everything).await;
    let _ = client.delete_bucket().bucket(store.bucket()).send().await;
}

/// No storage multipart upload is left open in the store: S3 `ListMultipartUploads` is empty.
pub async fn assert_no_multipart_uploads(store: &S3Store) {
    let listed = store.client().list_multipart_uploads().bucket(store.bucket()).send().await.expect("listing uploads");
    assert!(listed.uploads().is_empty(), "multipart uploads left: {:?}", listed.uploads());
}

/// No upload is left open in the app's store: on S3 no multipart upload; on the local backend
/// nothing in its bookkeeping directories (`.multipart`, `.appends`).
pub async fn assert_no_open_uploads(app: &TestApp) {
    match &app.storage_settings {
        StorageSettings::S3(settings) => {
            let store = S3Store::connect(settings).await.expect("S3 store");
            assert_no_multipart_uploads(&store).await;
        }
        StorageSettings::Local(_) => {
            for bookkeeping in [".multipart", ".appends"] {
                let entries = local_entries(app, bookkeeping);
                assert!(entries.is_empty(), "uploads left in {bookkeeping}: {entries:?}");
            }
        }
    }
}

/// Names in one of the local store's bookkeeping directories (`.appends`, `.multipart`).
pub fn local_entries(app: &TestApp, bookkeeping: &str) -> Vec<String> {
    let directory = app.data_dir.path().join("objects").join(bookkeeping);
    std::fs::read_dir(&directory)
        .map(|dir| dir.filter_map(Result::ok).map(|entry| entry.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default()
}

/// A local store under `dir/objects`, for tests of the store's users that need no HTTP: its
/// presigned URLs point nowhere.
pub async fn local_store_in(dir: &Path) -> LocalStore {
    LocalStore::open(&LocalSettings {
        root: dir.join("objects"),
        public_url: Url::parse("http://127.0.0.1:1").expect("valid"),
        presign_secret: SecretString::from("unused"),
    })
    .await
    .expect("local store")
}

/// Every key under `prefix`.
pub async fn keys_under(store: &dyn ObjectStore, prefix: &str) -> Vec<String> {
    let prefix = KeyPrefix::parse(prefix.to_owned()).expect("prefix");
    store.list(&prefix).await.expect("list").into_iter().map(|object| object.key.as_str().to_owned()).collect()
}

/// A store of one backend for the conformance cases, with an HTTP client for its presigned URLs.
pub struct Harness {
    store: Arc<dyn ObjectStore>,
    http: reqwest::Client,
    backend: HarnessBackend,
}

/// Where a [`Harness`] keeps its objects.
enum HarnessBackend {
    Local { root: PathBuf, _directory: TempDir, server: tokio::task::JoinHandle<()> },
    S3 { store: Arc<S3Store> },
}

impl Harness {
    pub async fn local() -> Self {
        let directory = tempfile::tempdir().expect("a temporary directory can be created");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a loopback port is free");
        let address = listener.local_addr().expect("a bound listener has an address");
        let settings = LocalSettings {
            root: directory.path().join("objects"),
            public_url: Url::parse(&format!("http://{address}")).expect("a socket address makes a valid URL"),
            presign_secret: SecretString::from("conformance-test-secret"),
        };
        let store = Arc::new(LocalStore::open(&settings).await.expect("the local store opens"));
        let routes = lectern::delivery::storage::routes(
            Arc::clone(&store),
            lectern::delivery::storage::UploadBounds::standalone(&lectern::media::UploadSettings::default()),
        );
        let server = tokio::spawn(async move {
            axum::serve(listener, routes).await.expect("the presign routes serve");
        });
        let root = store.root().to_path_buf();
        Self {
            store,
            http: reqwest::Client::new(),
            backend: HarnessBackend::Local { root, _directory: directory, server },
        }
    }

    pub async fn s3() -> Self {
        let settings = s3_settings().await;
        let store = Arc::new(S3Store::connect(&settings).await.unwrap_or_else(|error| {
            panic!(
                "cannot use SeaweedFS at {}: {}; is `scripts/seaweedfs.sh start` running with these credentials?",
                settings.endpoint.as_ref().map(Url::as_str).unwrap_or_default(),
                chain(&error)
            )
        }));
        Self { store: store.clone(), http: reqwest::Client::new(), backend: HarnessBackend::S3 { store } }
    }

    pub fn store(&self) -> &dyn ObjectStore {
        &*self.store
    }

    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// The local root, for the local-only cases.
    pub fn local_root(&self) -> &Path {
        match &self.backend {
            HarnessBackend::Local { root, .. } => root,
            HarnessBackend::S3 { .. } => panic!("only the local backend has a root"),
        }
    }

    /// No staging files or multipart uploads are left behind.
    pub async fn assert_no_leftovers(&self) {
        match &self.backend {
            HarnessBackend::Local { root, .. } => {
                for bookkeeping in [".staging", ".multipart"] {
                    let entries: Vec<_> =
                        std::fs::read_dir(root.join(bookkeeping)).expect("bookkeeping exists").collect();
                    assert!(entries.is_empty(), "{bookkeeping} still holds {entries:?}");
                }
            }
            HarnessBackend::S3 { store } => assert_no_multipart_uploads(store).await,
        }
    }

    /// Best-effort removal of a passing case's bucket, so SeaweedFS does not accumulate them.
    pub async fn remove_bucket(&self) {
        if let HarnessBackend::S3 { store } = &self.backend {
            remove_bucket_of(store).await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let HarnessBackend::Local { server, .. } = &self.backend {
            server.abort();
        }
    }
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}
