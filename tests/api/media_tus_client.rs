//! The official tus-js-client (Node, `tests/tus/upload.mjs`) uploads through a TCP proxy that
//! cuts the connection once in the middle of a chunk. The client must resume from the server's
//! offset on its own, and the stored original must be byte-for-byte the file, on both backends.
//!
//! Needs Node 20+ and `scripts/install-tus-client.sh`; without them the test fails and says so.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use crate::helpers::media::create_asset;
use crate::helpers::storage::{Backend, remove_bucket};
use crate::helpers::uploads::{PART, media_app_with, test_uploads};
use crate::helpers::{generated_bytes, instructor, sha256_hex};
use lectern::storage::get_bytes;
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Forwards connections to `target`; once `cut_after` bytes have gone from clients to the
/// server in total, drops the connection carrying them (once).
struct CuttingProxy {
    cut: Arc<AtomicBool>,
}

impl CuttingProxy {
    async fn bind() -> (TcpListener, SocketAddr) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("a free port");
        let address = listener.local_addr().expect("bound");
        (listener, address)
    }

    fn start(listener: TcpListener, target: SocketAddr, cut_after: u64) -> Self {
        let sent = Arc::new(AtomicU64::new(0));
        let cut = Arc::new(AtomicBool::new(false));
        let cut_flag = Arc::clone(&cut);
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (sent, cut) = (Arc::clone(&sent), Arc::clone(&cut_flag));
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else { return };
                    forward(client, server, sent, cut, cut_after).await;
                });
            }
        });
        Self { cut }
    }
}

async fn forward(client: TcpStream, server: TcpStream, sent: Arc<AtomicU64>, cut: Arc<AtomicBool>, cut_after: u64) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let upstream = async {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            let before = sent.fetch_add(read as u64, Ordering::SeqCst);
            if before + read as u64 > cut_after && !cut.swap(true, Ordering::SeqCst) {
                // Deliver part of this read, then vanish like a dropped Wi-Fi connection.
                let keep = usize::try_from(cut_after.saturating_sub(before)).unwrap_or(0).min(read);
                let _ = server_write.write_all(&buffer[..keep]).await;
                return;
            }
            if server_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    // When the upstream is cut, both halves are dropped with this future.
    tokio::select! {
        () = upstream => {}
        () = async { downstream.await; std::future::pending::<()>().await } => {}
    }
}

fn tus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tus")
}

/// Fails (never skips) when Node or the pinned client is missing.
fn require_client() {
    let node = std::process::Command::new("node").arg("--version").output();
    assert!(
        node.as_ref().is_ok_and(|output| output.status.success()),
        "Node is required for the tus-js-client test (install Node 20+), got {node:?}"
    );
    assert!(
        tus_dir().join("node_modules/tus-js-client/package.json").exists(),
        "tus-js-client is not installed: run scripts/install-tus-client.sh"
    );
}

async fn tus_js_client_resumes_after_a_cut_connection(pool: PgPool, backend: Backend) {
    require_client();
    let (listener, proxy_address) = CuttingProxy::bind().await;
    let public_url = url::Url::parse(&format!("http://{proxy_address}")).expect("URL");
    let app = media_app_with(pool, backend, test_uploads(), Some(public_url)).await;
    let app_address: SocketAddr = app.address.trim_start_matches("http://").parse().expect("address");
    // Mid-way through the second 4 MiB chunk (headers of earlier requests count too).
    let proxy = CuttingProxy::start(listener, app_address, 6 * 1024 * 1024 + 12_345);

    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = create_asset(&app, &token, "Lecture").await["id"].as_str().expect("id").to_owned();
    let content = generated_bytes(11, 2 * PART + 333_333);
    let file = app.data_dir.path().join("lecture.mp4");
    std::fs::write(&file, &content).expect("write the file");

    let run = tokio::process::Command::new("node")
        .arg(tus_dir().join("upload.mjs"))
        .env("TUS_ENDPOINT", format!("http://{proxy_address}/v1/uploads/tus"))
        .env("TUS_FILE", &file)
        .env("TUS_TOKEN", &token)
        .env("TUS_ASSET_ID", &asset_id)
        .env("TUS_CHUNK", (4 * 1024 * 1024).to_string())
        .kill_on_drop(true)
        .output();
    let output =
        tokio::time::timeout(Duration::from_secs(120), run).await.expect("the upload finishes").expect("node runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "upload.mjs failed: {stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert!(proxy.cut.load(Ordering::SeqCst), "the proxy cut the connection");
    assert!(report["retries"].as_u64().expect("retries") >= 1, "the client had to resume: {report} {stderr}");
    assert!(report["url"].as_str().expect("url").starts_with(&format!("http://{proxy_address}/v1/uploads/tus/")));

    let asset: Value = app.get_with(&format!("/v1/assets/{asset_id}"), &token).await.json().await.expect("json");
    assert_eq!(asset["status"], "uploaded");
    assert_eq!(asset["source"]["sha256"], sha256_hex(&content));
    let key = lectern::media::source_key(lectern::media::AssetId(asset_id.parse().expect("uuid")));
    let stored = get_bytes(&*app.storage, &key).await.expect("the original is stored");
    assert_eq!(sha256_hex(&stored), sha256_hex(&content));
    let metadata: Value = sqlx::query_scalar("select metadata from upload where asset_id = $1::uuid")
        .bind(&asset_id)
        .fetch_one(&app.pool)
        .await
        .expect("upload row");
    assert_eq!(metadata["filename"], "lecture.mp4");
    remove_bucket(&app.storage_settings).await;
}

#[sqlx::test]
async fn tus_js_client_resumes_after_a_cut_connection_on_local_storage(pool: PgPool) {
    tus_js_client_resumes_after_a_cut_connection(pool, Backend::Local).await;
}

#[sqlx::test]
async fn tus_js_client_resumes_after_a_cut_connection_on_s3(pool: PgPool) {
    tus_js_client_resumes_after_a_cut_connection(pool, Backend::S3).await;
}
