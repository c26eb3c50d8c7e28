//! Direct multipart uploads: real presigned part PUTs (SeaweedFS's S3 URLs, and the local
//! backend's `/storage/uploads/…` routes), completion into the asset's original with its
//! SHA-256, and the error codes of every way it can go wrong.

use crate::helpers::media::{asset_state, new_asset};
use crate::helpers::storage::{assert_no_open_uploads, remove_bucket, seaweed_settings};
use crate::helpers::{
    MIB, TestApp, TestOptions, error_code, generated_bytes, instructor, sha256_hex, spawn_app_with,
    test_ingest_settings,
};
use lectern::media::UploadSettings;
use lectern::storage::{KeyPrefix, StorageSettings};
use serde_json::{Value, json};
use sqlx::PgPool;

/// An app with 5 MiB parts and no workers (assets stay `uploaded`, so the tests see that state).
async fn app(pool: PgPool, storage: Option<StorageSettings>, max_size: Option<u64>) -> TestApp {
    let mut ingest = test_ingest_settings();
    ingest.multipart_part_size = 5 * MIB as u64;
    let uploads = max_size.map(|max_size| UploadSettings { max_size, ..UploadSettings::default() });
    spawn_app_with(pool, TestOptions { storage, ingest: Some(ingest), uploads, ..TestOptions::default() }).await
}

async fn post(app: &TestApp, token: &str, path: &str, body: Value) -> reqwest::Response {
    app.client.post(app.url(path)).bearer_auth(token).json(&body).send().await.expect("request")
}

async fn start(app: &TestApp, token: &str, asset_id: uuid::Uuid, body: Value) -> reqwest::Response {
    post(app, token, &format!("/v1/assets/{asset_id}/multipart"), body).await
}

/// PUTs each part to its presigned URL and returns `(part_number, etag)` pairs.
async fn put_parts(
    app: &TestApp,
    token: &str,
    asset_id: uuid::Uuid,
    upload_id: &str,
    parts: &[&[u8]],
) -> Vec<(u32, String)> {
    let last = parts.len() as u32;
    let response = post(
        app,
        token,
        &format!("/v1/assets/{asset_id}/multipart/parts"),
        json!({"upload_id": upload_id, "part_numbers": {"first": 1, "last": last}}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let presigned: Value = response.json().await.expect("json");
    let urls = presigned["parts"].as_array().expect("parts");
    assert_eq!(urls.len(), parts.len());
    let mut etags = Vec::new();
    for (entry, bytes) in urls.iter().zip(parts) {
        let url = entry["url"].as_str().expect("url");
        // Nothing but the body: presigned part URLs sign no Content-Type.
        let put = app.client.put(url).body(bytes.to_vec()).send().await.expect("PUT part");
        assert!(put.status().is_success(), "PUT {url}: {} {}", put.status(), put.text().await.unwrap_or_default());
        let etag = put.headers()["etag"].to_str().expect("etag").to_owned();
        etags.push((entry["part_number"].as_u64().expect("number") as u32, etag));
    }
    etags
}

async fn complete(
    app: &TestApp,
    token: &str,
    asset_id: uuid::Uuid,
    upload_id: &str,
    etags: &[(u32, String)],
) -> reqwest::Response {
    let parts: Vec<Value> = etags.iter().map(|(n, e)| json!({"part_number": n, "etag": e})).collect();
    post(
        app,
        token,
        &format!("/v1/assets/{asset_id}/multipart/complete"),
        json!({"upload_id": upload_id, "parts": parts}),
    )
    .await
}

/// Creates an asset and starts an upload of `size` bytes; returns the asset and upload ids.
async fn started(app: &TestApp, token: &str, size: Option<usize>) -> (uuid::Uuid, String) {
    let asset_id = new_asset(app, token).await;
    let body = match size {
        Some(size) => json!({"size": size, "content_type": "video/mp4"}),
        None => json!({}),
    };
    let response = start(app, token, asset_id, body).await;
    assert_eq!(response.status(), 201);
    let upload: Value = response.json().await.expect("json");
    (asset_id, upload["upload_id"].as_str().expect("upload id").to_owned())
}

async fn uploads_a_file_in_three_parts(app: TestApp) {
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    let file = generated_bytes(7, 11 * MIB + 123);
    let response = start(&app, &token, asset_id, json!({"size": file.len(), "content_type": "video/mp4"})).await;
    assert_eq!(response.status(), 201);
    let upload: Value = response.json().await.expect("json");
    assert_eq!(upload["part_size"], 5 * MIB);
    assert_eq!(upload["part_count"], 3);
    let upload_id = upload["upload_id"].as_str().expect("id").to_owned();

    let chunks: Vec<&[u8]> = file.chunks(5 * MIB).collect();
    let etags = put_parts(&app, &token, asset_id, &upload_id, &chunks).await;
    let response = complete(&app, &token, asset_id, &upload_id, &etags).await;
    assert_eq!(response.status(), 200);
    let completed: Value = response.json().await.expect("json");
    assert_eq!(completed["size"], file.len());
    assert_eq!(completed["sha256"], sha256_hex(&file));
    assert_eq!(completed["status"], "uploaded");

    let state = asset_state(&app.pool, asset_id).await;
    assert_eq!(state.status, "uploaded");
    assert_eq!(state.source_sha256.as_deref(), Some(sha256_hex(&file).as_str()));
    assert_eq!(state.source_size, Some(file.len() as i64));
    let stored =
        lectern::storage::get_bytes(&*app.storage, &lectern::media::source_key(lectern::media::AssetId(asset_id)))
            .await
            .expect("the original is stored");
    assert_eq!(stored.len(), file.len());
    assert!(stored == file.as_slice(), "the stored bytes are the uploaded ones");
    let probes: i64 = sqlx::query_scalar("select count(*) from job where kind = 'media.probe' and unique_key = $1")
        .bind(format!("media.probe:{asset_id}"))
        .fetch_one(&app.pool)
        .await
        .expect("count");
    assert_eq!(probes, 1, "the probe is enqueued");

    // Finished is finished.
    let again = complete(&app, &token, asset_id, &upload_id, &etags).await;
    assert_eq!(again.status(), 409);
    assert_eq!(error_code(again).await, "upload_finished");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_file_uploaded_in_parts_on_s3_becomes_the_original(pool: PgPool) {
    let storage = seaweed_settings().await;
    uploads_a_file_in_three_parts(app(pool, Some(storage.clone()), None).await).await;
    remove_bucket(&storage).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_file_uploaded_in_parts_on_local_storage_becomes_the_original(pool: PgPool) {
    uploads_a_file_in_three_parts(app(pool, None, None).await).await;
}

async fn wrong_etags_and_part_numbers_are_invalid_parts(app: TestApp) {
    let token = instructor(&app, "teacher@example.com").await;
    let file = generated_bytes(8, 6 * MIB);
    let (asset_id, upload_id) = started(&app, &token, Some(file.len())).await;
    let chunks: Vec<&[u8]> = file.chunks(5 * MIB).collect();
    let etags = put_parts(&app, &token, asset_id, &upload_id, &chunks).await;

    let wrong = vec![(1, "\"00000000000000000000000000000000\"".to_owned()), etags[1].clone()];
    let response = complete(&app, &token, asset_id, &upload_id, &wrong).await;
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "invalid_part");

    let missing = vec![etags[0].clone(), (3, etags[1].1.clone())];
    let response = complete(&app, &token, asset_id, &upload_id, &missing).await;
    assert_eq!(error_code(response).await, "invalid_part");

    let unordered = vec![etags[1].clone(), etags[0].clone()];
    let response = complete(&app, &token, asset_id, &upload_id, &unordered).await;
    assert_eq!(error_code(response).await, "invalid_part");

    for part_numbers in [json!([0]), json!([10_001]), json!({"first": 1, "last": 2000}), json!([3])] {
        let response = post(
            &app,
            &token,
            &format!("/v1/assets/{asset_id}/multipart/parts"),
            json!({"upload_id": upload_id, "part_numbers": part_numbers}),
        )
        .await;
        assert_eq!(response.status(), 400, "{part_numbers}");
        assert_eq!(error_code(response).await, "invalid_part", "{part_numbers}");
    }

    // After all that, the right parts still complete.
    assert_eq!(complete(&app, &token, asset_id, &upload_id, &etags).await.status(), 200);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn wrong_etags_and_part_numbers_are_refused_on_s3(pool: PgPool) {
    let storage = seaweed_settings().await;
    wrong_etags_and_part_numbers_are_invalid_parts(app(pool, Some(storage.clone()), None).await).await;
    remove_bucket(&storage).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn wrong_etags_and_part_numbers_are_refused_on_local_storage(pool: PgPool) {
    wrong_etags_and_part_numbers_are_invalid_parts(app(pool, None, None).await).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn only_the_owner_or_an_admin_may_upload_and_one_upload_at_a_time(pool: PgPool) {
    let app = app(pool, None, None).await;
    let token = instructor(&app, "teacher@example.com").await;
    let stranger = instructor(&app, "stranger@example.com").await;
    let (asset_id, upload_id) = started(&app, &token, None).await;

    let response = start(&app, &stranger, asset_id, json!({})).await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "not_found");
    let response = post(
        &app,
        &stranger,
        &format!("/v1/assets/{asset_id}/multipart/parts"),
        json!({"upload_id": upload_id, "part_numbers": [1]}),
    )
    .await;
    assert_eq!(response.status(), 404);
    let response = app
        .client
        .delete(app.url(&format!("/v1/assets/{asset_id}/multipart?upload_id={upload_id}")))
        .bearer_auth(&stranger)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 404);
    let response = app
        .client
        .post(app.url(&format!("/v1/assets/{asset_id}/multipart")))
        .json(&json!({}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 401);

    let response = start(&app, &token, asset_id, json!({})).await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_code(response).await, "upload_in_progress");

    let response = post(
        &app,
        &token,
        &format!("/v1/assets/{asset_id}/multipart/parts"),
        json!({"upload_id": uuid::Uuid::new_v4(), "part_numbers": [1]}),
    )
    .await;
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "upload_not_found");
}

async fn too_large_files_are_refused(app: TestApp) {
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    let response = start(&app, &token, asset_id, json!({"size": 9 * MIB})).await;
    assert_eq!(response.status(), 413);
    assert_eq!(error_code(response).await, "file_too_large");

    // Undeclared, and found out at completion: the object is deleted and the asset errored.
    let (asset_id, upload_id) = started(&app, &token, None).await;
    let file = generated_bytes(9, 9 * MIB);
    let chunks: Vec<&[u8]> = file.chunks(5 * MIB).collect();
    let etags = put_parts(&app, &token, asset_id, &upload_id, &chunks).await;
    let response = complete(&app, &token, asset_id, &upload_id, &etags).await;
    assert_eq!(response.status(), 413);
    assert_eq!(error_code(response).await, "file_too_large");
    let state = asset_state(&app.pool, asset_id).await;
    assert_eq!(state.status, "errored");
    assert_eq!(state.error_code.as_deref(), Some("file_too_large"));
    let left = app.storage.list(&KeyPrefix::parse(format!("assets/{asset_id}/")).expect("prefix")).await.expect("list");
    assert!(left.is_empty(), "the oversized file is deleted: {left:?}");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn too_large_files_are_refused_on_s3(pool: PgPool) {
    let storage = seaweed_settings().await;
    too_large_files_are_refused(app(pool, Some(storage.clone()), Some(8 * MIB as u64)).await).await;
    remove_bucket(&storage).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn too_large_files_are_refused_on_local_storage(pool: PgPool) {
    too_large_files_are_refused(app(pool, None, Some(8 * MIB as u64)).await).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_aborted_upload_frees_its_parts_and_the_asset_takes_a_new_one(pool: PgPool) {
    let storage = seaweed_settings().await;
    let app = app(pool, Some(storage.clone()), None).await;
    let token = instructor(&app, "teacher@example.com").await;
    let (asset_id, upload_id) = started(&app, &token, None).await;
    let file = generated_bytes(10, 6 * MIB);
    let chunks: Vec<&[u8]> = file.chunks(5 * MIB).collect();
    put_parts(&app, &token, asset_id, &upload_id, &chunks).await;

    let abort = app
        .client
        .delete(app.url(&format!("/v1/assets/{asset_id}/multipart?upload_id={upload_id}")))
        .bearer_auth(&token)
        .send()
        .await
        .expect("request");
    assert_eq!(abort.status(), 204);
    assert_no_open_uploads(&app).await;
    let response = post(
        &app,
        &token,
        &format!("/v1/assets/{asset_id}/multipart/parts"),
        json!({"upload_id": upload_id, "part_numbers": [1]}),
    )
    .await;
    assert_eq!(error_code(response).await, "upload_not_found");
    assert_eq!(asset_state(&app.pool, asset_id).await.status, "waiting_upload");
    assert_eq!(start(&app, &token, asset_id, json!({})).await.status(), 201);
    remove_bucket(&storage).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_expired_upload_answers_gone(pool: PgPool) {
    let app = app(pool, None, None).await;
    let token = instructor(&app, "teacher@example.com").await;
    let (asset_id, upload_id) = started(&app, &token, None).await;
    sqlx::query("update upload set expires_at = now() - interval '1 minute'").execute(&app.pool).await.expect("expire");
    let response = post(
        &app,
        &token,
        &format!("/v1/assets/{asset_id}/multipart/parts"),
        json!({"upload_id": upload_id, "part_numbers": [1]}),
    )
    .await;
    assert_eq!(response.status(), 410);
    assert_eq!(error_code(response).await, "upload_expired");
    // An expired upload does not block a new one.
    assert_eq!(start(&app, &token, asset_id, json!({})).await.status(), 201);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_asset_that_is_not_waiting_takes_no_upload(pool: PgPool) {
    let app = app(pool, None, None).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    sqlx::query("update asset set status = 'errored', error_code = 'x', error_message = 'y' where asset_id = $1")
        .bind(asset_id)
        .execute(&app.pool)
        .await
        .expect("update");
    let response = start(&app, &token, asset_id, json!({})).await;
    assert_eq!(response.status(), 409);
    assert_eq!(error_code(response).await, "asset_not_waiting_upload");
}

#[test]
fn the_multipart_routes_are_in_the_openapi_document() {
    let document = serde_json::to_value(lectern::app::openapi_document()).expect("serialises");
    for path in [
        "/v1/assets/{asset_id}/multipart",
        "/v1/assets/{asset_id}/multipart/parts",
        "/v1/assets/{asset_id}/multipart/complete",
    ] {
        assert!(document["paths"][path].is_object(), "{path} is not documented");
    }
    assert!(document["paths"]["/v1/assets/{asset_id}/multipart"]["delete"].is_object());
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_content_type_that_is_not_a_media_type_is_refused(pool: PgPool) {
    let app = app(pool, None, None).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    let response = start(&app, &token, asset_id, json!({"content_type": "video/mp4\r\nx-amz-acl: public-read"})).await;
    assert_eq!(response.status(), 422);
    assert_eq!(error_code(response).await, "invalid_request");
}
