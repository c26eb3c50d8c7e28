//! Presigned URLs used by a plain HTTP client, and multipart uploads.

use std::time::Duration;

use bytes::Bytes;
use lectern::storage::{CompletedPart, PutOptions, StorageError, get_bytes};

use crate::helpers::MIB;
use crate::helpers::storage::Harness;
use crate::helpers::storage::fixtures::*;

pub async fn presigned_get_and_put_work_with_a_plain_http_client(harness: &Harness) {
    let (store, http) = (harness.store(), harness.http());
    let url = store.presign_put(&key("p/clip name.mp4"), "video/mp4", Duration::from_secs(60)).await.expect("presign");
    let response =
        http.put(&url).header("content-type", "video/mp4").body("uploaded by a browser").send().await.expect("PUT");
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    assert!(response.headers().contains_key("etag"), "uploaders read the ETag header");
    assert_eq!(&get_bytes(store, &key("p/clip name.mp4")).await.expect("get succeeds")[..], b"uploaded by a browser");

    let url = store.presign_get(&key("p/clip name.mp4"), Duration::from_secs(60)).await.expect("presign");
    let response = http.get(&url).send().await.expect("GET");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "video/mp4");
    assert_eq!(&response.bytes().await.expect("body")[..], b"uploaded by a browser");
    let response = http.get(&url).header("range", "bytes=9-10").send().await.expect("ranged GET");
    assert_eq!(response.status(), 206);
    assert_eq!(response.headers()["content-range"], "bytes 9-10/21");
    assert_eq!(&response.bytes().await.expect("body")[..], b"by");
    let response = http.get(&url).header("range", "bytes=50-").send().await.expect("ranged GET");
    assert_eq!(response.status(), 416);
}

pub async fn expired_or_tampered_presigned_urls_are_refused(harness: &Harness) {
    let (store, http) = (harness.store(), harness.http());
    put(store, "s/secret.mp4", b"paid content").await;
    let url = store.presign_get(&key("s/secret.mp4"), Duration::from_secs(60)).await.expect("presign");
    assert_eq!(http.get(&url).send().await.expect("GET").status(), 200);
    assert_eq!(http.get(tamper(&url)).send().await.expect("GET").status(), 403);
    let put_url = store.presign_put(&key("s/upload.mp4"), "video/mp4", Duration::from_secs(60)).await.expect("presign");
    let response = http.put(&put_url).header("content-type", "text/html").body("<script>").send().await.expect("PUT");
    assert_eq!(response.status(), 403, "another content type than the signed one is refused");
    let short = store.presign_get(&key("s/secret.mp4"), Duration::from_secs(1)).await.expect("presign");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let response = http.get(&short).send().await.expect("GET");
    assert_eq!(response.status(), 403);
    assert_eq!(store.head(&key("s/upload.mp4")).await.expect("head succeeds"), None);
}

pub async fn a_multipart_upload_with_a_presigned_part_completes(harness: &Harness) {
    let (store, http) = (harness.store(), harness.http());
    let target = key("m/lecture.mp4");
    let upload = store.create_multipart(&target, PutOptions::default()).await.expect("create succeeds");
    let first = generated_chunk(1, 5 * MIB);
    let part_1 = store.upload_part(&target, &upload, 1, first.clone()).await.expect("upload_part succeeds");
    assert_eq!(part_1.size, 5 * MIB as u64);
    let url =
        store.presign_part(&target, &upload, 2, 1024 * 1024 * 1024, Duration::from_secs(60)).await.expect("presign");
    let response = http.put(&url).body("the last, short part").send().await.expect("PUT");
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap_or_default());
    let etag_2 = response.headers()["etag"].to_str().expect("ASCII").to_owned();
    let parts = store.list_parts(&target, &upload).await.expect("list_parts succeeds");
    assert_eq!(
        parts.iter().map(|part| (part.part_number, part.size)).collect::<Vec<_>>(),
        [(1, 5 * MIB as u64), (2, 20)]
    );
    assert_eq!(parts[0].etag, part_1.etag);
    assert_eq!(parts[1].etag.trim_matches('"'), etag_2.trim_matches('"'));
    let completed =
        [CompletedPart { part_number: 1, etag: part_1.etag }, CompletedPart { part_number: 2, etag: etag_2 }];
    let meta = store.complete_multipart(&target, &upload, &completed).await.expect("complete succeeds");
    assert_eq!(meta.size, 5 * MIB as u64 + 20);
    let content = get_bytes(store, &target).await.expect("get succeeds");
    assert_eq!(&content[..5 * MIB], &first[..]);
    assert_eq!(&content[5 * MIB..], b"the last, short part");
    let error = store.list_parts(&target, &upload).await.expect_err("the upload is finished");
    assert!(matches!(error, StorageError::UploadNotFound), "{error:?}");
}

pub async fn completing_with_a_wrong_etag_fails(harness: &Harness) {
    let store = harness.store();
    let target = key("m/wrong.mp4");
    let upload = store.create_multipart(&target, PutOptions::default()).await.expect("create succeeds");
    store.upload_part(&target, &upload, 1, Bytes::from_static(b"only part")).await.expect("upload_part succeeds");
    let wrong = [CompletedPart { part_number: 1, etag: "\"0123456789abcdef0123456789abcdef\"".to_owned() }];
    let error = store.complete_multipart(&target, &upload, &wrong).await.expect_err("the ETag does not match");
    assert!(error.is_client_error(), "{error:?}");
    assert_eq!(store.head(&target).await.expect("head succeeds"), None);
    store.abort_multipart(&target, &upload).await.expect("abort succeeds");
}

pub async fn aborting_a_multipart_upload_removes_its_parts(harness: &Harness) {
    let store = harness.store();
    let target = key("m/aborted.mp4");
    let upload = store.create_multipart(&target, PutOptions::default()).await.expect("create succeeds");
    store.upload_part(&target, &upload, 1, Bytes::from_static(b"part")).await.expect("upload_part succeeds");
    store.abort_multipart(&target, &upload).await.expect("abort succeeds");
    let error = store.list_parts(&target, &upload).await.expect_err("the upload is gone");
    assert!(matches!(error, StorageError::UploadNotFound), "{error:?}");
    let error =
        store.upload_part(&target, &upload, 2, Bytes::from_static(b"late")).await.expect_err("the upload is gone");
    assert!(matches!(error, StorageError::UploadNotFound), "{error:?}");
    store.abort_multipart(&target, &upload).await.expect("aborting again succeeds");
    assert_eq!(store.head(&target).await.expect("head succeeds"), None);
    harness.assert_no_leftovers().await;
}
