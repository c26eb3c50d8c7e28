//! What the benchmarks share: their settings from the environment, medians, and a real Lectern
//! on a scratch database with cheap password hashing and rate limits out of the way (what is
//! measured is never registration). Each bench includes this file with `#[path]`.
#![allow(dead_code, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use lectern::app::{Application, ServeSettings};
use lectern::auth::{Argon2Settings, AuthSettings, RateLimit};
use lectern::db::DatabaseSettings;
use lectern::http::HttpSettings;
use lectern::jobs::WorkerSettings;
use lectern::keys::{KeyPath, KeyPaths};
use lectern::storage::{LocalSettings, StorageSettings};
use secrecy::SecretString;
use tokio_util::sync::CancellationToken;

pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) { (values[middle - 1] + values[middle]) / 2.0 } else { values[middle] }
}

/// `BENCH_ROUNDS` (default 5) rounds of `BENCH_SECONDS` (default 2) with `BENCH_CLIENTS`
/// (default 8) concurrent HTTP clients.
pub struct Bench {
    pub rounds: u64,
    pub seconds: u64,
    pub clients: u64,
}

impl Bench {
    pub fn from_env() -> Self {
        Self {
            rounds: env_number("BENCH_ROUNDS", 5).max(1),
            seconds: env_number("BENCH_SECONDS", 2).max(1),
            clients: env_number("BENCH_CLIENTS", 8).max(1),
        }
    }
}

/// The PostgreSQL server of `DATABASE_URL` (without a database name), a connection to its
/// maintenance database, and `database` dropped so the bench starts from nothing.
pub async fn fresh_database(database: &str) -> (String, sqlx::PgPool) {
    let server_url =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let server = server_url.rsplit_once('/').map_or(server_url.as_str(), |(server, _)| server).to_owned();
    let admin =
        sqlx::PgPool::connect(&format!("{server}/postgres")).await.expect("PostgreSQL reachable at DATABASE_URL");
    sqlx::query(&format!("drop database if exists {database} with (force)"))
        .execute(&admin)
        .await
        .expect("drop bench database");
    (server, admin)
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

/// A real Lectern on the local backend with cheap password hashing and rate limits out of the way.
pub async fn start(database_url: &str, data_dir: &std::path::Path) -> (String, StorageSettings, CancellationToken) {
    start_with(database_url, data_dir, lectern::payments::PaymentSettings::default()).await
}

/// [`start`] with payment providers configured (the payments bench).
pub async fn start_with(
    database_url: &str,
    data_dir: &std::path::Path,
    payments: lectern::payments::PaymentSettings,
) -> (String, StorageSettings, CancellationToken) {
    let (keys, _) = lectern::keys::load_or_generate(&key_paths(&data_dir.join("keys"))).expect("keys");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
    let listen = listener.local_addr().expect("address");
    drop(listener);
    let public_url = url::Url::parse(&format!("http://{listen}")).expect("url");
    let mut auth = AuthSettings::default();
    auth.passwords.argon2 = Argon2Settings { memory_kib: 256, iterations: 1, parallelism: 1 };
    let unlimited = RateLimit { max: u32::MAX / 2, period: Duration::from_secs(60) };
    auth.rate_limits.register = unlimited;
    auth.rate_limits.login = unlimited;
    auth.rate_limits.refresh = unlimited;
    let storage = StorageSettings::Local(LocalSettings {
        root: data_dir.join("objects"),
        public_url: public_url.clone(),
        presign_secret: keys.storage_secret.clone(),
    });
    let settings = ServeSettings {
        http: HttpSettings {
            listen,
            public_url: public_url.clone(),
            cors_origins: Vec::new(),
            request_timeout: Duration::from_secs(30),
            max_json_body: 1024 * 1024,
        },
        database: DatabaseSettings {
            url: SecretString::from(database_url.to_owned()),
            max_connections: 16,
            connect_timeout: Duration::from_secs(10),
            create_if_missing: true,
        },
        storage: storage.clone(),
        cdn: lectern::cdn::CdnSettings::local(&public_url),
        ingest: lectern::media::IngestSettings::default(),
        transcoder: lectern::transcode::TranscoderSettings::Local,
        uploads: lectern::media::UploadSettings::default(),
        webhooks: lectern::webhooks::WebhookSettings::default(),
        training: lectern::training::TrainingSettings::default(),
        payments,
        lti: lectern::lti::LtiSettings::default(),
        mail: lectern::mail::MailSettings::default(), // accounts (issue 21)
        keys,
        auth,
        workers: WorkerSettings { concurrency: 0, ..WorkerSettings::default() },
        migrate_on_start: true,
        shutdown_timeout: Duration::from_secs(2),
    };
    let application = Box::pin(Application::build(settings)).await.expect("application builds");
    let address = format!("http://{}", application.local_addr().expect("bound"));
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move { application.run_until_stopped(stopped.cancelled_owned()).await });
    (address, storage, stop)
}

/// What `wrk` measured in one run: requests per second and latency percentiles.
pub struct WrkRun {
    pub rate: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Whether `wrk` (Debian's package `wrk`) is on the PATH. With it, HTTP figures come from an
/// outside load generator, so the bench process holds the server alone; without it, the benches
/// fall back to their in-process clients and say so.
pub fn have_wrk() -> bool {
    std::process::Command::new("wrk")
        .arg("--version")
        .output()
        .map(|out| {
            String::from_utf8_lossy(&out.stdout).contains("wrk") || String::from_utf8_lossy(&out.stderr).contains("wrk")
        })
        .unwrap_or(false)
}

/// Runs `wrk -t2 -c{connections} -d{seconds}s --latency` against `url` (with `headers`, and a
/// Lua `script` given `script_args`), and reads its summary. Panics when any answer was not a
/// success: a benchmark of errors measures nothing.
pub async fn wrk(
    url: &str,
    connections: u64,
    seconds: u64,
    headers: &[String],
    script: Option<(&std::path::Path, Vec<String>)>,
) -> WrkRun {
    let mut command = tokio::process::Command::new("wrk");
    command
        .arg("-t")
        .arg(connections.clamp(1, 2).to_string())
        .arg("-c")
        .arg(connections.to_string())
        .arg("-d")
        .arg(format!("{seconds}s"))
        .arg("--latency")
        .arg("--timeout")
        .arg("10s");
    for header in headers {
        command.arg("-H").arg(header);
    }
    let args = match script {
        Some((path, args)) => {
            command.arg("-s").arg(path);
            args
        }
        None => Vec::new(),
    };
    command.arg(url);
    if !args.is_empty() {
        command.arg("--").args(args);
    }
    let output = command.output().await.expect("wrk runs");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "wrk failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    assert!(!text.contains("Non-2xx") && !text.contains("Socket errors"), "wrk saw failed requests:\n{text}");
    let millis = |value: &str| -> f64 {
        let (number, factor) = if let Some(v) = value.strip_suffix("us") {
            (v, 0.001)
        } else if let Some(v) = value.strip_suffix("ms") {
            (v, 1.0)
        } else if let Some(v) = value.strip_suffix('s') {
            (v, 1000.0)
        } else {
            (value, 1.0)
        };
        number.parse::<f64>().expect("a wrk latency") * factor
    };
    let percentile = |name: &str| -> f64 {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(name).map(|rest| millis(rest.trim())))
            .unwrap_or_else(|| panic!("no {name} line in wrk's output:\n{text}"))
    };
    let rate = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .map(|v| v.trim().parse::<f64>().expect("a rate"))
        .unwrap_or_else(|| panic!("no rate in wrk's output:\n{text}"));
    WrkRun { rate, p50_ms: percentile("50%"), p99_ms: percentile("99%") }
}

/// A 10-second H.264/AAC test clip of `size` (`WxH`), packaged by `lectern transcode` into
/// `dir/package`.
pub fn make_package(dir: &Path, size: &str) -> PathBuf {
    let source = dir.join("lecture.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=30:duration=10")])
        .args([
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=10",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-c:a",
            "aac",
        ])
        .arg(&source)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    let out = dir.join("package");
    let output = Command::new(env!("CARGO_BIN_EXE_lectern"))
        .args(["transcode", source.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8"), "--quiet"])
        .output()
        .expect("lectern runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    out
}

/// Every file under `dir`, relative to `base`.
pub fn files(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(&path, base, out);
        } else {
            out.push(path.strip_prefix(base).expect("inside").to_path_buf());
        }
    }
}

/// Uploads the package as version 1 of a new asset into `storage` and marks the asset ready.
pub async fn publish(
    pool: &sqlx::PgPool,
    storage: &StorageSettings,
    owner_id: uuid::Uuid,
    package: &Path,
) -> uuid::Uuid {
    let new = lectern::media::assets::NewAsset {
        owner_id,
        title: "Lecture".to_owned(),
        description: None,
        passthrough: None,
        input_url: None,
        idempotency: None,
    };
    let asset_id = match lectern::media::assets::create(pool, &new).await.expect("asset") {
        lectern::media::assets::Created::New(asset) | lectern::media::assets::Created::Existing(asset) => {
            asset.asset_id
        }
    };
    let store = lectern::storage::connect(storage).await.expect("store").store;
    let mut paths = Vec::new();
    files(package, package, &mut paths);
    for path in paths {
        let key = lectern::storage::ObjectKey::parse(format!("assets/{asset_id}/v1/{}", path.to_str().expect("utf-8")))
            .expect("key");
        let bytes = std::fs::read(package.join(&path)).expect("read");
        lectern::storage::put_bytes(store.as_ref(), &key, bytes.into(), lectern::storage::PutOptions::default())
            .await
            .expect("upload");
    }
    sqlx::query(
        "insert into asset_version (asset_id, version, preset, state, manifests, published_at)
         values ($1, 1, 'course', 'published', '{}', now())",
    )
    .bind(asset_id)
    .execute(pool)
    .await
    .expect("version");
    sqlx::query("update asset set status = 'ready', current_version = 1, playable = true where asset_id = $1")
        .bind(asset_id)
        .execute(pool)
        .await
        .expect("ready");
    asset_id
}

/// The password of every account a bench registers.
pub const PASSWORD: &str = "correct horse battery staple";

/// Registers an account over HTTP; its id and access token.
pub async fn register(client: &reqwest::Client, app: &str, email: &str) -> (uuid::Uuid, String) {
    let answer: serde_json::Value = client
        .post(format!("{app}/v1/auth/register"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    (
        answer["account"]["account_id"].as_str().expect("id").parse().expect("uuid"),
        answer["tokens"]["access_token"].as_str().expect("token").to_owned(),
    )
}
