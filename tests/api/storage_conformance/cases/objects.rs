//! Reading, writing, listing and removing objects, including large and failing streams.

use std::io;

use bytes::Bytes;
use futures::StreamExt;
use lectern::storage::{BodyStream, ByteRange, PutOptions, StorageError, get_bytes, put_bytes};
use sha2::{Digest, Sha256};

use crate::helpers::MIB;
use crate::helpers::storage::Harness;
use crate::helpers::storage::fixtures::*;

pub async fn a_put_object_reads_back_byte_for_byte(harness: &Harness) {
    let store = harness.store();
    let meta = put_bytes(store, &key("assets/1/poster.jpg"), Bytes::from_static(b"jpeg bytes"), PutOptions::default())
        .await
        .expect("put succeeds");
    assert_eq!(meta.size, 10);
    assert!(meta.etag.starts_with('"') && meta.etag.ends_with('"'), "ETags are quoted: {}", meta.etag);
    assert_eq!(&get_bytes(store, &key("assets/1/poster.jpg")).await.expect("get succeeds")[..], b"jpeg bytes");
    let body = store.get(&key("assets/1/poster.jpg"), None).await.expect("get succeeds");
    assert_eq!(body.meta.content_type.as_deref(), Some("image/jpeg"));
    assert_eq!(body.range, None);
}

pub async fn putting_again_replaces_the_object(harness: &Harness) {
    let store = harness.store();
    put(store, "a/playlist.m3u8", b"#EXTM3U first").await;
    put(store, "a/playlist.m3u8", b"#EXTM3U second, longer").await;
    assert_eq!(&get_bytes(store, &key("a/playlist.m3u8")).await.expect("get succeeds")[..], b"#EXTM3U second, longer");
    assert_eq!(store.list(&prefix("a/")).await.expect("list succeeds").len(), 1);
}

pub async fn getting_a_missing_object_fails_with_not_found(harness: &Harness) {
    let error = harness.store().get(&key("nothing/here.mp4"), None).await.expect_err("the object is missing");
    assert!(matches!(error, StorageError::NotFound), "{error:?}");
}

pub async fn head_describes_an_object_and_returns_none_when_missing(harness: &Harness) {
    let store = harness.store();
    let written = put_bytes(store, &key("a/seg_00001.m4s"), Bytes::from_static(b"0123456789"), PutOptions::default())
        .await
        .expect("put succeeds");
    let meta = store.head(&key("a/seg_00001.m4s")).await.expect("head succeeds").expect("the object exists");
    assert_eq!(meta.size, 10);
    assert_eq!(meta.etag, written.etag);
    assert_eq!(meta.content_type.as_deref(), Some("video/iso.segment"));
    assert!(meta.last_modified.is_some());
    assert_eq!(store.head(&key("a/seg_00002.m4s")).await.expect("head succeeds"), None);
}

pub async fn ranges_select_the_same_bytes_as_http_would(harness: &Harness) {
    let store = harness.store();
    put(store, "r/data.bin", b"0123456789").await;
    let read = |range| read_range(store, "r/data.bin", range);
    assert_eq!(read(ByteRange::From(7)).await.expect("in range"), (Some((7, 9)), b"789".to_vec()));
    assert_eq!(read(ByteRange::Inclusive(2, 4)).await.expect("in range"), (Some((2, 4)), b"234".to_vec()));
    assert_eq!(read(ByteRange::Inclusive(8, 100)).await.expect("in range"), (Some((8, 9)), b"89".to_vec()));
    assert_eq!(read(ByteRange::Suffix(3)).await.expect("in range"), (Some((7, 9)), b"789".to_vec()));
    let body = store.get(&key("r/data.bin"), Some(ByteRange::From(7))).await.expect("in range");
    assert_eq!(body.meta.size, 10, "the size is the whole object's, not the range's");
    let error = read(ByteRange::From(10)).await.expect_err("past the end");
    assert!(matches!(error, StorageError::RangeNotSatisfiable), "{error:?}");
}

pub async fn listing_a_prefix_does_not_match_sibling_prefixes(harness: &Harness) {
    let store = harness.store();
    for name in ["a/1/x", "a/1/y/z", "a/10/x", "a/2", "b/1/x"] {
        put(store, name, b"x").await;
    }
    let keys =
        |list: Vec<lectern::storage::ObjectMeta>| list.into_iter().map(|meta| meta.key.to_string()).collect::<Vec<_>>();
    assert_eq!(keys(store.list(&prefix("a/1/")).await.expect("list succeeds")), ["a/1/x", "a/1/y/z"]);
    assert_eq!(keys(store.list(&prefix("a/1")).await.expect("list succeeds")), ["a/1/x", "a/1/y/z", "a/10/x"]);
    assert_eq!(
        keys(store.list(&prefix("")).await.expect("list succeeds")),
        ["a/1/x", "a/1/y/z", "a/10/x", "a/2", "b/1/x"]
    );
    assert!(store.list(&prefix("c/")).await.expect("list succeeds").is_empty());
    let listed = store.list(&prefix("a/1/y/")).await.expect("list succeeds");
    assert_eq!(listed[0].size, 1);
}

pub async fn deleting_is_idempotent(harness: &Harness) {
    let store = harness.store();
    put(store, "d/x.json", b"{}").await;
    store.delete(&key("d/x.json")).await.expect("delete succeeds");
    store.delete(&key("d/x.json")).await.expect("deleting again succeeds");
    store.delete(&key("never/existed")).await.expect("deleting a missing object succeeds");
    assert_eq!(store.head(&key("d/x.json")).await.expect("head succeeds"), None);
}

pub async fn delete_prefix_removes_and_counts_only_objects_under_the_prefix(harness: &Harness) {
    let store = harness.store();
    for name in ["v/1/a", "v/1/b/c", "v/1/b/d", "v/10/a", "w"] {
        put(store, name, b"x").await;
    }
    assert_eq!(store.delete_prefix(&prefix("v/1/")).await.expect("delete_prefix succeeds"), 3);
    let left: Vec<String> =
        store.list(&prefix("")).await.expect("list succeeds").into_iter().map(|m| m.key.to_string()).collect();
    assert_eq!(left, ["v/10/a", "w"]);
    assert_eq!(store.delete_prefix(&prefix("v/1/")).await.expect("delete_prefix succeeds"), 0);
}

pub async fn copying_duplicates_the_content_under_the_new_key(harness: &Harness) {
    let store = harness.store();
    put(store, "src/clip name é.mp4", b"movie").await;
    let meta = store.copy(&key("src/clip name é.mp4"), &key("dst/clip.mp4")).await.expect("copy succeeds");
    assert_eq!(meta.size, 5);
    assert_eq!(&get_bytes(store, &key("dst/clip.mp4")).await.expect("get succeeds")[..], b"movie");
    assert_eq!(&get_bytes(store, &key("src/clip name é.mp4")).await.expect("the source stays")[..], b"movie");
    let error = store.copy(&key("src/missing"), &key("dst/other")).await.expect_err("the source is missing");
    assert!(matches!(error, StorageError::NotFound), "{error:?}");
}
pub async fn a_40_mib_streamed_put_round_trips_with_the_same_sha256(harness: &Harness) {
    let store = harness.store();
    let (chunks, chunk_length) = (640_u64, 64 * 1024);
    let body: BodyStream =
        Box::pin(futures::stream::iter(0..chunks).map(move |index| Ok(generated_chunk(index, chunk_length))));
    let meta = store.put(&key("big/source.mp4"), body, PutOptions::default()).await.expect("put succeeds");
    assert_eq!(meta.size, 40 * MIB as u64);
    let mut expected = Sha256::new();
    (0..chunks).for_each(|index| expected.update(generated_chunk(index, chunk_length)));
    let mut stream = store.get(&key("big/source.mp4"), None).await.expect("get succeeds").stream;
    let (mut actual, mut length) = (Sha256::new(), 0);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.expect("reading succeeds");
        length += chunk.len();
        actual.update(&chunk);
    }
    assert_eq!(length, 40 * MIB);
    assert_eq!(actual.finalize(), expected.finalize());
    if store.backend() == "s3" {
        // Eight 5 MiB parts: S3 multipart ETags end with `-{number of parts}`.
        assert!(meta.etag.ends_with("-8\""), "expected a multipart ETag, got {}", meta.etag);
    }
}

pub async fn a_body_that_fails_midway_leaves_the_previous_version(harness: &Harness) {
    let store = harness.store();
    put(store, "f/upload.mp4", b"first version").await;
    // Six 1 MiB chunks pass the S3 part size, so the S3 backend is mid-multipart when the
    // producer fails; the local backend is mid-write of its staging file.
    let chunks =
        (0..6).map(|index| Ok(generated_chunk(index, MIB))).chain([Err(io::Error::other("the client went away"))]);
    let body: BodyStream = Box::pin(futures::stream::iter(chunks));
    let error = store.put(&key("f/upload.mp4"), body, PutOptions::default()).await.expect_err("the body failed");
    assert!(!error.is_client_error(), "{error:?}");
    assert_eq!(&get_bytes(store, &key("f/upload.mp4")).await.expect("the old version stays")[..], b"first version");
    let failed_new: BodyStream =
        Box::pin(futures::stream::iter([Ok(Bytes::from_static(b"x")), Err(io::Error::other("gone"))]));
    store.put(&key("f/new.mp4"), failed_new, PutOptions::default()).await.expect_err("the body failed");
    assert_eq!(store.head(&key("f/new.mp4")).await.expect("head succeeds"), None);
    harness.assert_no_leftovers().await;
}

pub async fn put_file_stores_a_local_file_and_the_store_may_consume_it(harness: &Harness) {
    let store = harness.store();
    let scratch = tempfile::tempdir().expect("scratch dir");
    let path = scratch.path().join("seg_00001.m4s");
    std::fs::write(&path, b"segment bytes").expect("write");
    let meta = store
        .put_file(&key("assets/1/v1/720p/seg_00001.m4s"), &path, PutOptions::default())
        .await
        .expect("put_file succeeds");
    assert_eq!(meta.size, 13);
    assert_eq!(
        &get_bytes(store, &key("assets/1/v1/720p/seg_00001.m4s")).await.expect("get succeeds")[..],
        b"segment bytes"
    );
    // Again onto the same key: replaced, like `put`.
    std::fs::write(&path, b"other").expect("write");
    store.put_file(&key("assets/1/v1/720p/seg_00001.m4s"), &path, PutOptions::default()).await.expect("put_file again");
    assert_eq!(&get_bytes(store, &key("assets/1/v1/720p/seg_00001.m4s")).await.expect("get succeeds")[..], b"other");
    let missing = store.put_file(&key("assets/1/v1/none"), &scratch.path().join("absent"), PutOptions::default()).await;
    assert!(missing.is_err(), "a missing file is an error: {missing:?}");
}
