//! Builds a store of each backend for the conformance suite: a local store in a temporary
//! root whose presign routes listen on 127.0.0.1 (port 0), or an S3 store on a fresh bucket
//! of the SeaweedFS endpoint that `scripts/seaweedfs.sh start` runs.

pub mod fixtures;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lectern::storage::{KeyPrefix, LocalSettings, LocalStore, ObjectStore, S3Settings, S3Store};
use secrecy::SecretString;
use tempfile::TempDir;
use url::Url;

pub struct Harness {
    store: Arc<dyn ObjectStore>,
    http: reqwest::Client,
    backend: Backend,
}

enum Backend {
    Local {
        root: PathBuf,
        _directory: TempDir,
        server: tokio::task::JoinHandle<()>,
    },
    S3 {
        store: Arc<S3Store>,
    },
}

impl Harness {
    pub async fn local() -> Self {
        let directory = tempfile::tempdir().expect("a temporary directory can be created");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port is free");
        let address = listener
            .local_addr()
            .expect("a bound listener has an address");
        let settings = LocalSettings {
            root: directory.path().join("objects"),
            public_url: Url::parse(&format!("http://{address}"))
                .expect("a socket address makes a valid URL"),
            presign_secret: SecretString::from("conformance-test-secret"),
        };
        let store = Arc::new(
            LocalStore::open(&settings)
                .await
                .expect("the local store opens"),
        );
        let routes = lectern::storage::local::routes(Arc::clone(&store));
        let server = tokio::spawn(async move {
            axum::serve(listener, routes)
                .await
                .expect("the presign routes serve");
        });
        let root = store.root().to_path_buf();
        Self {
            store,
            http: reqwest::Client::new(),
            backend: Backend::Local {
                root,
                _directory: directory,
                server,
            },
        }
    }

    pub async fn s3() -> Self {
        let endpoint = std::env::var("LECTERN_TEST_S3_ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:8333".to_owned());
        let access_key = std::env::var("LECTERN_TEST_S3_ACCESS_KEY")
            .unwrap_or_else(|_| "lectern-test".to_owned());
        let secret_key = std::env::var("LECTERN_TEST_S3_SECRET_KEY")
            .unwrap_or_else(|_| "lectern-test-secret".to_owned());
        let http = reqwest::Client::new();
        if let Err(error) = http
            .get(&endpoint)
            .timeout(Duration::from_secs(3))
            .send()
            .await
        {
            panic!(
                "SeaweedFS is not reachable at {endpoint} ({error}); run `scripts/seaweedfs.sh start` first"
            );
        }
        let bucket = format!(
            "lectern-test-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..20]
        );
        let settings = S3Settings {
            bucket,
            endpoint: Some(Url::parse(&endpoint).expect("LECTERN_TEST_S3_ENDPOINT is a URL")),
            region: "us-east-1".to_owned(),
            access_key_id: Some(access_key),
            secret_access_key: Some(SecretString::from(secret_key)),
            force_path_style: true,
            create_bucket: true,
            multipart_part_size: 5 * 1024 * 1024,
        };
        let store = Arc::new(S3Store::connect(&settings).await.unwrap_or_else(|error| {
            panic!("cannot use SeaweedFS at {endpoint}: {}; is `scripts/seaweedfs.sh start` running with these credentials?", chain(&error))
        }));
        Self {
            store: store.clone(),
            http,
            backend: Backend::S3 { store },
        }
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
            Backend::Local { root, .. } => root,
            Backend::S3 { .. } => panic!("only the local backend has a root"),
        }
    }

    /// No staging files or multipart uploads are left behind.
    pub async fn assert_no_leftovers(&self) {
        match &self.backend {
            Backend::Local { root, .. } => {
                for bookkeeping in [".staging", ".multipart"] {
                    let entries: Vec<_> = std::fs::read_dir(root.join(bookkeeping))
                        .expect("bookkeeping exists")
                        .collect();
                    assert!(entries.is_empty(), "{bookkeeping} still holds {entries:?}");
                }
            }
            Backend::S3 { store } => {
                let uploads = store
                    .client()
                    .list_multipart_uploads()
                    .bucket(store.bucket())
                    .send()
                    .await
                    .expect("listing uploads");
                assert!(
                    uploads.uploads().is_empty(),
                    "multipart uploads left: {:?}",
                    uploads.uploads()
                );
            }
        }
    }

    /// Best-effort removal of a passing case's bucket, so SeaweedFS does not accumulate them.
    pub async fn remove_bucket(&self) {
        if let Backend::S3 { store } = &self.backend {
            let everything = KeyPrefix::parse("").expect("the empty prefix is valid");
            let _ = store.delete_prefix(&everything).await;
            let _ = store
                .client()
                .delete_bucket()
                .bucket(store.bucket())
                .send()
                .await;
        }
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        if let Backend::Local { server, .. } = &self.backend {
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
