//! A large PATCH is streamed, never buffered: uploading 256 MiB in one request from a generated
//! stream must not grow this process's resident memory by anything like the body's size.
//!
//! Its own test binary with one test, so no other test's allocations share the process (the
//! server under test runs in this process): the other integration tests are one binary
//! (tests/api), whose concurrent tests would move this process's memory on their own. The bound
//! is generous (a third of the body) to stay robust on a busy machine; buffering the body would
//! exceed it several times over.

// The helpers of the `api` binary; this one uses a few of them.
#[allow(dead_code)]
#[path = "api/helpers/mod.rs"]
mod helpers;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use helpers::media::create_asset;
use helpers::storage::{Backend, remove_bucket};
use helpers::uploads::{header, media_app, test_uploads, tus_head, tus_upload_url};
use helpers::{generated_bytes, instructor};
use sqlx::PgPool;

const BODY_MIB: u64 = 256;

/// Resident memory of this process, in bytes.
fn resident_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|number| number.parse().ok())
        .expect("VmRSS");
    kib * 1024
}

async fn upload_streamed(pool: PgPool, backend: Backend) {
    let app = media_app(pool, backend, test_uploads()).await;
    let token = instructor(&app, &format!("teacher-{backend:?}@example.com")).await;
    let asset_id = create_asset(&app, &token, "Big").await["id"].as_str().expect("id").to_owned();
    let size = BODY_MIB * 1024 * 1024;
    let url = tus_upload_url(&app, &token, &asset_id, size + 1).await;

    // One 256 KiB block sent over and over: the client holds nothing more.
    let block = Bytes::from(generated_bytes(21, 256 * 1024));
    let blocks = size / block.len() as u64;
    let body = futures::stream::iter((0..blocks).map(move |_| Ok::<_, std::io::Error>(block.clone())));

    let baseline = resident_bytes();
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampler_peak = Arc::clone(&peak);
    let sampler = tokio::spawn(async move {
        loop {
            sampler_peak.fetch_max(resident_bytes(), Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    let response = app
        .client
        .patch(&url)
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("request");
    sampler.abort();
    assert_eq!(response.status(), 204, "{:?}", response.text().await);
    let head = tus_head(&app, &token, &url).await;
    assert_eq!(header(&head, "upload-offset"), Some(size.to_string().as_str()));

    let growth = peak.load(Ordering::Relaxed).saturating_sub(baseline);
    let limit = size / 3;
    eprintln!("{backend:?}: resident memory grew by {} MiB while streaming {BODY_MIB} MiB", growth >> 20);
    assert!(
        growth < limit,
        "{backend:?}: resident memory grew by {} MiB while streaming {BODY_MIB} MiB (limit {} MiB)",
        growth >> 20,
        limit >> 20
    );
    remove_bucket(&app.storage_settings).await;
}

#[sqlx::test]
async fn a_256_mib_patch_streams_with_bounded_memory_on_both_backends(pool: PgPool) {
    upload_streamed(pool.clone(), Backend::Local).await;
    // A second asset in the same database, through the S3 path (parts and a tail).
    upload_streamed(pool, Backend::S3).await;
}
