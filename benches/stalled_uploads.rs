//! Playback while uploads stall (issue 18): a real `lectern serve` child process, 200 viewers
//! fetching a rendition playlist through `/play` and the segments it lists through the signed
//! origin `/cdn` in a loop, first alone, then while 300 tus PATCHes that declared 100 bytes and
//! sent 1 hold their connections open. Prints the viewers' p50/p99 latency and error rate of
//! both phases, and the server's resident memory and thread count before, during and after the
//! stalls.
//!
//! The server is given room for every stalled upload (per-account and total bounds at 1,000,
//! idle timeout 10 minutes), so the stalls really are held for the whole phase: the worst case
//! the bounds and the idle timeout exist to cut short.
//!
//! Run: `cargo bench --bench stalled_uploads` (needs PostgreSQL at `DATABASE_URL`, default
//! `postgres://postgres@127.0.0.1:5432/postgres`, and ffmpeg; it creates and drops
//! `lectern_bench_stalls`). Settings: `BENCH_SECONDS` per phase (default 60), `BENCH_VIEWERS`
//! (default 200), `BENCH_STALLS` (default 300), `BENCH_LECTERN` (a `lectern` binary to run
//! instead of the one this build made, e.g. `target/debug/lectern`).
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stdout)]

#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use support::{env_number, fresh_database};
use tokio::io::AsyncWriteExt;

const DATABASE: &str = "lectern_bench_stalls";

/// What one phase of viewers saw.
struct Phase {
    requests: usize,
    errors: usize,
    p50_ms: f64,
    p99_ms: f64,
}

#[tokio::main]
async fn main() {
    let seconds = env_number("BENCH_SECONDS", 60).max(1);
    let viewers = env_number("BENCH_VIEWERS", 200).max(1) as usize;
    let stalls = env_number("BENCH_STALLS", 300) as usize;
    let (server, admin) = fresh_database(DATABASE).await;
    let database_url = format!("{server}/{DATABASE}");
    let work = tempfile::tempdir().expect("temp dir");
    let data_dir = work.path().join("data");
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("free port").local_addr().expect("address").port();
    let base = format!("http://127.0.0.1:{port}");
    let lectern =
        std::env::var("BENCH_LECTERN").map_or_else(|_| PathBuf::from(env!("CARGO_BIN_EXE_lectern")), PathBuf::from);

    let envs = [
        ("DATABASE_URL", database_url.clone()),
        ("LECTERN_DATA_DIR", data_dir.display().to_string()),
        ("LECTERN_LISTEN", format!("127.0.0.1:{port}")),
        ("LECTERN_WORKERS", "0".to_owned()),
        ("LECTERN_LOG_FORMAT", "json".to_owned()),
        ("RUST_LOG", "error".to_owned()),
        ("LECTERN_MAX_CONCURRENT_UPLOADS", "1000".to_owned()),
        ("LECTERN_MAX_CONCURRENT_UPLOADS_PER_ACCOUNT", "1000".to_owned()),
        ("LECTERN_UPLOAD_IDLE_TIMEOUT", "10m".to_owned()),
    ];
    let password = "bench-password-long-enough";
    let mut create_admin = Command::new(&lectern)
        .args(["users", "create-admin", "--email", "bench@example.com"])
        .envs(envs.iter().cloned())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("lectern runs");
    {
        use std::io::Write;
        let mut stdin = create_admin.stdin.take().expect("stdin");
        writeln!(stdin, "{password}").expect("password");
    }
    assert!(create_admin.wait().expect("create-admin").success(), "users create-admin failed");
    let mut child = Command::new(&lectern)
        .arg("serve")
        .envs(envs.iter().cloned())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("lectern serve starts");
    let pid = child.id();
    let client = reqwest::Client::builder().pool_max_idle_per_host(viewers).build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
        assert!(Instant::now() < deadline, "lectern serve did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let login: Value = client
        .post(format!("{base}/v1/auth/login"))
        .json(&json!({"email": "bench@example.com", "password": password}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    let token = login["access_token"].as_str().expect("token").to_owned();
    let me: Value =
        client.get(format!("{base}/v1/me")).bearer_auth(&token).send().await.expect("me").json().await.expect("json");
    let owner_id: uuid::Uuid = me["account_id"].as_str().expect("id").parse().expect("uuid");
    let pool = sqlx::PgPool::connect(&database_url).await.expect("bench database");
    let package = support::make_package(work.path(), "640x360");
    let asset_id = publish(&pool, &data_dir.join("objects"), &base, owner_id, &package).await;

    // Each viewer has a session of its own.
    let mut sessions = Vec::with_capacity(viewers);
    for _ in 0..viewers {
        let session: Value = client
            .post(format!("{base}/v1/assets/{asset_id}/playback"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("session")
            .json()
            .await
            .expect("json");
        sessions.push(session["session_id"].as_str().expect("session id").to_owned());
    }
    let rendition = first_rendition(&package);

    println!(
        "stalled uploads: {viewers} viewers, {seconds} s per phase, {stalls} stalled tus PATCHes, server {}",
        lectern.display()
    );
    let before = process_figures(pid);
    let calm = view(&client, &base, &sessions, &rendition, seconds).await;

    // The stalls: each a tus upload of 100 bytes whose PATCH sends 1 byte and waits.
    let mut sockets = Vec::with_capacity(stalls);
    for _ in 0..stalls {
        let asset: Value = client
            .post(format!("{base}/v1/assets"))
            .bearer_auth(&token)
            .json(&json!({"title": "stalled"}))
            .send()
            .await
            .expect("asset")
            .json()
            .await
            .expect("json");
        let id = asset["id"].as_str().expect("asset id");
        let metadata = format!("asset_id {}", base64::engine::general_purpose::STANDARD.encode(id));
        let created = client
            .post(format!("{base}/v1/uploads/tus"))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", "100")
            .header("Upload-Metadata", metadata)
            .send()
            .await
            .expect("tus creation");
        assert_eq!(created.status(), 201);
        let location = created.headers()["location"].to_str().expect("ascii").to_owned();
        let path = location.strip_prefix(&base).expect("same server").to_owned();
        let mut socket = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
        let head = format!(
            "PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
             Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: 100\r\n\r\nx"
        );
        socket.write_all(head.as_bytes()).await.expect("send");
        sockets.push(socket);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let during_idle = process_figures(pid);
    let stalled = view(&client, &base, &sessions, &rendition, seconds).await;
    let during = process_figures(pid);
    drop(sockets);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = process_figures(pid);

    for (name, phase) in [("without stalls", &calm), ("with stalls   ", &stalled)] {
        println!(
            "viewers {name}: {} requests, p50 {:.1} ms, p99 {:.1} ms, errors {} ({:.2}%)",
            phase.requests,
            phase.p50_ms,
            phase.p99_ms,
            phase.errors,
            100.0 * phase.errors as f64 / phase.requests.max(1) as f64
        );
    }
    println!("p99 with / without stalls: {:.2} (goal: at most 2)", stalled.p99_ms / calm.p99_ms.max(0.001));
    for (name, (rss_kib, threads)) in [
        ("before", before),
        ("stalls held, idle", during_idle),
        ("stalls held, after viewing", during),
        ("after the stalls closed", after),
    ] {
        println!("server {name}: RSS {:.1} MiB, {threads} threads", rss_kib as f64 / 1024.0);
    }

    let _ = child.kill();
    let _ = child.wait();
    pool.close().await;
    sqlx::query(&format!("drop database if exists {DATABASE} with (force)"))
        .execute(&admin)
        .await
        .expect("drop bench database");
}

/// `VmRSS` (KiB) and `Threads` of a process.
fn process_figures(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the server runs");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|value| value.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("Threads:"))
}

/// Every viewer loops for `seconds`: the rendition playlist through `/play`, then each segment it
/// lists through `/cdn`. Every request is timed; a failure (a non-2xx or a transport error, with
/// a 10 s timeout) counts as an error.
async fn view(client: &reqwest::Client, base: &str, sessions: &[String], rendition: &str, seconds: u64) -> Phase {
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for session in sessions {
        let (client, stop) = (client.clone(), Arc::clone(&stop));
        let playlist_url = format!("{base}/play/{session}/{rendition}");
        tasks.push(tokio::spawn(async move {
            let (mut latencies, mut errors) = (Vec::new(), 0usize);
            let timed = |request: reqwest::RequestBuilder| async move {
                let sent = Instant::now();
                let result = match request.timeout(Duration::from_secs(10)).send().await {
                    Ok(answer) if answer.status().is_success() => answer.bytes().await.ok(),
                    _ => None,
                };
                (sent.elapsed().as_secs_f64() * 1000.0, result)
            };
            while !stop.load(Ordering::Relaxed) {
                let (took, playlist) = timed(client.get(&playlist_url)).await;
                latencies.push(took);
                let Some(playlist) = playlist else {
                    errors += 1;
                    continue;
                };
                let text = String::from_utf8_lossy(&playlist).into_owned();
                for line in text.lines().filter(|line| !line.starts_with('#') && !line.is_empty()) {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let (took, segment) = timed(client.get(line)).await;
                    latencies.push(took);
                    if segment.is_none() {
                        errors += 1;
                    }
                }
            }
            (latencies, errors)
        }));
    }
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (more, failed) = task.await.expect("viewer");
        latencies.extend(more);
        errors += failed;
    }
    latencies.sort_by(f64::total_cmp);
    let at = |q: usize| latencies.get((latencies.len() * q / 100).min(latencies.len().saturating_sub(1))).copied();
    Phase { requests: latencies.len(), errors, p50_ms: at(50).unwrap_or(0.0), p99_ms: at(99).unwrap_or(0.0) }
}

/// Ten seconds of 360p through `lectern transcode` (the course ladder).
/// The package path of a rendition playlist (`…/playlist.m3u8`).
fn first_rendition(package: &Path) -> String {
    let mut paths = Vec::new();
    support::files(package, package, &mut paths);
    let mut playlists: Vec<String> = paths
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n == "playlist.m3u8"))
        .map(|p| p.to_str().expect("utf-8").to_owned())
        .collect();
    playlists.sort();
    playlists.into_iter().next().expect("a rendition playlist")
}

/// Stores the package as version 1 of a new asset in the server's local storage directory and
/// marks the asset ready.
async fn publish(pool: &sqlx::PgPool, root: &Path, base: &str, owner_id: uuid::Uuid, package: &Path) -> uuid::Uuid {
    let settings = lectern::storage::StorageSettings::Local(lectern::storage::LocalSettings {
        root: root.to_path_buf(),
        public_url: url::Url::parse(base).expect("url"),
        // Only presigning reads it; the bench only writes.
        presign_secret: secrecy::SecretString::from("unused"),
    });
    support::publish(pool, &settings, owner_id, package).await
}
