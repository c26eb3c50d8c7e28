//! Identity throughput on this machine: how many access tokens one core verifies per second, and
//! how many authenticated requests (`GET /v1/me`) and refresh-token rotations
//! (`POST /v1/auth/refresh`) a real Lectern answers per second, against `GET /healthz` measured the
//! same way in the same run as the reference (the cost of HTTP alone on this machine).
//!
//! Run: `cargo bench --bench auth_throughput` (needs PostgreSQL at `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`; it creates and drops `lectern_bench_auth`).
//! Settings: `BENCH_ROUNDS` (default 5), `BENCH_SECONDS` per round (default 2), `BENCH_CLIENTS`
//! concurrent HTTP clients (default 8). Every figure is the median of the rounds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lectern::app::{Application, ServeSettings};
use lectern::config::{Argon2Settings, AuthSettings, DatabaseSettings, HttpSettings, KeyPath, KeyPaths, RateLimit};
use lectern::jobs::WorkerSettings;
use lectern::storage::{LocalSettings, StorageSettings};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

const DATABASE: &str = "lectern_bench_auth";

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|value| value.parse().ok()).unwrap_or(default)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len().is_multiple_of(2) { (values[middle - 1] + values[middle]) / 2.0 } else { values[middle] }
}

struct Bench {
    rounds: u64,
    seconds: u64,
    clients: u64,
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments of its own.
    let bench = Bench {
        rounds: env_number("BENCH_ROUNDS", 5).max(1),
        seconds: env_number("BENCH_SECONDS", 2).max(1),
        clients: env_number("BENCH_CLIENTS", 8).max(1),
    };
    let server_url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let server = server_url.rsplit_once('/').map_or(server_url.as_str(), |(server, _)| server).to_owned();
    let admin = sqlx::PgPool::connect(&format!("{server}/postgres")).await.expect("PostgreSQL reachable at DATABASE_URL");
    sqlx::query(&format!("drop database if exists {DATABASE} with (force)")).execute(&admin).await.expect("drop bench database");

    let data_dir = tempfile::tempdir().expect("temp dir");
    let (app_url, stop) = Box::pin(start(&format!("{server}/{DATABASE}"), data_dir.path())).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");

    println!("auth_throughput: {} rounds of {} s, {} concurrent HTTP clients, median of rounds", bench.rounds, bench.seconds, bench.clients);

    // One session per client, so refreshes rotate independent token families.
    let mut sessions = Vec::new();
    for index in 0..bench.clients {
        let body = json!({"email": format!("bench{index}@example.com"), "password": "correct horse battery staple"});
        let answer: Value = client.post(format!("{app_url}/v1/auth/register")).json(&body).send().await.expect("register").json().await.expect("json");
        let access = answer["tokens"]["access_token"].as_str().expect("access token in register answer").to_owned();
        let refresh = answer["tokens"]["refresh_token"].as_str().expect("refresh token in register answer").to_owned();
        sessions.push((access, refresh));
    }

    // 1. Verification alone, in process, one thread: the cost every authenticated request pays.
    let keys = lectern::keys::load_or_generate(&key_paths(&data_dir.path().join("keys"))).expect("keys").0;
    let issuer = lectern::auth::issuer(&url::Url::parse(&app_url).expect("url"));
    let token_keys = lectern::auth::tokens::TokenKeys::new(&keys, issuer, Duration::from_secs(900));
    let token = sessions[0].0.clone();
    token_keys.verify(&token).expect("the registered token verifies with the server's key");
    let mut verify_rates = Vec::new();
    for _ in 0..bench.rounds {
        let started = Instant::now();
        let mut count = 0u64;
        while started.elapsed() < Duration::from_secs(bench.seconds) {
            for _ in 0..100 {
                std::hint::black_box(token_keys.verify(std::hint::black_box(&token)).expect("verifies"));
            }
            count += 100;
        }
        verify_rates.push(count as f64 / started.elapsed().as_secs_f64());
    }

    // 2. HTTP: the reference, then an authenticated read, then refresh rotations.
    let healthz = http_rounds(&bench, &client, Arc::new(sessions.clone()), &app_url, Kind::Healthz).await;
    let me = http_rounds(&bench, &client, Arc::new(sessions.clone()), &app_url, Kind::Me).await;
    let refresh = http_rounds(&bench, &client, Arc::new(sessions), &app_url, Kind::Refresh).await;

    let verify = median(verify_rates);
    println!("access-token verification (EdDSA, in process, 1 thread): {verify:.0} tokens/s");
    println!("GET /healthz (reference: HTTP alone):                    {healthz:.0} req/s");
    println!("GET /v1/me (verify + session + account lookup):          {me:.0} req/s  ratio to /healthz {:.2}", me / healthz);
    println!("POST /v1/auth/refresh (rotation, two guarded writes):    {refresh:.0} req/s  ratio to /healthz {:.2}", refresh / healthz);

    stop.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query(&format!("drop database if exists {DATABASE} with (force)")).execute(&admin).await.expect("drop bench database");
}

#[derive(Clone, Copy)]
enum Kind {
    Healthz,
    Me,
    Refresh,
}

/// Runs `bench.rounds` rounds of `bench.clients` concurrent loops and returns the median
/// requests per second. Every answer must be a success, or the figure would be meaningless.
async fn http_rounds(bench: &Bench, client: &reqwest::Client, sessions: Arc<Vec<(String, String)>>, app_url: &str, kind: Kind) -> f64 {
    // Refresh tokens are single-use, so each client carries its own chain across rounds.
    let chains: Arc<Vec<tokio::sync::Mutex<String>>> =
        Arc::new(sessions.iter().map(|(_, refresh)| tokio::sync::Mutex::new(refresh.clone())).collect());
    let mut rates = Vec::new();
    for _ in 0..bench.rounds {
        let done = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for index in 0..bench.clients as usize {
            let (client, done, stop, sessions, chains, app_url) =
                (client.clone(), done.clone(), stop.clone(), sessions.clone(), chains.clone(), app_url.to_owned());
            tasks.push(tokio::spawn(async move {
                let mut chain = chains[index].lock().await;
                while !stop.load(Ordering::Relaxed) {
                    match kind {
                        Kind::Healthz => {
                            let answer = client.get(format!("{app_url}/healthz")).send().await.expect("healthz");
                            assert!(answer.status().is_success(), "healthz answered {}", answer.status());
                        }
                        Kind::Me => {
                            let answer = client.get(format!("{app_url}/v1/me")).bearer_auth(&sessions[index].0).send().await.expect("me");
                            assert!(answer.status().is_success(), "/v1/me answered {}", answer.status());
                        }
                        Kind::Refresh => {
                            let answer = client
                                .post(format!("{app_url}/v1/auth/refresh"))
                                .json(&json!({"refresh_token": *chain}))
                                .send()
                                .await
                                .expect("refresh");
                            assert!(answer.status().is_success(), "refresh answered {}", answer.status());
                            let pair: Value = answer.json().await.expect("json");
                            *chain = pair["refresh_token"].as_str().expect("new refresh token").to_owned();
                        }
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        tokio::time::sleep(Duration::from_secs(bench.seconds)).await;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            task.await.expect("client loop");
        }
        rates.push(done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64());
    }
    median(rates)
}

fn key_paths(dir: &std::path::Path) -> KeyPaths {
    let key = |name: &str, setting| KeyPath { path: dir.join(name), setting, generate_if_missing: true };
    KeyPaths {
        cdn_key: key("cdn.pem", "LECTERN_CDN_KEY_FILE"),
        cdn_key_pair_id: None,
        token_key: key("token.pem", "LECTERN_TOKEN_KEY_FILE"),
        token_previous_keys: Vec::new(),
        storage_secret: key("storage-secret", "LECTERN_STORAGE_SECRET_FILE"),
    }
}

/// A real Lectern with production token settings, cheap password hashing (registration is not
/// what is measured) and rate limits out of the way.
async fn start(database_url: &str, data_dir: &std::path::Path) -> (String, CancellationToken) {
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
        storage: StorageSettings::Local(LocalSettings {
            root: data_dir.join("objects"),
            public_url: public_url.clone(),
            presign_secret: keys.storage_secret.clone(),
        }),
        cdn: lectern::cdn::CdnSettings::local(&public_url),
        ingest: lectern::config::IngestSettings::default(),
        uploads: lectern::config::UploadSettings::default(),
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
    (address, stop)
}
