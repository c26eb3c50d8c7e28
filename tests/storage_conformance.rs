//! One conformance suite for every `ObjectStore` backend: each case below runs once against
//! the local filesystem backend (with its presign routes served on 127.0.0.1) and once against
//! a real S3 server (SeaweedFS, started by `scripts/seaweedfs.sh start`), in a fresh bucket.
//!
//! The S3 cases fail, rather than skip, when SeaweedFS is unreachable: a suite that silently
//! skips half its cases would report green for an untested backend.

mod storage_support;

use std::io;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use lectern::storage::{
    BodyStream, ByteRange, CompletedPart, KeyPrefix, ObjectKey, ObjectStore, PutOptions,
    StorageError, get_bytes, put_bytes,
};
use sha2::{Digest, Sha256};

use storage_support::Harness;

const MIB: usize = 1024 * 1024;

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).expect("test keys are valid")
}

fn prefix(text: &str) -> KeyPrefix {
    KeyPrefix::parse(text).expect("test prefixes are valid")
}

async fn put(store: &dyn ObjectStore, name: &str, content: &'static [u8]) {
    put_bytes(
        store,
        &key(name),
        Bytes::from_static(content),
        PutOptions::default(),
    )
    .await
    .expect("put succeeds");
}

async fn read_range(
    store: &dyn ObjectStore,
    name: &str,
    range: ByteRange,
) -> Result<(Option<(u64, u64)>, Vec<u8>), StorageError> {
    let body = store.get(&key(name), Some(range)).await?;
    let chunks: Vec<Bytes> = body.stream.try_collect().await?;
    Ok((body.range, chunks.concat()))
}

/// Deterministic pseudo-random chunks (xorshift), so a large body can be produced twice,
/// once to upload and once to hash, without holding it in memory.
fn generated_chunk(index: u64, length: usize) -> Bytes {
    let mut state = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut chunk = Vec::with_capacity(length);
    while chunk.len() < length {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        chunk.extend_from_slice(&state.to_le_bytes());
    }
    chunk.truncate(length);
    chunk.into()
}

/// Flips one hex digit of the signature in a presigned URL (`signature=` locally,
/// `X-Amz-Signature=` on S3).
fn tamper(url: &str) -> String {
    let at = url
        .find("ignature=")
        .expect("presigned URLs carry a signature")
        + "ignature=".len();
    let mut tampered = url.to_owned();
    let flipped = if &url[at..=at] == "0" { "1" } else { "0" };
    tampered.replace_range(at..=at, flipped);
    tampered
}

pub mod cases {
    use super::*;

    pub async fn a_put_object_reads_back_byte_for_byte(harness: &Harness) {
        let store = harness.store();
        let meta = put_bytes(
            store,
            &key("assets/1/poster.jpg"),
            Bytes::from_static(b"jpeg bytes"),
            PutOptions::default(),
        )
        .await
        .expect("put succeeds");
        assert_eq!(meta.size, 10);
        assert!(
            meta.etag.starts_with('"') && meta.etag.ends_with('"'),
            "ETags are quoted: {}",
            meta.etag
        );
        assert_eq!(
            &get_bytes(store, &key("assets/1/poster.jpg"))
                .await
                .expect("get succeeds")[..],
            b"jpeg bytes"
        );
        let body = store
            .get(&key("assets/1/poster.jpg"), None)
            .await
            .expect("get succeeds");
        assert_eq!(body.meta.content_type.as_deref(), Some("image/jpeg"));
        assert_eq!(body.range, None);
    }

    pub async fn putting_again_replaces_the_object(harness: &Harness) {
        let store = harness.store();
        put(store, "a/playlist.m3u8", b"#EXTM3U first").await;
        put(store, "a/playlist.m3u8", b"#EXTM3U second, longer").await;
        assert_eq!(
            &get_bytes(store, &key("a/playlist.m3u8"))
                .await
                .expect("get succeeds")[..],
            b"#EXTM3U second, longer"
        );
        assert_eq!(
            store
                .list(&prefix("a/"))
                .await
                .expect("list succeeds")
                .len(),
            1
        );
    }

    pub async fn getting_a_missing_object_fails_with_not_found(harness: &Harness) {
        let error = harness
            .store()
            .get(&key("nothing/here.mp4"), None)
            .await
            .expect_err("the object is missing");
        assert!(matches!(error, StorageError::NotFound), "{error:?}");
    }

    pub async fn head_describes_an_object_and_returns_none_when_missing(harness: &Harness) {
        let store = harness.store();
        let written = put_bytes(
            store,
            &key("a/seg_00001.m4s"),
            Bytes::from_static(b"0123456789"),
            PutOptions::default(),
        )
        .await
        .expect("put succeeds");
        let meta = store
            .head(&key("a/seg_00001.m4s"))
            .await
            .expect("head succeeds")
            .expect("the object exists");
        assert_eq!(meta.size, 10);
        assert_eq!(meta.etag, written.etag);
        assert_eq!(meta.content_type.as_deref(), Some("video/iso.segment"));
        assert!(meta.last_modified.is_some());
        assert_eq!(
            store
                .head(&key("a/seg_00002.m4s"))
                .await
                .expect("head succeeds"),
            None
        );
    }

    pub async fn ranges_select_the_same_bytes_as_http_would(harness: &Harness) {
        let store = harness.store();
        put(store, "r/data.bin", b"0123456789").await;
        let read = |range| read_range(store, "r/data.bin", range);
        assert_eq!(
            read(ByteRange::From(7)).await.expect("in range"),
            (Some((7, 9)), b"789".to_vec())
        );
        assert_eq!(
            read(ByteRange::Inclusive(2, 4)).await.expect("in range"),
            (Some((2, 4)), b"234".to_vec())
        );
        assert_eq!(
            read(ByteRange::Inclusive(8, 100)).await.expect("in range"),
            (Some((8, 9)), b"89".to_vec())
        );
        assert_eq!(
            read(ByteRange::Suffix(3)).await.expect("in range"),
            (Some((7, 9)), b"789".to_vec())
        );
        let body = store
            .get(&key("r/data.bin"), Some(ByteRange::From(7)))
            .await
            .expect("in range");
        assert_eq!(
            body.meta.size, 10,
            "the size is the whole object's, not the range's"
        );
        let error = read(ByteRange::From(10)).await.expect_err("past the end");
        assert!(
            matches!(error, StorageError::RangeNotSatisfiable),
            "{error:?}"
        );
    }

    pub async fn listing_a_prefix_does_not_match_sibling_prefixes(harness: &Harness) {
        let store = harness.store();
        for name in ["a/1/x", "a/1/y/z", "a/10/x", "a/2", "b/1/x"] {
            put(store, name, b"x").await;
        }
        let keys = |list: Vec<lectern::storage::ObjectMeta>| {
            list.into_iter()
                .map(|meta| meta.key.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            keys(store.list(&prefix("a/1/")).await.expect("list succeeds")),
            ["a/1/x", "a/1/y/z"]
        );
        assert_eq!(
            keys(store.list(&prefix("a/1")).await.expect("list succeeds")),
            ["a/1/x", "a/1/y/z", "a/10/x"]
        );
        assert_eq!(
            keys(store.list(&prefix("")).await.expect("list succeeds")),
            ["a/1/x", "a/1/y/z", "a/10/x", "a/2", "b/1/x"]
        );
        assert!(
            store
                .list(&prefix("c/"))
                .await
                .expect("list succeeds")
                .is_empty()
        );
        let listed = store.list(&prefix("a/1/y/")).await.expect("list succeeds");
        assert_eq!(listed[0].size, 1);
    }

    pub async fn deleting_is_idempotent(harness: &Harness) {
        let store = harness.store();
        put(store, "d/x.json", b"{}").await;
        store
            .delete(&key("d/x.json"))
            .await
            .expect("delete succeeds");
        store
            .delete(&key("d/x.json"))
            .await
            .expect("deleting again succeeds");
        store
            .delete(&key("never/existed"))
            .await
            .expect("deleting a missing object succeeds");
        assert_eq!(
            store.head(&key("d/x.json")).await.expect("head succeeds"),
            None
        );
    }

    pub async fn delete_prefix_removes_and_counts_only_objects_under_the_prefix(harness: &Harness) {
        let store = harness.store();
        for name in ["v/1/a", "v/1/b/c", "v/1/b/d", "v/10/a", "w"] {
            put(store, name, b"x").await;
        }
        assert_eq!(
            store
                .delete_prefix(&prefix("v/1/"))
                .await
                .expect("delete_prefix succeeds"),
            3
        );
        let left: Vec<String> = store
            .list(&prefix(""))
            .await
            .expect("list succeeds")
            .into_iter()
            .map(|m| m.key.to_string())
            .collect();
        assert_eq!(left, ["v/10/a", "w"]);
        assert_eq!(
            store
                .delete_prefix(&prefix("v/1/"))
                .await
                .expect("delete_prefix succeeds"),
            0
        );
    }

    pub async fn copying_duplicates_the_content_under_the_new_key(harness: &Harness) {
        let store = harness.store();
        put(store, "src/clip name é.mp4", b"movie").await;
        let meta = store
            .copy(&key("src/clip name é.mp4"), &key("dst/clip.mp4"))
            .await
            .expect("copy succeeds");
        assert_eq!(meta.size, 5);
        assert_eq!(
            &get_bytes(store, &key("dst/clip.mp4"))
                .await
                .expect("get succeeds")[..],
            b"movie"
        );
        assert_eq!(
            &get_bytes(store, &key("src/clip name é.mp4"))
                .await
                .expect("the source stays")[..],
            b"movie"
        );
        let error = store
            .copy(&key("src/missing"), &key("dst/other"))
            .await
            .expect_err("the source is missing");
        assert!(matches!(error, StorageError::NotFound), "{error:?}");
    }

    pub async fn a_40_mib_streamed_put_round_trips_with_the_same_sha256(harness: &Harness) {
        let store = harness.store();
        let (chunks, chunk_length) = (640_u64, 64 * 1024);
        let body: BodyStream = Box::pin(
            futures::stream::iter(0..chunks)
                .map(move |index| Ok(generated_chunk(index, chunk_length))),
        );
        let meta = store
            .put(&key("big/source.mp4"), body, PutOptions::default())
            .await
            .expect("put succeeds");
        assert_eq!(meta.size, 40 * MIB as u64);
        let mut expected = Sha256::new();
        (0..chunks).for_each(|index| expected.update(generated_chunk(index, chunk_length)));
        let mut stream = store
            .get(&key("big/source.mp4"), None)
            .await
            .expect("get succeeds")
            .stream;
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
            assert!(
                meta.etag.ends_with("-8\""),
                "expected a multipart ETag, got {}",
                meta.etag
            );
        }
    }

    pub async fn a_body_that_fails_midway_leaves_the_previous_version(harness: &Harness) {
        let store = harness.store();
        put(store, "f/upload.mp4", b"first version").await;
        // Six 1 MiB chunks pass the S3 part size, so the S3 backend is mid-multipart when the
        // producer fails; the local backend is mid-write of its staging file.
        let chunks = (0..6)
            .map(|index| Ok(generated_chunk(index, MIB)))
            .chain([Err(io::Error::other("the client went away"))]);
        let body: BodyStream = Box::pin(futures::stream::iter(chunks));
        let error = store
            .put(&key("f/upload.mp4"), body, PutOptions::default())
            .await
            .expect_err("the body failed");
        assert!(!error.is_client_error(), "{error:?}");
        assert_eq!(
            &get_bytes(store, &key("f/upload.mp4"))
                .await
                .expect("the old version stays")[..],
            b"first version"
        );
        let failed_new: BodyStream = Box::pin(futures::stream::iter([
            Ok(Bytes::from_static(b"x")),
            Err(io::Error::other("gone")),
        ]));
        store
            .put(&key("f/new.mp4"), failed_new, PutOptions::default())
            .await
            .expect_err("the body failed");
        assert_eq!(
            store.head(&key("f/new.mp4")).await.expect("head succeeds"),
            None
        );
        harness.assert_no_leftovers().await;
    }

    pub async fn presigned_get_and_put_work_with_a_plain_http_client(harness: &Harness) {
        let (store, http) = (harness.store(), harness.http());
        let url = store
            .presign_put(
                &key("p/clip name.mp4"),
                "video/mp4",
                Duration::from_secs(60),
            )
            .await
            .expect("presign");
        let response = http
            .put(&url)
            .header("content-type", "video/mp4")
            .body("uploaded by a browser")
            .send()
            .await
            .expect("PUT");
        assert_eq!(
            response.status(),
            200,
            "{}",
            response.text().await.unwrap_or_default()
        );
        assert!(
            response.headers().contains_key("etag"),
            "uploaders read the ETag header"
        );
        assert_eq!(
            &get_bytes(store, &key("p/clip name.mp4"))
                .await
                .expect("get succeeds")[..],
            b"uploaded by a browser"
        );

        let url = store
            .presign_get(&key("p/clip name.mp4"), Duration::from_secs(60))
            .await
            .expect("presign");
        let response = http.get(&url).send().await.expect("GET");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "video/mp4");
        assert_eq!(
            &response.bytes().await.expect("body")[..],
            b"uploaded by a browser"
        );
        let response = http
            .get(&url)
            .header("range", "bytes=9-10")
            .send()
            .await
            .expect("ranged GET");
        assert_eq!(response.status(), 206);
        assert_eq!(response.headers()["content-range"], "bytes 9-10/21");
        assert_eq!(&response.bytes().await.expect("body")[..], b"by");
        let response = http
            .get(&url)
            .header("range", "bytes=50-")
            .send()
            .await
            .expect("ranged GET");
        assert_eq!(response.status(), 416);
    }

    pub async fn expired_or_tampered_presigned_urls_are_refused(harness: &Harness) {
        let (store, http) = (harness.store(), harness.http());
        put(store, "s/secret.mp4", b"paid content").await;
        let url = store
            .presign_get(&key("s/secret.mp4"), Duration::from_secs(60))
            .await
            .expect("presign");
        assert_eq!(http.get(&url).send().await.expect("GET").status(), 200);
        assert_eq!(
            http.get(tamper(&url)).send().await.expect("GET").status(),
            403
        );
        let put_url = store
            .presign_put(&key("s/upload.mp4"), "video/mp4", Duration::from_secs(60))
            .await
            .expect("presign");
        let response = http
            .put(&put_url)
            .header("content-type", "text/html")
            .body("<script>")
            .send()
            .await
            .expect("PUT");
        assert_eq!(
            response.status(),
            403,
            "another content type than the signed one is refused"
        );
        let short = store
            .presign_get(&key("s/secret.mp4"), Duration::from_secs(1))
            .await
            .expect("presign");
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        let response = http.get(&short).send().await.expect("GET");
        assert_eq!(response.status(), 403);
        assert_eq!(
            store
                .head(&key("s/upload.mp4"))
                .await
                .expect("head succeeds"),
            None
        );
    }

    pub async fn a_multipart_upload_with_a_presigned_part_completes(harness: &Harness) {
        let (store, http) = (harness.store(), harness.http());
        let target = key("m/lecture.mp4");
        let upload = store
            .create_multipart(&target, PutOptions::default())
            .await
            .expect("create succeeds");
        let first = generated_chunk(1, 5 * MIB);
        let part_1 = store
            .upload_part(&target, &upload, 1, first.clone())
            .await
            .expect("upload_part succeeds");
        assert_eq!(part_1.size, 5 * MIB as u64);
        let url = store
            .presign_part(&target, &upload, 2, Duration::from_secs(60))
            .await
            .expect("presign");
        let response = http
            .put(&url)
            .body("the last, short part")
            .send()
            .await
            .expect("PUT");
        assert_eq!(
            response.status(),
            200,
            "{}",
            response.text().await.unwrap_or_default()
        );
        let etag_2 = response.headers()["etag"]
            .to_str()
            .expect("ASCII")
            .to_owned();
        let parts = store
            .list_parts(&target, &upload)
            .await
            .expect("list_parts succeeds");
        assert_eq!(
            parts
                .iter()
                .map(|part| (part.part_number, part.size))
                .collect::<Vec<_>>(),
            [(1, 5 * MIB as u64), (2, 20)]
        );
        assert_eq!(parts[0].etag, part_1.etag);
        assert_eq!(parts[1].etag.trim_matches('"'), etag_2.trim_matches('"'));
        let completed = [
            CompletedPart {
                part_number: 1,
                etag: part_1.etag,
            },
            CompletedPart {
                part_number: 2,
                etag: etag_2,
            },
        ];
        let meta = store
            .complete_multipart(&target, &upload, &completed)
            .await
            .expect("complete succeeds");
        assert_eq!(meta.size, 5 * MIB as u64 + 20);
        let content = get_bytes(store, &target).await.expect("get succeeds");
        assert_eq!(&content[..5 * MIB], &first[..]);
        assert_eq!(&content[5 * MIB..], b"the last, short part");
        let error = store
            .list_parts(&target, &upload)
            .await
            .expect_err("the upload is finished");
        assert!(matches!(error, StorageError::UploadNotFound), "{error:?}");
    }

    pub async fn completing_with_a_wrong_etag_fails(harness: &Harness) {
        let store = harness.store();
        let target = key("m/wrong.mp4");
        let upload = store
            .create_multipart(&target, PutOptions::default())
            .await
            .expect("create succeeds");
        store
            .upload_part(&target, &upload, 1, Bytes::from_static(b"only part"))
            .await
            .expect("upload_part succeeds");
        let wrong = [CompletedPart {
            part_number: 1,
            etag: "\"0123456789abcdef0123456789abcdef\"".to_owned(),
        }];
        let error = store
            .complete_multipart(&target, &upload, &wrong)
            .await
            .expect_err("the ETag does not match");
        assert!(error.is_client_error(), "{error:?}");
        assert_eq!(store.head(&target).await.expect("head succeeds"), None);
        store
            .abort_multipart(&target, &upload)
            .await
            .expect("abort succeeds");
    }

    pub async fn aborting_a_multipart_upload_removes_its_parts(harness: &Harness) {
        let store = harness.store();
        let target = key("m/aborted.mp4");
        let upload = store
            .create_multipart(&target, PutOptions::default())
            .await
            .expect("create succeeds");
        store
            .upload_part(&target, &upload, 1, Bytes::from_static(b"part"))
            .await
            .expect("upload_part succeeds");
        store
            .abort_multipart(&target, &upload)
            .await
            .expect("abort succeeds");
        let error = store
            .list_parts(&target, &upload)
            .await
            .expect_err("the upload is gone");
        assert!(matches!(error, StorageError::UploadNotFound), "{error:?}");
        let error = store
            .upload_part(&target, &upload, 2, Bytes::from_static(b"late"))
            .await
            .expect_err("the upload is gone");
        assert!(matches!(error, StorageError::UploadNotFound), "{error:?}");
        store
            .abort_multipart(&target, &upload)
            .await
            .expect("aborting again succeeds");
        assert_eq!(store.head(&target).await.expect("head succeeds"), None);
        harness.assert_no_leftovers().await;
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = super::storage_support::Harness::local().await;
                    super::cases::$case(&harness).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = super::storage_support::Harness::s3().await;
                    super::cases::$case(&harness).await;
                    harness.remove_bucket().await;
                }
            )*
        }
    };
}

conformance!(
    a_put_object_reads_back_byte_for_byte,
    putting_again_replaces_the_object,
    getting_a_missing_object_fails_with_not_found,
    head_describes_an_object_and_returns_none_when_missing,
    ranges_select_the_same_bytes_as_http_would,
    listing_a_prefix_does_not_match_sibling_prefixes,
    deleting_is_idempotent,
    delete_prefix_removes_and_counts_only_objects_under_the_prefix,
    copying_duplicates_the_content_under_the_new_key,
    a_40_mib_streamed_put_round_trips_with_the_same_sha256,
    a_body_that_fails_midway_leaves_the_previous_version,
    presigned_get_and_put_work_with_a_plain_http_client,
    expired_or_tampered_presigned_urls_are_refused,
    a_multipart_upload_with_a_presigned_part_completes,
    completing_with_a_wrong_etag_fails,
    aborting_a_multipart_upload_removes_its_parts,
);

/// Guarantees only the filesystem backend has to make.
mod local_only {
    use std::fs;

    use super::*;

    #[tokio::test]
    async fn a_symlink_inside_the_root_cannot_be_used_to_escape_it() {
        let harness = Harness::local().await;
        let store = harness.store();
        let outside = tempfile::tempdir().expect("a temporary directory can be created");
        fs::write(outside.path().join("secret.txt"), b"not for you")
            .expect("writing outside succeeds");
        std::os::unix::fs::symlink(outside.path(), harness.local_root().join("escape"))
            .expect("symlink");
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            harness.local_root().join("linked.txt"),
        )
        .expect("symlink");

        for name in ["escape/secret.txt", "linked.txt"] {
            let error = store
                .get(&key(name), None)
                .await
                .expect_err("reading through a symlink is refused");
            assert!(
                !matches!(error, StorageError::NotFound),
                "refused, not merely missing: {error:?}"
            );
            assert!(
                store.head(&key(name)).await.is_err(),
                "head through a symlink is refused"
            );
        }
        let body = Bytes::from_static(b"planted");
        put_bytes(
            store,
            &key("escape/planted.txt"),
            body.clone(),
            PutOptions::default(),
        )
        .await
        .expect_err("writing is refused");
        put_bytes(
            store,
            &key("escape/deeper/planted.txt"),
            body.clone(),
            PutOptions::default(),
        )
        .await
        .expect_err("refused");
        put_bytes(store, &key("linked.txt"), body, PutOptions::default())
            .await
            .expect_err("overwriting through a link is refused");
        store
            .copy(&key("escape/secret.txt"), &key("stolen.txt"))
            .await
            .expect_err("copying from outside is refused");

        let mut outside_entries: Vec<_> = fs::read_dir(outside.path())
            .expect("listing")
            .map(|entry| entry.expect("entry").file_name())
            .collect();
        outside_entries.sort();
        assert_eq!(outside_entries, ["secret.txt"]);
        assert_eq!(
            fs::read(outside.path().join("secret.txt")).expect("reading"),
            b"not for you"
        );
        assert!(
            store
                .list(&prefix(""))
                .await
                .expect("list succeeds")
                .is_empty(),
            "list does not follow links"
        );
    }

    #[tokio::test]
    async fn staging_and_multipart_leftovers_are_invisible_to_list() {
        let harness = Harness::local().await;
        let store = harness.store();
        put(store, "visible.txt", b"yes").await;
        fs::write(
            harness.local_root().join(".staging/crashed-put"),
            b"partial",
        )
        .expect("writing staging");
        let upload = store
            .create_multipart(&key("pending.mp4"), PutOptions::default())
            .await
            .expect("create succeeds");
        store
            .upload_part(&key("pending.mp4"), &upload, 1, Bytes::from_static(b"part"))
            .await
            .expect("upload_part succeeds");
        let keys: Vec<String> = store
            .list(&prefix(""))
            .await
            .expect("list succeeds")
            .into_iter()
            .map(|m| m.key.to_string())
            .collect();
        assert_eq!(keys, ["visible.txt"]);
        assert_eq!(
            store
                .delete_prefix(&prefix(""))
                .await
                .expect("delete_prefix succeeds"),
            1
        );
        assert!(
            harness.local_root().join(".staging/crashed-put").exists(),
            "bookkeeping is not an object"
        );
    }

    #[tokio::test]
    async fn upload_ids_that_are_not_uuids_never_reach_the_filesystem() {
        let harness = Harness::local().await;
        let store = harness.store();
        let forged = lectern::storage::MultipartId("../../escape".to_owned());
        let error = store
            .list_parts(&key("x.mp4"), &forged)
            .await
            .expect_err("forged ids are unknown uploads");
        assert!(matches!(error, StorageError::UploadNotFound), "{error:?}");
    }
}
