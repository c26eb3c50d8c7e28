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

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Bench, fresh_database, key_paths, median, start};

const DATABASE: &str = "lectern_bench_auth";

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; this harness takes no arguments of its own.
    let bench = Bench::from_env();
    let (server, admin) = fresh_database(DATABASE).await;

    let data_dir = tempfile::tempdir().expect("temp dir");
    let (app_url, _storage, stop) = Box::pin(start(&format!("{server}/{DATABASE}"), data_dir.path())).await;
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");

    println!(
        "auth_throughput: {} rounds of {} s, {} concurrent HTTP clients, median of rounds",
        bench.rounds, bench.seconds, bench.clients
    );

    // One session per client, so refreshes rotate independent token families.
    let mut sessions = Vec::new();
    for index in 0..bench.clients {
        let body = json!({"email": format!("bench{index}@example.com"), "password": "correct horse battery staple"});
        let answer: Value = client
            .post(format!("{app_url}/v1/auth/register"))
            .json(&body)
            .send()
            .await
            .expect("register")
            .json()
            .await
            .expect("json");
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
    println!(
        "GET /v1/me (verify + session + account lookup):          {me:.0} req/s  ratio to /healthz {:.2}",
        me / healthz
    );
    println!(
        "POST /v1/auth/refresh (rotation, two guarded writes):    {refresh:.0} req/s  ratio to /healthz {:.2}",
        refresh / healthz
    );

    stop.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query(&format!("drop database if exists {DATABASE} with (force)"))
        .execute(&admin)
        .await
        .expect("drop bench database");
}

#[derive(Clone, Copy)]
enum Kind {
    Healthz,
    Me,
    Refresh,
}

/// Runs `bench.rounds` rounds of `bench.clients` concurrent loops and returns the median
/// requests per second. Every answer must be a success, or the figure would be meaningless.
async fn http_rounds(
    bench: &Bench,
    client: &reqwest::Client,
    sessions: Arc<Vec<(String, String)>>,
    app_url: &str,
    kind: Kind,
) -> f64 {
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
                            let answer = client
                                .get(format!("{app_url}/v1/me"))
                                .bearer_auth(&sessions[index].0)
                                .send()
                                .await
                                .expect("me");
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
