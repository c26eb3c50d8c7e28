//! The shared set-up of the integration tests: a real Lectern on 127.0.0.1 with port 0, local
//! storage in a temporary directory (or a bucket on SeaweedFS, see [`storage`]), and the per-test
//! database `#[sqlx::test]` provides; accounts with roles, API keys, and deterministic bytes.
//!
//! - [`media`]: the media fixtures, assets, completed uploads and the asset's state;
//! - [`processing`]: following an asset through the jobs, and the engine children;
//! - [`uploads`]: apps with test upload settings on either backend, and tus requests;
//! - [`storage`]: SeaweedFS buckets, leftovers checks, and the store conformance harness;
//! - [`playback`]: a real package published as an asset's version 1, grants and sessions;
//! - [`cloudfront`]: a local stand-in for CloudFront's CreateInvalidation;
//! - [`players`]: the browser players of `tests/players`.

pub mod cloudfront;
pub mod lti;
pub mod mail; // accounts (issue 21)
pub mod media;
pub mod playback;
pub mod players;
pub mod processing;
pub mod storage;
pub mod stripe;
pub mod uploads;
pub mod yookassa;

use std::time::Duration;

use lectern::app::{Application, ServeSettings};
use lectern::auth::{Argon2Settings, AuthSettings, RateLimit};
use lectern::db::DatabaseSettings;
use lectern::http::HttpSettings;
use lectern::jobs::WorkerSettings;
use lectern::keys::{KeyPath, KeyPaths};
use lectern::media::IngestSettings;
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
    /// The app's object store, to look at what it stored.
    pub storage: std::sync::Arc<dyn lectern::storage::ObjectStore>,
    /// The storage settings the app runs with (tests may open their own connection).
    pub storage_settings: StorageSettings,
    /// The webhook key file the app runs with (see [`TestOptions::webhook_key`]).
    pub webhook_key: std::path::PathBuf,
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
    /// Identity settings; `None` uses [`test_auth_settings`].
    pub auth: Option<AuthSettings>,
    /// Verification-only token keys (`LECTERN_TOKEN_PREVIOUS_KEY_FILES`).
    pub token_previous_keys: Vec<std::path::PathBuf>,
    /// Earlier webhook keys that still decrypt (`LECTERN_WEBHOOK_PREVIOUS_KEY_FILES`).
    pub webhook_previous_keys: Vec<std::path::PathBuf>,
    /// The webhook key file (generated when missing); `None`: one file per test database, so the
    /// apps a test starts on one database share it as a deployment's processes do (one seals
    /// a secret, another signs with it).
    pub webhook_key: Option<std::path::PathBuf>,
    /// Public keys the signed origin trusts besides the app's own.
    pub cdn_trusted_keys: Vec<lectern::cdn::TrustedKey>,
    pub cdn_hash_algorithm: lectern::cdn::HashAlgorithm,
    /// Ingest settings; `None` uses [`test_ingest_settings`].
    pub ingest: Option<IngestSettings>,
    /// Upload limits; `None` uses the defaults.
    pub uploads: Option<lectern::media::UploadSettings>,
    /// Webhook settings; `None` uses the defaults.
    pub webhooks: Option<lectern::webhooks::WebhookSettings>,
    pub training: Option<lectern::training::TrainingSettings>,
    /// Payment settings; `None`: the defaults (payments off).
    pub payments: Option<lectern::payments::PaymentSettings>,
    /// LTI settings; `None` uses the defaults.
    pub lti: Option<lectern::lti::LtiSettings>,
    /// Object storage; `None` is a local store in the app's temporary directory.
    pub storage: Option<StorageSettings>,
    /// The public URL (e.g. a proxy in front of the app); `None` is the app's own address.
    pub public_url: Option<url::Url>,
    /// `LECTERN_CDN_BASE_URL`; `None` is the local origin.
    pub cdn_base_url: Option<String>,
    /// The CloudFront distribution to invalidate (see `cloudfront::start`); `None`: none.
    pub cloudfront: Option<lectern::cdn::CloudFrontSettings>,
    /// Lease, polling and retry timings of the workers; `None`: the defaults with a 200 ms poll.
    /// (`workers` still says how many run.)
    pub job_timings: Option<WorkerSettings>,
    /// Outgoing mail (accounts, issue 21); `None`: the log transport. See `mail::SmtpServer`.
    pub mail: Option<lectern::mail::MailSettings>,
}

/// The documented defaults, with engine children run by the built `lectern` binary (the test
/// executable itself cannot be one), and without the fast first package: tests that are not
/// about it count on the ladder being version 1. `media_fast_start` turns it on.
pub fn test_ingest_settings() -> IngestSettings {
    IngestSettings {
        engine_program: Some(std::path::PathBuf::from(env!("CARGO_BIN_EXE_lectern"))),
        fast_start: false,
        ..IngestSettings::default()
    }
}

/// The defaults with cheap password hashing (tests hash hundreds of passwords) and limits high
/// enough that only the rate-limit tests meet them.
pub fn test_auth_settings() -> AuthSettings {
    let mut settings = AuthSettings::default();
    settings.passwords.argon2 = Argon2Settings { memory_kib: 256, iterations: 1, parallelism: 1 };
    let generous = RateLimit { max: 1000, period: Duration::from_secs(60) };
    settings.rate_limits.register = generous;
    settings.rate_limits.login = generous;
    settings.rate_limits.refresh = generous;
    settings.rate_limits.oauth_callback = generous;
    settings.rate_limits.account_mail = generous; // accounts (issue 21)
    settings
}

pub fn key_paths(dir: &std::path::Path) -> KeyPaths {
    let key = |name: &str, setting| KeyPath { path: dir.join(name), setting, generate_if_missing: true };
    KeyPaths {
        cdn_key: key("cdn.pem", "LECTERN_CDN_KEY_FILE"),
        cdn_key_pair_id: None,
        token_key: key("token.pem", "LECTERN_TOKEN_KEY_FILE"),
        token_previous_keys: Vec::new(),
        storage_secret: key("storage-secret", "LECTERN_STORAGE_SECRET_FILE"),
        certificate_key: key("certificate.pem", "LECTERN_CERTIFICATE_KEY_FILE"),
        certificate_previous_keys: Vec::new(),
        lti_key: key("lti.pem", "LECTERN_LTI_KEY_FILE"),
        webhook_key: key("webhook-secret-key", "LECTERN_WEBHOOK_KEY_FILE"),
        webhook_previous_keys: Vec::new(),
    }
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, TestOptions::default()).await
}

pub async fn spawn_app_with(pool: PgPool, options: TestOptions) -> TestApp {
    let data_dir = tempfile::tempdir().expect("temp dir");
    let mut paths = key_paths(&data_dir.path().join("keys"));
    paths.token_previous_keys = options.token_previous_keys;
    paths.webhook_previous_keys = options.webhook_previous_keys;
    paths.webhook_key.path = options.webhook_key.unwrap_or_else(|| shared_webhook_key(&pool));
    let webhook_key = paths.webhook_key.path.clone();
    let (keys, _) = lectern::keys::load_or_generate(&paths).expect("keys");
    // Bind first so the public URL (used in presigned links) carries the real port.
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let listen = probe.local_addr().expect("address");
    drop(probe);
    let public_url =
        options.public_url.unwrap_or_else(|| url::Url::parse(&format!("http://{listen}")).expect("valid URL"));
    let storage_settings = options.storage.unwrap_or_else(|| {
        StorageSettings::Local(LocalSettings {
            root: data_dir.path().join("objects"),
            public_url: public_url.clone(),
            presign_secret: keys.storage_secret.clone(),
        })
    });
    let mut cdn = lectern::cdn::CdnSettings::local(&public_url);
    cdn.trusted_keys = options.cdn_trusted_keys;
    cdn.hash_algorithm = options.cdn_hash_algorithm;
    if let Some(base_url) = options.cdn_base_url {
        cdn.base_url = base_url;
    }
    cdn.cloudfront = options.cloudfront;
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
        storage: storage_settings.clone(),
        keys,
        auth: options.auth.unwrap_or_else(test_auth_settings),
        cdn,
        ingest: options.ingest.unwrap_or_else(test_ingest_settings),
        transcoder: lectern::transcode::TranscoderSettings::Local,
        uploads: options.uploads.unwrap_or_default(),
        webhooks: options.webhooks.unwrap_or_default(),
        training: options.training.unwrap_or_default(),
        payments: options.payments.unwrap_or_default(),
        lti: options.lti.unwrap_or_default(),
        mail: options.mail.unwrap_or_default(), // accounts (issue 21)
        workers: WorkerSettings {
            concurrency: options.workers,
            ..options
                .job_timings
                .unwrap_or(WorkerSettings { poll_interval: Duration::from_millis(200), ..WorkerSettings::default() })
        },
        migrate_on_start: false,
        shutdown_timeout: Duration::from_secs(5),
    };
    // Boxed: the settings and the start-up steps make a future larger than a test stack should hold.
    let application = Box::pin(Application::build_with_pool(settings, pool.clone())).await.expect("application builds");
    let address = format!("http://{}", application.local_addr().expect("bound"));
    let storage = application.state().storage.clone();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move { application.run_until_stopped(stopped.cancelled_owned()).await });
    TestApp { address, client: reqwest::Client::new(), pool, data_dir, stop, storage, storage_settings, webhook_key }
}

/// The webhook key file of the apps on `pool`'s database (see [`TestOptions::webhook_key`]).
fn shared_webhook_key(pool: &PgPool) -> std::path::PathBuf {
    let database = pool.connect_options().get_database().unwrap_or("lectern").to_owned();
    std::env::temp_dir().join("lectern-test-webhook-keys").join(database).join("webhook-secret-key")
}

/// The infrastructure of `app` (its pool and store, the local transcoder, no CDN), for tests that
/// run job handlers themselves.
pub async fn services(app: &TestApp, settings: &lectern::app::Settings) -> lectern::app::Services {
    let engine = settings.ingest.engine_settings();
    let transcoder = lectern::transcode::connect(&lectern::transcode::TranscoderSettings::Local, &engine)
        .await
        .expect("the local transcoder");
    lectern::app::Services {
        pool: app.pool.clone(),
        storage: app.storage.clone(),
        transcoder,
        invalidator: None,
        metrics: std::sync::Arc::new(lectern::metrics::Metrics::new()),
    }
}

/// A password every policy accepts.
pub const PASSWORD: &str = "correct horse battery staple";

impl TestApp {
    /// The app's keys, read back from its data directory (they were generated there).
    pub fn keys(&self) -> lectern::keys::Keys {
        let mut paths = key_paths(&self.key_dir());
        paths.webhook_key.path = self.webhook_key.clone();
        lectern::keys::load_or_generate(&paths).expect("keys").0
    }

    /// Where the app's keys are.
    pub fn key_dir(&self) -> std::path::PathBuf {
        self.data_dir.path().join("keys")
    }

    /// Webhooks with the default settings and this app's webhook key, for tests that build job
    /// handlers themselves.
    pub fn webhooks(&self) -> std::sync::Arc<lectern::webhooks::Webhooks> {
        let keys = self.keys().webhook_secrets;
        std::sync::Arc::new(lectern::webhooks::Webhooks::new(lectern::webhooks::WebhookSettings::default(), &keys))
    }

    /// An LTI tool with the default settings and this app's key, for tests that build job
    /// handlers themselves.
    pub fn lti(&self) -> std::sync::Arc<lectern::lti::Lti> {
        std::sync::Arc::new(lectern::lti::Lti::new(lectern::lti::LtiSettings::default(), self.keys().lti))
    }

    pub async fn post_json(&self, path: &str, body: serde_json::Value) -> reqwest::Response {
        self.client.post(self.url(path)).json(&body).send().await.expect("request")
    }

    /// Registers an account and returns the whole 201 body (`account` and `tokens`).
    pub async fn register(&self, email: &str) -> serde_json::Value {
        let response =
            self.post_json("/v1/auth/register", serde_json::json!({"email": email, "password": PASSWORD})).await;
        assert_eq!(response.status(), 201, "registering {email}");
        response.json().await.expect("json")
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json("/v1/auth/login", serde_json::json!({"email": email, "password": password})).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        self.post_json("/v1/auth/refresh", serde_json::json!({"refresh_token": refresh_token})).await
    }

    /// `GET path` with a bearer token.
    pub async fn get_with(&self, path: &str, access_token: &str) -> reqwest::Response {
        self.client.get(self.url(path)).bearer_auth(access_token).send().await.expect("request")
    }

    /// Makes an account an administrator directly in the database.
    pub async fn make_admin(&self, account_id: &str) {
        self.set_roles(account_id.parse().expect("uuid"), &["learner", "admin"]).await;
    }

    /// Sets an account's roles directly in the database.
    pub async fn set_roles(&self, account_id: uuid::Uuid, roles: &[&str]) {
        let roles: Vec<String> = roles.iter().map(|role| (*role).to_owned()).collect();
        sqlx::query("update account set roles = $2 where account_id = $1")
            .bind(account_id)
            .bind(&roles)
            .execute(&self.pool)
            .await
            .expect("update roles");
    }
}

/// Registers an account with `roles` and returns its id and access token.
pub async fn account_with_roles(app: &TestApp, email: &str, roles: &[&str]) -> (uuid::Uuid, String) {
    let registered = app.register(email).await;
    let account_id: uuid::Uuid = registered["account"]["account_id"].as_str().expect("id").parse().expect("uuid");
    app.set_roles(account_id, roles).await;
    (account_id, registered["tokens"]["access_token"].as_str().expect("token").to_owned())
}

/// Registers an instructor (a learner who may also upload) and returns their access token.
pub async fn instructor(app: &TestApp, email: &str) -> String {
    account_with_roles(app, email, &["learner", "instructor"]).await.1
}

/// `POST /v1/api-keys` with `body`.
pub async fn create_api_key(app: &TestApp, token: &str, body: serde_json::Value) -> reqwest::Response {
    app.client.post(app.url("/v1/api-keys")).bearer_auth(token).json(&body).send().await.expect("request")
}

/// Creates an API key with `scopes` that must succeed, and returns its secret.
pub async fn api_key(app: &TestApp, token: &str, scopes: &[&str]) -> String {
    let response = create_api_key(app, token, serde_json::json!({"name": "course site", "scopes": scopes})).await;
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.expect("json");
    body["secret"].as_str().expect("secret").to_owned()
}

/// The error code of a JSON error response.
pub async fn error_code(response: reqwest::Response) -> String {
    let body: serde_json::Value = response.json().await.expect("json error body");
    body["error"]["code"].as_str().expect("code").to_owned()
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("address").port()
}

pub const MIB: usize = 1024 * 1024;

/// Deterministic pseudo-random bytes (xorshift), so a test can make a large body twice and a
/// failure is reproducible.
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
