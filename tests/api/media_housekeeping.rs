//! The sweep of expired uploads: a tus-like upload (a storage multipart upload with a part and a
//! tail object) and a direct multipart upload with presigned parts are expired, swept, and
//! leave nothing in storage, on both backends; the worker pool schedules the sweep by itself.

use std::time::Duration;

use crate::helpers::media::{asset_state, event_types, new_asset};
use crate::helpers::storage::{assert_no_open_uploads, remove_bucket, seaweed_settings};
use crate::helpers::{MIB, TestApp, TestOptions, generated_bytes, instructor, spawn_app_with, test_ingest_settings};
use bytes::Bytes;
use lectern::media::housekeeping::{self, SweepReport};
use lectern::media::uploads::{self, NewUpload};
use lectern::media::{AssetId, source_key};
use lectern::storage::{KeyPrefix, PutOptions, StorageSettings, put_bytes};
use serde_json::{Value, json};
use sqlx::PgPool;

async fn app(pool: PgPool, storage: Option<StorageSettings>, workers: usize, sweep_every: Duration) -> TestApp {
    let mut ingest = test_ingest_settings();
    ingest.multipart_part_size = 5 * MIB as u64;
    ingest.sweep_interval = sweep_every;
    spawn_app_with(pool, TestOptions { storage, workers, ingest: Some(ingest), ..TestOptions::default() }).await
}

/// What an interrupted tus upload leaves, made directly as the tus writer would: on S3 a storage
/// multipart upload with one part stored; on a store that grows uploads in place (local) a
/// half-written append file; and in both cases the tail object and the row.
async fn tus_like_upload(app: &TestApp, asset_id: uuid::Uuid) -> uuid::Uuid {
    let key = source_key(AssetId(asset_id));
    let multipart = match app.storage.append_store() {
        Some(_) => None,
        None => Some(app.storage.create_multipart(&key, PutOptions::default()).await.expect("multipart")),
    };
    let metadata = json!({});
    let new = NewUpload {
        asset_id: AssetId(asset_id),
        protocol: "tus",
        length: Some(20 * MIB as u64),
        storage_upload_id: multipart.as_ref().map(|id| id.0.as_str()),
        metadata: &metadata,
        expires_at: time::OffsetDateTime::now_utc() + Duration::from_secs(3600),
    };
    let upload_id = uploads::create(&app.pool, &new).await.expect("row");
    let part = generated_bytes(1, 5 * MIB);
    match (&multipart, app.storage.append_store()) {
        (Some(multipart), _) => {
            app.storage.upload_part(&key, multipart, 1, Bytes::from(part)).await.expect("part stored");
        }
        (None, Some(appender)) => {
            let mut file = appender.open_append(&upload_id.to_string(), 0).await.expect("append file");
            file.write(&part).await.expect("appended");
            file.sync().await.expect("synced");
        }
        (None, None) => unreachable!("a store without appends gets a multipart upload"),
    }
    let tail = lectern::storage::ObjectKey::parse(format!("uploads/{upload_id}/tail")).expect("key");
    put_bytes(&*app.storage, &tail, Bytes::from(vec![3u8; 1000]), PutOptions::default()).await.expect("tail");
    upload_id
}

/// A direct multipart upload with two parts PUT through their presigned URLs.
async fn multipart_upload_with_parts(app: &TestApp, token: &str, asset_id: uuid::Uuid) -> uuid::Uuid {
    let started = app
        .client
        .post(app.url(&format!("/v1/assets/{asset_id}/multipart")))
        .bearer_auth(token)
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(started.status(), 201);
    let started: Value = started.json().await.expect("json");
    let upload_id = started["upload_id"].as_str().expect("id").to_owned();
    let presigned: Value = app
        .client
        .post(app.url(&format!("/v1/assets/{asset_id}/multipart/parts")))
        .bearer_auth(token)
        .json(&json!({"upload_id": upload_id, "part_numbers": [1, 2]}))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("json");
    for (index, part) in presigned["parts"].as_array().expect("parts").iter().enumerate() {
        let body = generated_bytes(index as u64 + 2, 5 * MIB);
        let put = app.client.put(part["url"].as_str().expect("url")).body(body).send().await.expect("PUT");
        assert!(put.status().is_success(), "PUT part: {}", put.status());
    }
    upload_id.parse().expect("uuid")
}

async fn expire(pool: &PgPool, upload_id: uuid::Uuid) {
    sqlx::query("update upload set expires_at = now() - interval '1 minute' where upload_id = $1")
        .bind(upload_id)
        .execute(pool)
        .await
        .expect("expire");
}

async fn open_uploads(pool: &PgPool) -> Vec<uuid::Uuid> {
    sqlx::query_scalar("select upload_id from upload order by created_at").fetch_all(pool).await.expect("uploads")
}

async fn sweeping_leaves_nothing_in_storage(app: TestApp) {
    let token = instructor(&app, "teacher@example.com").await;
    let tus_asset = new_asset(&app, &token).await;
    let tus_upload = tus_like_upload(&app, tus_asset).await;
    let multipart_asset = new_asset(&app, &token).await;
    let multipart_upload = multipart_upload_with_parts(&app, &token, multipart_asset).await;
    // A third upload that has not expired must be left alone.
    let live_asset = new_asset(&app, &token).await;
    let live_upload = multipart_upload_with_parts(&app, &token, live_asset).await;

    let everything = KeyPrefix::parse("uploads/").expect("prefix");
    assert!(!app.storage.list(&everything).await.expect("list").is_empty(), "the tail is there before the sweep");
    expire(&app.pool, tus_upload).await;
    expire(&app.pool, multipart_upload).await;

    let report = housekeeping::sweep(&app.pool, &*app.storage).await.expect("sweep");
    assert_eq!(report, SweepReport { expired: 2, failed: 0 });
    assert_eq!(open_uploads(&app.pool).await, vec![live_upload]);
    assert!(app.storage.list(&everything).await.expect("list").is_empty(), "tails and staged objects are gone");
    let originals = KeyPrefix::parse("assets/").expect("prefix");
    assert!(app.storage.list(&originals).await.expect("list").is_empty(), "no upload was completed by mistake");
    for asset_id in [tus_asset, multipart_asset] {
        assert_eq!(asset_state(&app.pool, asset_id).await.status, "waiting_upload");
        assert_eq!(event_types(&app.pool, asset_id).await.last().map(String::as_str), Some("asset.upload_expired"));
    }
    // A second sweep finds nothing to do.
    assert_eq!(housekeeping::sweep(&app.pool, &*app.storage).await.expect("sweep"), SweepReport::default());

    // Once the live upload is aborted too, no multipart upload of any kind is left, nor any
    // append file.
    let abort = app
        .client
        .delete(app.url(&format!("/v1/assets/{live_asset}/multipart?upload_id={live_upload}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(abort.status(), 204);
    assert_no_open_uploads(&app).await;
    // The swept assets take a new upload.
    let again = app
        .client
        .post(app.url(&format!("/v1/assets/{tus_asset}/multipart")))
        .bearer_auth(&token)
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), 201);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn expired_uploads_leave_nothing_in_s3(pool: PgPool) {
    let storage = seaweed_settings().await;
    let app = app(pool, Some(storage.clone()), 0, Duration::from_secs(300)).await;
    sweeping_leaves_nothing_in_storage(app).await;
    remove_bucket(&storage).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn expired_uploads_leave_nothing_in_local_storage(pool: PgPool) {
    let app = app(pool, None, 0, Duration::from_secs(300)).await;
    sweeping_leaves_nothing_in_storage(app).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn the_workers_schedule_the_sweep_themselves(pool: PgPool) {
    let app = app(pool, None, 1, Duration::from_millis(300)).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    let upload_id = multipart_upload_with_parts(&app, &token, asset_id).await;
    expire(&app.pool, upload_id).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !open_uploads(&app.pool).await.is_empty() {
        assert!(std::time::Instant::now() < deadline, "the scheduled sweep never removed the upload");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_no_open_uploads(&app).await;
    // One sweep job at a time: never two queued or running together.
    let active: i64 = sqlx::query_scalar(
        "select count(*) from job where kind = 'media.expire_uploads' and state in ('queued', 'running')",
    )
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert!(active <= 1, "{active} sweep jobs pending at once");
}
