//! Playback throughput on this machine: how many playback sessions a real Lectern creates per
//! second under concurrent load (and the p99 latency of one creation), and how fast its signed
//! origin (`/cdn/…`, signature verified on every request) serves one media segment compared
//! with nginx serving the same file from disk in the same run.
//!
//! Run: `cargo bench --bench playback` (needs PostgreSQL at `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, ffmpeg, and nginx — installed with apt-get
//! when missing and run as root; it creates and drops `lectern_bench_playback`). Settings:
//! `BENCH_ROUNDS` (default 5), `BENCH_SECONDS` per round (default 2), `BENCH_CLIENTS` concurrent
//! HTTP clients (default 8). Every figure is the median of the rounds.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Bench, fresh_database, median, start};

const DATABASE: &str = "lectern_bench_playback";

/// One measured round: requests per second and the 99th percentile latency in milliseconds.
struct Round {
    rate: f64,
    p99_ms: f64,
}

#[tokio::main]
async fn main() {
    let bench = Bench::from_env();
    let (server, admin) = fresh_database(DATABASE).await;

    let data_dir = tempfile::tempdir().expect("temp dir");
    let (app_url, storage, stop) = Box::pin(start(&format!("{server}/{DATABASE}"), data_dir.path())).await;
    let pool = sqlx::PgPool::connect(&format!("{server}/{DATABASE}")).await.expect("bench database");
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().expect("client");

    // An instructor with one published asset (a real package from `lectern transcode`).
    let answer: Value = client
        .post(format!("{app_url}/v1/auth/register"))
        .json(&json!({"email": "teacher@example.com", "password": "correct horse battery staple"}))
        .send()
        .await
        .expect("register")
        .json()
        .await
        .expect("json");
    let token = answer["tokens"]["access_token"].as_str().expect("token").to_owned();
    let owner_id: uuid::Uuid = answer["account"]["account_id"].as_str().expect("id").parse().expect("uuid");
    sqlx::query("update account set roles = '{learner,instructor}' where account_id = $1")
        .bind(owner_id)
        .execute(&pool)
        .await
        .expect("roles");
    let package = support::make_package(data_dir.path(), "1280x720");
    let asset_id = support::publish(&pool, &storage, owner_id, &package).await;

    println!(
        "playback: {} rounds of {} s, {} concurrent HTTP clients, median of rounds",
        bench.rounds, bench.seconds, bench.clients
    );

    // 1. Session creation: authorisation, may_watch, one insert and two canned signatures.
    let create_url = format!("{app_url}/v1/assets/{asset_id}/playback");
    let sessions =
        rounds(&bench, &client, move |client| client.post(create_url.clone()).bearer_auth(token.clone())).await;

    // 2. One media segment through the signed origin, and the same file from nginx.
    let session: Value = client
        .post(format!("{app_url}/v1/assets/{asset_id}/playback"))
        .bearer_auth(answer["tokens"]["access_token"].as_str().expect("token"))
        .send()
        .await
        .expect("session")
        .json()
        .await
        .expect("json");
    let (segment_path, segment_bytes) = largest_segment(&package);
    let rendition = segment_path.split('/').next().expect("rendition");
    let playlist = client
        .get(format!("{}/play/{}/{rendition}/playlist.m3u8", app_url, session["session_id"].as_str().expect("id")))
        .send()
        .await
        .expect("playlist")
        .text()
        .await
        .expect("text");
    let file_name = segment_path.rsplit('/').next().expect("file");
    let signed = playlist
        .lines()
        .find(|line| line.contains(file_name) && !line.starts_with('#'))
        .expect("segment URL")
        .to_owned();
    let origin = rounds(&bench, &client, move |client| client.get(signed.clone())).await;
    let nginx = Nginx::start(&package);
    let plain = format!("http://127.0.0.1:{}/{segment_path}", nginx.port);
    let reference = rounds(&bench, &client, move |client| client.get(plain.clone())).await;
    drop(nginx);

    let megabytes = segment_bytes as f64 / 1_000_000.0;
    println!(
        "POST /v1/assets/{{id}}/playback (session creation): {:.0} sessions/s, p99 {:.1} ms",
        median(sessions.iter().map(|r| r.rate).collect()),
        median(sessions.iter().map(|r| r.p99_ms).collect())
    );
    let origin_rate = median(origin.iter().map(|r| r.rate).collect());
    let nginx_rate = median(reference.iter().map(|r| r.rate).collect());
    println!(
        "GET /cdn/… one {megabytes:.2} MB segment (signature verified):  {origin_rate:.0} req/s ({:.0} MB/s), p99 {:.1} ms",
        origin_rate * megabytes,
        median(origin.iter().map(|r| r.p99_ms).collect())
    );
    println!(
        "nginx, same file from disk (reference):              {nginx_rate:.0} req/s ({:.0} MB/s), p99 {:.1} ms",
        nginx_rate * megabytes,
        median(reference.iter().map(|r| r.p99_ms).collect())
    );
    println!("origin / nginx ratio: {:.2}", origin_rate / nginx_rate);

    stop.cancel();
    tokio::time::sleep(Duration::from_millis(300)).await;
    pool.close().await;
    sqlx::query(&format!("drop database if exists {DATABASE} with (force)"))
        .execute(&admin)
        .await
        .expect("drop bench database");
}

/// Runs `bench.rounds` rounds of `bench.clients` concurrent loops sending `request`; every answer
/// must be a success and is read to the end.
async fn rounds<F>(bench: &Bench, client: &reqwest::Client, request: F) -> Vec<Round>
where
    F: Fn(&reqwest::Client) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let request = Arc::new(request);
    let mut results = Vec::new();
    for _ in 0..bench.rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..bench.clients {
            let (client, stop, request) = (client.clone(), stop.clone(), request.clone());
            tasks.push(tokio::spawn(async move {
                let mut latencies = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let sent = Instant::now();
                    let answer = request(&client).send().await.expect("request");
                    assert!(answer.status().is_success(), "answered {}", answer.status());
                    answer.bytes().await.expect("body");
                    latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
                }
                latencies
            }));
        }
        tokio::time::sleep(Duration::from_secs(bench.seconds)).await;
        stop.store(true, Ordering::Relaxed);
        let mut latencies = Vec::new();
        for task in tasks {
            latencies.extend(task.await.expect("client loop"));
        }
        let elapsed = started.elapsed().as_secs_f64();
        latencies.sort_by(f64::total_cmp);
        let p99 =
            latencies.get((latencies.len() * 99 / 100).min(latencies.len().saturating_sub(1))).copied().unwrap_or(0.0);
        results.push(Round { rate: latencies.len() as f64 / elapsed, p99_ms: p99 });
    }
    results
}

/// Ten seconds of 720p through `lectern transcode` (the course ladder).
/// The largest media segment of the package: (relative path, size).
fn largest_segment(package: &Path) -> (String, u64) {
    let mut paths = Vec::new();
    support::files(package, package, &mut paths);
    paths
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "m4s"))
        .map(|p| {
            let size = std::fs::metadata(package.join(&p)).expect("size").len();
            (p.to_str().expect("utf-8").to_owned(), size)
        })
        .max_by_key(|(_, size)| *size)
        .expect("a segment")
}

/// nginx serving `root` on a free loopback port with a throw-away configuration.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(root: &Path) -> Self {
        let binary = Path::new("/usr/sbin/nginx");
        if !binary.exists() {
            let status = Command::new("apt-get")
                .args(["install", "-y", "-qq", "nginx"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .expect("apt-get runs");
            assert!(status.success() && binary.exists(), "nginx is missing and could not be installed");
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("address").port();
        let temp = dir.path().display();
        let config = format!(
            "worker_processes auto;\npid {temp}/nginx.pid;\nerror_log {temp}/error.log;\nevents {{ worker_connections 1024; }}\n\
             http {{\n  access_log off;\n  sendfile on;\n  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n\
             fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n\
             server {{ listen 127.0.0.1:{port}; root {}; }}\n}}\n",
            root.display()
        );
        let config_path = dir.path().join("nginx.conf");
        std::fs::write(&config_path, config).expect("config");
        let child = Command::new(binary)
            .args(["-p", &temp.to_string(), "-c", config_path.to_str().expect("utf-8"), "-g", "daemon off;"])
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "nginx did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { child, port, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
