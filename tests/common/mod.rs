//! Shared set-up for integration tests: a real Lectern on 127.0.0.1 with port 0, local storage
//! in a temporary directory, and the per-test database `#[sqlx::test]` provides.
#![allow(dead_code)]

use std::time::Duration;

use lectern::app::{Application, ServeSettings};
use lectern::config::{DatabaseSettings, HttpSettings, KeyPath, KeyPaths};
use lectern::jobs::WorkerSettings;
use lectern::storage::{LocalSettings, StorageSettings};
use secrecy::SecretString;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub data_dir: tempfile::TempDir,
    pub stop: CancellationToken,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

#[derive(Default)]
pub struct TestOptions {
    pub cors_origins: Vec<String>,
    pub workers: usize,
}

pub fn key_paths(dir: &std::path::Path) -> KeyPaths {
    let key = |name: &str, setting| KeyPath { path: dir.join(name), setting, generate_if_missing: true };
    KeyPaths {
        cdn_key: key("cdn.pem", "LECTERN_CDN_KEY_FILE"),
        cdn_key_pair_id: None,
        token_key: key("token.pem", "LECTERN_TOKEN_KEY_FILE"),
        storage_secret: key("storage-secret", "LECTERN_STORAGE_SECRET_FILE"),
    }
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, TestOptions::default()).await
}

pub async fn spawn_app_with(pool: PgPool, options: TestOptions) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let (keys, _) = lectern::keys::load_or_generate(&key_paths(&data_dir.path().join("keys"))).expect("keys");
    // Bind first so the public URL (used in presigned links) carries the real port.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let listen = probe.local_addr().expect("address");
    drop(probe);
    let public_url = url::Url::parse(&format!("http://{listen}")).expect("valid URL");
    let settings = ServeSettings {
        http: HttpSettings {
            listen,
            public_url: public_url.clone(),
            cors_origins: options.cors_origins,
            request_timeout: Duration::from_secs(30),
            max_json_body: 1024 * 1024,
        },
        database: DatabaseSettings {
            url: SecretString::from("postgres://unused"),
            max_connections: 5,
            connect_timeout: Duration::from_secs(1),
            create_if_missing: false,
        },
        storage: StorageSettings::Local(LocalSettings {
            root: data_dir.path().join("objects"),
            public_url,
            presign_secret: keys.storage_secret.clone(),
        }),
        keys,
        workers: WorkerSettings {
            concurrency: options.workers,
            poll_interval: Duration::from_millis(200),
            ..WorkerSettings::default()
        },
        migrate_on_start: false,
        shutdown_timeout: Duration::from_secs(5),
    };
    let application = Application::build_with_pool(settings, pool.clone()).await.expect("application builds");
    let address = format!("http://{}", application.local_addr().expect("bound"));
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move { application.run_until_stopped(stopped.cancelled_owned()).await });
    TestApp { address, client: reqwest::Client::new(), pool, data_dir, stop }
}
