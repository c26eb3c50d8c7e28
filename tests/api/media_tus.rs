//! tus 1.0 uploads end to end, each case on both storage backends (a local directory, and a
//! fresh bucket on SeaweedFS, which must be running: `scripts/seaweedfs.sh start`).

use std::time::Duration;

use crate::helpers::media::create_asset;
use crate::helpers::storage::{Backend, assert_no_open_uploads, keys_under, local_entries, remove_bucket};
use crate::helpers::uploads::{
    PART, b64, header, media_app, test_uploads, tus_create, tus_head, tus_patch, tus_upload_url,
};
use crate::helpers::{TestApp, error_code, generated_bytes, instructor, sha256_hex, spawn_app};
use base64::Engine;
use lectern::storage::get_bytes;
use serde_json::{Value, json};
use sha2::Digest;
use sqlx::PgPool;

macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[sqlx::test]
                async fn $case(pool: sqlx::PgPool) {
                    super::$case(pool, super::Backend::Local).await;
                }
            )*
        }
        mod s3 {
            $(
                #[sqlx::test]
                async fn $case(pool: sqlx::PgPool) {
                    super::$case(pool, super::Backend::S3).await;
                }
            )*
        }
    };
}

on_both_backends!(
    patches_across_part_boundaries_store_the_exact_bytes_and_mark_the_asset_uploaded,
    creation_with_upload_stores_the_first_chunk,
    a_deferred_length_is_declared_by_a_later_patch,
    checksums_are_verified_and_a_mismatching_chunk_is_not_kept,
    termination_removes_every_stored_byte_and_frees_the_asset,
    a_deferred_upload_that_outgrows_the_limit_is_discarded_and_the_asset_errored,
    a_second_patch_is_locked_out_until_the_first_client_disconnects,
    final_bytes_stored_but_never_recorded_are_recovered_when_the_client_resumes,
    a_head_after_an_unrecorded_completion_reports_the_upload_complete,
);

struct Upload {
    app: TestApp,
    token: String,
    asset_id: String,
}

async fn asset_for_upload(pool: PgPool, backend: Backend) -> Upload {
    let app = media_app(pool, backend, test_uploads()).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = create_asset(&app, &token, "Lecture").await["id"].as_str().expect("id").to_owned();
    Upload { app, token, asset_id }
}

async fn asset_json(upload: &Upload) -> Value {
    upload.app.get_with(&format!("/v1/assets/{}", upload.asset_id), &upload.token).await.json().await.expect("json")
}

async fn offset_of(upload: &Upload, url: &str) -> u64 {
    let head = tus_head(&upload.app, &upload.token, url).await;
    assert_eq!(head.status(), 200);
    header(&head, "upload-offset").expect("Upload-Offset").parse().expect("number")
}

/// The stored original, its SHA-256 on the asset, the event and the probe job.
async fn assert_uploaded(upload: &Upload, expected: &[u8]) {
    let asset = asset_json(upload).await;
    assert_eq!(asset["status"], "uploaded");
    assert_eq!(asset["source"]["size"], expected.len());
    assert_eq!(asset["source"]["sha256"], sha256_hex(expected));
    let key = lectern::media::source_key(lectern::media::AssetId(upload.asset_id.parse().expect("uuid")));
    let stored = get_bytes(&*upload.app.storage, &key).await.expect("source object");
    assert_eq!(stored.len(), expected.len());
    assert!(stored == expected, "the stored bytes differ from the uploaded ones");
    let probes: i64 = sqlx::query_scalar("select count(*) from job where kind = 'media.probe' and payload = $1")
        .bind(json!({"asset_id": upload.asset_id}))
        .fetch_one(&upload.app.pool)
        .await
        .expect("count");
    assert_eq!(probes, 1);
    let events: Vec<String> =
        sqlx::query_scalar("select type from asset_event where asset_id = $1::uuid order by event_id")
            .bind(&upload.asset_id)
            .fetch_all(&upload.app.pool)
            .await
            .expect("events");
    assert_eq!(events, ["asset.created", "asset.uploaded"]);
    assert_eq!(keys_under(&*upload.app.storage, "uploads/").await, Vec::<String>::new(), "no tail is left");
}

async fn patches_across_part_boundaries_store_the_exact_bytes_and_mark_the_asset_uploaded(
    pool: PgPool,
    backend: Backend,
) {
    let upload = asset_for_upload(pool, backend).await;
    let content = generated_bytes(1, 2 * PART + 1234);
    let url = tus_upload_url(&upload.app, &upload.token, &upload.asset_id, content.len() as u64).await;
    assert!(url.starts_with(&upload.app.url("/v1/uploads/tus/")), "{url}");
    assert_eq!(offset_of(&upload, &url).await, 0);
    // Chunks that do not line up with parts: the tail carries over between requests.
    let mut offset = 0;
    for chunk in content.chunks(3 * 1024 * 1024 + 7) {
        let response = tus_patch(&upload.app, &upload.token, &url, offset, chunk.to_vec()).await;
        assert_eq!(response.status(), 204, "{:?}", response.text().await);
        offset += chunk.len() as u64;
        assert_eq!(header(&response, "upload-offset"), Some(offset.to_string().as_str()));
        assert_eq!(header(&response, "tus-resumable"), Some("1.0.0"));
        if offset < content.len() as u64 {
            assert_eq!(offset_of(&upload, &url).await, offset, "HEAD after a partial upload");
            assert_eq!(asset_json(&upload).await["status"], "waiting_upload");
        }
    }
    assert_uploaded(&upload, &content).await;
    assert_no_open_uploads(&upload.app).await;
    // A retried final PATCH finds nothing left to do.
    let retry = tus_patch(&upload.app, &upload.token, &url, offset, Vec::new()).await;
    assert_eq!(retry.status(), 204);
    remove_bucket(&upload.app.storage_settings).await;
}

/// The process dies after the last request's bytes became the source object but before the
/// database recorded them. The client's HEAD (or its retried PATCH) must find the upload
/// complete, with the right SHA-256, instead of an offset it can no longer append to.
async fn final_bytes_stored_but_never_recorded_are_recovered_when_the_client_resumes(pool: PgPool, backend: Backend) {
    let upload = asset_for_upload(pool, backend).await;
    let content = generated_bytes(9, PART + 4321);
    let url = tus_upload_url(&upload.app, &upload.token, &upload.asset_id, content.len() as u64).await;
    let first = tus_patch(&upload.app, &upload.token, &url, 0, content[..1000].to_vec()).await;
    assert_eq!(first.status(), 204);
    // The final request's storage side, without its closing transaction.
    let key = lectern::media::source_key(lectern::media::AssetId(upload.asset_id.parse().expect("uuid")));
    lectern::storage::put_bytes(&*upload.app.storage, &key, bytes::Bytes::from(content.clone()), Default::default())
        .await
        .expect("put");
    // The client retries the final request: it is answered as done without writing again.
    let retry = tus_patch(&upload.app, &upload.token, &url, 1000, content[1000..].to_vec()).await;
    assert_eq!(retry.status(), 204, "{:?}", retry.text().await);
    assert_eq!(offset_of(&upload, &url).await, content.len() as u64);
    assert_uploaded(&upload, &content).await;
    // Anything else is still an offset mismatch.
    let wrong = tus_patch(&upload.app, &upload.token, &url, 1000, content[1000..2000].to_vec()).await;
    assert_eq!(wrong.status(), 409);
    assert_eq!(error_code(wrong).await, "offset_mismatch");
    remove_bucket(&upload.app.storage_settings).await;
}

async fn a_head_after_an_unrecorded_completion_reports_the_upload_complete(pool: PgPool, backend: Backend) {
    let upload = asset_for_upload(pool, backend).await;
    let content = generated_bytes(10, PART / 2);
    let url = tus_upload_url(&upload.app, &upload.token, &upload.asset_id, content.len() as u64).await;
    let key = lectern::media::source_key(lectern::media::AssetId(upload.asset_id.parse().expect("uuid")));
    lectern::storage::put_bytes(&*upload.app.storage, &key, bytes::Bytes::from(content.clone()), Default::default())
        .await
        .expect("put");
    assert_eq!(offset_of(&upload, &url).await, content.len() as u64);
    assert_uploaded(&upload, &content).await;
    remove_bucket(&upload.app.storage_settings).await;
}

async fn creation_with_upload_stores_the_first_chunk(pool: PgPool, backend: Backend) {
    let upload = asset_for_upload(pool, backend).await;
    let content = generated_bytes(2, PART + 10);
    let first = &content[..1000];
    let response = upload
        .app
        .client
        .post(upload.app.url("/v1/uploads/tus"))
        .bearer_auth(&upload.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", content.len().to_string())
        .header("Upload-Metadata", format!("asset_id {}", b64(&upload.asset_id)))
        .header("Content-Type", "application/offset+octet-stream")
        .body(first.to_vec())
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "upload-offset"), Some("1000"));
    let url = header(&response, "location").expect("Location").to_owned();
    let rest = tus_patch(&upload.app, &upload.token, &url, 1000, content[1000..].to_vec()).await;
    assert_eq!(rest.status(), 204);
    assert_uploaded(&upload, &content).await;
    remove_bucket(&upload.app.storage_settings).await;
}

async fn a_deferred_length_is_declared_by_a_later_patch(pool: PgPool, backend: Backend) {
    let upload = asset_for_upload(pool, backend).await;
    let content = generated_bytes(3, PART + 4096);
    let created = upload
        .app
        .client
        .post(upload.app.url("/v1/uploads/tus"))
        .bearer_auth(&upload.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Defer-Length", "1")
        .header("Upload-Metadata", format!("asset_id {}", b64(&upload.asset_id)))
        .send()
        .await
        .expect("request");
    assert_eq!(created.status(), 201);
    let url = header(&created, "location").expect("Location").to_owned();
    let head = tus_head(&upload.app, &upload.token, &url).await;
    assert_eq!(header(&head, "upload-defer-length"), Some("1"));
    assert_eq!(header(&head, "upload-length"), None);
    let first = tus_patch(&upload.app, &upload.token, &url, 0, content[..PART + 1].to_vec()).await;
    assert_eq!(first.status(), 204);
    let last = upload
        .app
        .client
        .patch(&url)
        .bearer_auth(&upload.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", (PART + 1).to_string())
        .header("Upload-Length", content.len().to_string())
        .header("Content-Type", "application/offset+octet-stream")
        .body(content[PART + 1..].to_vec())
        .send()
        .await
        .expect("request");
    assert_eq!(last.status(), 204, "{:?}", last.text().await);
    let head = tus_head(&upload.app, &upload.token, &url).await;
    assert_eq!(header(&head, "upload-length"), Some(content.len().to_string().as_str()));
    assert_uploaded(&upload, &content).await;
    remove_bucket(&upload.app.storage_settings).await;
}

async fn patch_with_checksum(
    upload: &Upload,
    url: &str,
    offset: u64,
    body: &[u8],
    checksum: &str,
) -> reqwest::Response {
    upload
        .app
        .client
        .patch(url)
        .bearer_auth(&upload.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", offset.to_string())
        .header("Upload-Checksum", checksum)
        .header("Content-Type", "application/offset+octet-stream")
        .body(body.to_vec())
        .send()
        .await
        .expect("request")
}

async fn checksums_are_verified_and_a_mismatching_chunk_is_not_kept(pool: PgPool, backend: Backend) {
    let upload = asset_for_upload(pool, backend).await;
    let content = generated_bytes(4, 2 * PART + 99);
    let url = tus_upload_url(&upload.app, &upload.token, &upload.asset_id, content.len() as u64).await;
    let encode = |digest: &[u8]| base64::engine::general_purpose::STANDARD.encode(digest);
    let first = &content[..100];
    let sha1 = format!("sha1 {}", encode(&sha1::Sha1::digest(first)));
    assert_eq!(patch_with_checksum(&upload, &url, 0, first, &sha1).await.status(), 204);
    assert_eq!(offset_of(&upload, &url).await, 100);

    // A chunk longer than a part whose checksum is wrong: its parts reached storage, but the
    // offset must not move and the next attempt must overwrite them.
    let second = &content[100..PART + 500];
    let wrong = format!("sha256 {}", encode(&sha2::Sha256::digest(b"something else")));
    let refused = patch_with_checksum(&upload, &url, 100, second, &wrong).await;
    assert_eq!(refused.status().as_u16(), 460);
    assert_eq!(error_code(refused).await, "checksum_mismatch");
    assert_eq!(offset_of(&upload, &url).await, 100, "the mismatching chunk is not kept");

    let right = format!("sha256 {}", encode(&sha2::Sha256::digest(second)));
    assert_eq!(patch_with_checksum(&upload, &url, 100, second, &right).await.status(), 204);
    let unknown = patch_with_checksum(&upload, &url, PART as u64 + 500, b"x", "md5 1B2M2Y8AsgTpgAmY7PhCfg==").await;
    assert_eq!(unknown.status(), 400);
    assert_eq!(error_code(unknown).await, "unsupported_checksum_algorithm");
    let rest = &content[PART + 500..];
    let rest_sum = format!("sha1 {}", encode(&sha1::Sha1::digest(rest)));
    assert_eq!(patch_with_checksum(&upload, &url, PART as u64 + 500, rest, &rest_sum).await.status(), 204);
    assert_uploaded(&upload, &content).await;
    remove_bucket(&upload.app.storage_settings).await;
}

async fn termination_removes_every_stored_byte_and_frees_the_asset(pool: PgPool, backend: Backend) {
    let upload = asset_for_upload(pool, backend).await;
    let content = generated_bytes(5, PART + 777);
    let url = tus_upload_url(&upload.app, &upload.token, &upload.asset_id, (2 * PART) as u64).await;
    assert_eq!(tus_patch(&upload.app, &upload.token, &url, 0, content.clone()).await.status(), 204);
    let upload_id = url.rsplit('/').next().expect("id").to_owned();
    match backend {
        // The local store grows the upload in place; S3 holds a part and the tail object.
        Backend::Local => assert_eq!(local_entries(&upload.app, ".appends"), vec![upload_id.clone()]),
        Backend::S3 => {
            assert_eq!(keys_under(&*upload.app.storage, &format!("uploads/{upload_id}/")).await.len(), 1, "a tail");
        }
    }

    let second = tus_create(&upload.app, &upload.token, &upload.asset_id, 10).await;
    assert_eq!(second.status(), 409, "one open upload per asset");
    assert_eq!(error_code(second).await, "upload_in_progress");

    let deleted = upload
        .app
        .client
        .delete(&url)
        .bearer_auth(&upload.token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .expect("request");
    assert_eq!(deleted.status(), 204);
    assert_eq!(tus_head(&upload.app, &upload.token, &url).await.status(), 404);
    assert_eq!(keys_under(&*upload.app.storage, "uploads/").await, Vec::<String>::new());
    assert_eq!(keys_under(&*upload.app.storage, "assets/").await, Vec::<String>::new());
    assert_no_open_uploads(&upload.app).await;
    assert_eq!(asset_json(&upload).await["status"], "waiting_upload");
    // The asset takes a new upload.
    let again = tus_create(&upload.app, &upload.token, &upload.asset_id, 10).await;
    assert_eq!(again.status(), 201);
    remove_bucket(&upload.app.storage_settings).await;
}

async fn a_deferred_upload_that_outgrows_the_limit_is_discarded_and_the_asset_errored(pool: PgPool, backend: Backend) {
    let limit = PART as u64 + 1000;
    let app = media_app(pool, backend, lectern::media::UploadSettings { max_size: limit, ..test_uploads() }).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = create_asset(&app, &token, "Huge").await["id"].as_str().expect("id").to_owned();
    let declared = tus_create(&app, &token, &asset_id, limit + 1).await;
    assert_eq!(declared.status(), 413, "a declared length over the limit is refused at creation");
    assert_eq!(error_code(declared).await, "file_too_large");
    let created = app
        .client
        .post(app.url("/v1/uploads/tus"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Defer-Length", "1")
        .header("Upload-Metadata", format!("asset_id {}", b64(&asset_id)))
        .send()
        .await
        .expect("request");
    let url = header(&created, "location").expect("Location").to_owned();
    let options =
        app.client.request(reqwest::Method::OPTIONS, app.url("/v1/uploads/tus")).send().await.expect("request");
    assert_eq!(header(&options, "tus-max-size"), Some(limit.to_string().as_str()));
    assert_eq!(tus_patch(&app, &token, &url, 0, generated_bytes(6, PART + 10)).await.status(), 204);
    let over = tus_patch(&app, &token, &url, PART as u64 + 10, generated_bytes(7, 2000)).await;
    assert_eq!(over.status(), 413);
    assert_eq!(error_code(over).await, "file_too_large");
    assert_eq!(keys_under(&*app.storage, "uploads/").await, Vec::<String>::new());
    assert_eq!(keys_under(&*app.storage, "assets/").await, Vec::<String>::new());
    assert_no_open_uploads(&app).await;
    let asset: Value = app.get_with(&format!("/v1/assets/{asset_id}"), &token).await.json().await.expect("json");
    assert_eq!(asset["status"], "errored");
    assert_eq!(asset["error"]["code"], "file_too_large");
    remove_bucket(&app.storage_settings).await;
}

async fn a_second_patch_is_locked_out_until_the_first_client_disconnects(pool: PgPool, backend: Backend) {
    let upload = asset_for_upload(pool, backend).await;
    let url = tus_upload_url(&upload.app, &upload.token, &upload.asset_id, (3 * PART) as u64).await;
    let (sender, receiver) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    let body = reqwest::Body::wrap_stream(tokio_stream::wrappers::ReceiverStream::new(receiver));
    let slow = upload
        .app
        .client
        .patch(&url)
        .bearer_auth(&upload.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(body)
        .send();
    let slow = tokio::spawn(slow);
    sender.send(Ok(generated_bytes(8, 1024 * 1024))).await.expect("send");
    // Wait until the slow request holds the lease (on a busy machine it may take a while).
    let mut leased = false;
    for _ in 0..200 {
        leased = sqlx::query_scalar("select locked_by is not null from upload")
            .fetch_one(&upload.app.pool)
            .await
            .expect("upload row");
        if leased {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(leased, "the first PATCH takes the lease");
    let locked = tus_patch(&upload.app, &upload.token, &url, 0, b"racing".to_vec()).await;
    assert_eq!(locked.status(), 423);
    assert_eq!(error_code(locked).await, "upload_locked");
    // The first client goes away mid-body: its lease is released and what arrived is kept.
    slow.abort();
    drop(sender);
    let mut offset = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let current = offset_of(&upload, &url).await;
        let response = tus_patch(&upload.app, &upload.token, &url, current, b"next".to_vec()).await;
        if response.status() == 204 {
            offset = Some(current);
            break;
        }
        assert_eq!(response.status(), 423, "only the lease may stand in the way");
    }
    let offset = offset.expect("the lease is released after the disconnect");
    assert!(offset <= 1024 * 1024, "{offset}");
    remove_bucket(&upload.app.storage_settings).await;
}

// Protocol rules that do not depend on the backend.

#[sqlx::test]
async fn options_advertise_the_version_extensions_and_checksums(pool: PgPool) {
    let app = spawn_app(pool).await;
    let response =
        app.client.request(reqwest::Method::OPTIONS, app.url("/v1/uploads/tus")).send().await.expect("request");
    assert_eq!(response.status(), 204);
    assert_eq!(header(&response, "tus-version"), Some("1.0.0"));
    assert_eq!(
        header(&response, "tus-extension"),
        Some("creation,creation-with-upload,creation-defer-length,expiration,checksum,termination")
    );
    assert_eq!(header(&response, "tus-checksum-algorithm"), Some("sha1,sha256"));
    assert_eq!(header(&response, "tus-max-size"), Some((20u64 << 30).to_string().as_str()));
}

#[sqlx::test]
async fn requests_without_tus_resumable_are_refused_with_412(pool: PgPool) {
    let upload = asset_for_upload(pool, Backend::Local).await;
    let url = tus_upload_url(&upload.app, &upload.token, &upload.asset_id, 10).await;
    let app = &upload.app;
    let post = app
        .client
        .post(app.url("/v1/uploads/tus"))
        .bearer_auth(&upload.token)
        .header("Upload-Length", "10")
        .send()
        .await
        .expect("request");
    assert_eq!(post.status(), 412);
    assert_eq!(header(&post, "tus-version"), Some("1.0.0"));
    let patch = app
        .client
        .patch(&url)
        .bearer_auth(&upload.token)
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body("x")
        .send()
        .await
        .expect("request");
    assert_eq!(patch.status(), 412);
    assert_eq!(error_code(patch).await, "unsupported_tus_version");
    let old = app.client.head(&url).bearer_auth(&upload.token).header("Tus-Resumable", "0.2.2").send().await;
    assert_eq!(old.expect("request").status(), 412);
    assert_eq!(offset_of(&upload, &url).await, 0);
}

#[sqlx::test]
async fn a_wrong_offset_is_409_and_the_upload_expires_with_410(pool: PgPool) {
    let upload = asset_for_upload(pool, Backend::Local).await;
    let created = tus_create(&upload.app, &upload.token, &upload.asset_id, 100).await;
    let expires = header(&created, "upload-expires").expect("Upload-Expires").to_owned();
    assert!(expires.ends_with(" GMT") && expires.len() == 29, "RFC 7231 date: {expires}");
    let url = header(&created, "location").expect("Location").to_owned();
    let patched = tus_patch(&upload.app, &upload.token, &url, 0, vec![1; 10]).await;
    assert_eq!(header(&patched, "upload-expires"), Some(expires.as_str()));
    let mismatch = tus_patch(&upload.app, &upload.token, &url, 5, vec![1; 10]).await;
    assert_eq!(mismatch.status(), 409);
    assert_eq!(error_code(mismatch).await, "offset_mismatch");
    let too_long = tus_patch(&upload.app, &upload.token, &url, 10, vec![1; 91]).await;
    assert_eq!(too_long.status(), 400);
    assert_eq!(error_code(too_long).await, "length_exceeded");
    let wrong_type = upload
        .app
        .client
        .patch(&url)
        .bearer_auth(&upload.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "10")
        .header("Content-Type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("request");
    assert_eq!(wrong_type.status(), 415);
    assert_eq!(offset_of(&upload, &url).await, 10);

    sqlx::query("update upload set expires_at = now() - interval '1 second'")
        .execute(&upload.app.pool)
        .await
        .expect("update");
    assert_eq!(tus_head(&upload.app, &upload.token, &url).await.status(), 410);
    let expired = tus_patch(&upload.app, &upload.token, &url, 10, vec![1; 10]).await;
    assert_eq!(expired.status(), 410);
    assert_eq!(error_code(expired).await, "upload_expired");
    // An expired upload does not block a new one.
    assert_eq!(tus_create(&upload.app, &upload.token, &upload.asset_id, 100).await.status(), 201);
}

#[sqlx::test]
async fn uploads_are_only_for_the_owner_of_an_asset_waiting_for_one(pool: PgPool) {
    let upload = asset_for_upload(pool, Backend::Local).await;
    let app = &upload.app;
    let stranger = instructor(app, "stranger@example.com").await;
    let theirs = tus_create(app, &stranger, &upload.asset_id, 10).await;
    assert_eq!(theirs.status(), 404);
    let url = tus_upload_url(app, &upload.token, &upload.asset_id, 3).await;
    assert_eq!(tus_head(app, &stranger, &url).await.status(), 404);
    let foreign_patch = tus_patch(app, &stranger, &url, 0, b"abc".to_vec()).await;
    assert_eq!(foreign_patch.status(), 404);
    assert_eq!(error_code(foreign_patch).await, "upload_not_found");
    let anonymous = app.client.head(&url).header("Tus-Resumable", "1.0.0").send().await.expect("request");
    assert_eq!(anonymous.status(), 401);
    let no_asset = app
        .client
        .post(app.url("/v1/uploads/tus"))
        .bearer_auth(&upload.token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .header("Upload-Metadata", format!("filename {}", b64("a.mp4")))
        .send()
        .await
        .expect("request");
    assert_eq!(no_asset.status(), 400);
    assert_eq!(error_code(no_asset).await, "invalid_upload_header");
    assert_eq!(tus_patch(app, &upload.token, &url, 0, b"abc".to_vec()).await.status(), 204);
    let finished = tus_create(app, &upload.token, &upload.asset_id, 10).await;
    assert_eq!(finished.status(), 409, "the asset is no longer waiting for an upload");
    assert_eq!(error_code(finished).await, "invalid_state");
}

#[sqlx::test]
async fn cors_lets_browser_clients_read_the_tus_headers(pool: PgPool) {
    let options = crate::helpers::TestOptions {
        cors_origins: vec!["https://learn.example.com".to_owned()],
        ..Default::default()
    };
    let app = crate::helpers::spawn_app_with(pool, options).await;
    // Not a preflight (browsers send OPTIONS for those, answered by the CORS layer itself): an
    // ordinary request, whose answer must list the headers scripts may read.
    let response = app
        .client
        .post(app.url("/v1/uploads/tus"))
        .header("Origin", "https://learn.example.com")
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", "10")
        .send()
        .await
        .expect("request");
    assert_eq!(header(&response, "access-control-allow-origin"), Some("https://learn.example.com"));
    let exposed = header(&response, "access-control-expose-headers").expect("exposed headers").to_ascii_lowercase();
    for name in ["location", "upload-offset", "upload-length", "upload-expires", "tus-resumable", "tus-version"] {
        assert!(exposed.contains(name), "{name} missing from {exposed}");
    }
}

#[sqlx::test]
async fn an_empty_file_completes_with_one_empty_patch(pool: PgPool) {
    let upload = asset_for_upload(pool, Backend::Local).await;
    let url = tus_upload_url(&upload.app, &upload.token, &upload.asset_id, 0).await;
    let response = tus_patch(&upload.app, &upload.token, &url, 0, Vec::new()).await;
    assert_eq!(response.status(), 204);
    assert_eq!(header(&response, "upload-offset"), Some("0"));
    assert_uploaded(&upload, &[]).await;
}

#[sqlx::test]
async fn the_openapi_document_lists_the_asset_and_tus_routes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let document: Value =
        app.client.get(app.url("/openapi.json")).send().await.expect("request").json().await.expect("json");
    let paths = document["paths"].as_object().expect("paths");
    for path in ["/v1/assets", "/v1/assets/{asset_id}", "/v1/uploads/tus", "/v1/uploads/tus/{upload_id}"] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    for method in ["head", "patch", "delete"] {
        assert!(paths["/v1/uploads/tus/{upload_id}"].get(method).is_some(), "{method} is not documented");
    }
    assert!(document["tags"].as_array().expect("tags").iter().any(|tag| tag["name"] == "assets"));
}
