//! One conformance suite for every `ObjectStore` backend: each case below runs once against
//! the local filesystem backend (with its presign routes served on 127.0.0.1) and once against
//! a real S3 server (SeaweedFS, started by `scripts/seaweedfs.sh start`), in a fresh bucket.
//!
//! The S3 cases fail, rather than skip, when SeaweedFS is unreachable: a suite that silently
//! skips half its cases would report green for an untested backend.

mod cases;

use bytes::Bytes;
use lectern::storage::{PutOptions, StorageError, put_bytes};

use crate::helpers::storage::Harness;
use crate::helpers::storage::fixtures::{key, prefix, put};

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod local {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = crate::helpers::storage::Harness::local().await;
                    super::cases::$case(&harness).await;
                }
            )*
        }
        mod s3 {
            $(
                #[tokio::test]
                async fn $case() {
                    let harness = crate::helpers::storage::Harness::s3().await;
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
    put_file_stores_a_local_file_and_the_store_may_consume_it,
);

/// Guarantees only the filesystem backend has to make.
mod local_only {
    use std::fs;

    use super::*;

    #[tokio::test]
    async fn local_file_names_the_objects_own_file_and_put_file_moves_a_file_into_place() {
        let harness = Harness::local().await;
        let store = harness.store();
        put(store, "assets/1/source/original", b"the original").await;
        let path = store.local_file(&key("assets/1/source/original")).await.expect("local_file").expect("a file");
        assert!(path.starts_with(harness.local_root()), "{}", path.display());
        assert_eq!(fs::read(&path).expect("readable"), b"the original");
        assert_eq!(store.local_file(&key("assets/1/source/absent")).await.expect("local_file"), None);
        assert_eq!(store.local_file(&key("assets/1")).await.expect("a directory is no object"), None);

        // On the root's filesystem the file itself becomes the object: no copy is left behind.
        let scratch = tempfile::tempdir_in(harness.local_root().parent().expect("a parent")).expect("scratch dir");
        let file = scratch.path().join("init.mp4");
        fs::write(&file, b"init").expect("write");
        store.put_file(&key("assets/1/v1/init.mp4"), &file, PutOptions::default()).await.expect("put_file");
        assert!(!file.exists(), "the file was moved, not copied");
        harness.assert_no_leftovers().await;
    }

    #[tokio::test]
    async fn remote_stores_have_no_local_files() {
        let harness = Harness::s3().await;
        put(harness.store(), "assets/1/source/original", b"the original").await;
        assert_eq!(harness.store().local_file(&key("assets/1/source/original")).await.expect("local_file"), None);
        harness.remove_bucket().await;
    }

    #[tokio::test]
    async fn a_symlink_inside_the_root_cannot_be_used_to_escape_it() {
        let harness = Harness::local().await;
        let store = harness.store();
        let outside = tempfile::tempdir().expect("a temporary directory can be created");
        fs::write(outside.path().join("secret.txt"), b"not for you").expect("writing outside succeeds");
        std::os::unix::fs::symlink(outside.path(), harness.local_root().join("escape")).expect("symlink");
        std::os::unix::fs::symlink(outside.path().join("secret.txt"), harness.local_root().join("linked.txt"))
            .expect("symlink");

        for name in ["escape/secret.txt", "linked.txt"] {
            let error = store.get(&key(name), None).await.expect_err("reading through a symlink is refused");
            assert!(!matches!(error, StorageError::NotFound), "refused, not merely missing: {error:?}");
            assert!(store.head(&key(name)).await.is_err(), "head through a symlink is refused");
        }
        let body = Bytes::from_static(b"planted");
        put_bytes(store, &key("escape/planted.txt"), body.clone(), PutOptions::default())
            .await
            .expect_err("writing is refused");
        put_bytes(store, &key("escape/deeper/planted.txt"), body.clone(), PutOptions::default())
            .await
            .expect_err("refused");
        put_bytes(store, &key("linked.txt"), body, PutOptions::default())
            .await
            .expect_err("overwriting through a link is refused");
        store.copy(&key("escape/secret.txt"), &key("stolen.txt")).await.expect_err("copying from outside is refused");

        let mut outside_entries: Vec<_> =
            fs::read_dir(outside.path()).expect("listing").map(|entry| entry.expect("entry").file_name()).collect();
        outside_entries.sort();
        assert_eq!(outside_entries, ["secret.txt"]);
        assert_eq!(fs::read(outside.path().join("secret.txt")).expect("reading"), b"not for you");
        assert!(store.list(&prefix("")).await.expect("list succeeds").is_empty(), "list does not follow links");
    }

    #[tokio::test]
    async fn staging_and_multipart_leftovers_are_invisible_to_list() {
        let harness = Harness::local().await;
        let store = harness.store();
        put(store, "visible.txt", b"yes").await;
        fs::write(harness.local_root().join(".staging/crashed-put"), b"partial").expect("writing staging");
        let upload = store.create_multipart(&key("pending.mp4"), PutOptions::default()).await.expect("create succeeds");
        store
            .upload_part(&key("pending.mp4"), &upload, 1, Bytes::from_static(b"part"))
            .await
            .expect("upload_part succeeds");
        let keys: Vec<String> =
            store.list(&prefix("")).await.expect("list succeeds").into_iter().map(|m| m.key.to_string()).collect();
        assert_eq!(keys, ["visible.txt"]);
        assert_eq!(store.delete_prefix(&prefix("")).await.expect("delete_prefix succeeds"), 1);
        assert!(harness.local_root().join(".staging/crashed-put").exists(), "bookkeeping is not an object");
    }

    #[tokio::test]
    async fn upload_ids_that_are_not_uuids_never_reach_the_filesystem() {
        let harness = Harness::local().await;
        let store = harness.store();
        let forged = lectern::storage::MultipartId("../../escape".to_owned());
        let error = store.list_parts(&key("x.mp4"), &forged).await.expect_err("forged ids are unknown uploads");
        assert!(matches!(error, StorageError::UploadNotFound), "{error:?}");
    }
    #[tokio::test]
    async fn connecting_with_local_settings_creates_the_root_and_guards_the_routes() {
        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        use lectern::storage::{LocalSettings, StorageSettings};
        use tower::ServiceExt;

        let directory = tempfile::tempdir().expect("a temporary directory can be created");
        let settings = StorageSettings::Local(LocalSettings {
            root: directory.path().join("not/yet/there"),
            public_url: url::Url::parse("http://127.0.0.1:8080/").expect("valid URL"),
            presign_secret: secrecy::SecretString::from("secret"),
        });
        let storage = lectern::storage::connect(&settings).await.expect("connect succeeds");
        assert_eq!(storage.store.backend(), "local");
        storage.store.check().await.expect("the new root is writable");
        assert!(directory.path().join("not/yet/there/.staging").is_dir());
        let unsigned = Request::get("/storage/objects/a/b.mp4").body(Body::empty()).expect("valid request");
        let response = lectern::delivery::storage::routes(
            storage.local.expect("the local backend"),
            lectern::delivery::storage::UploadBounds::standalone(&lectern::media::UploadSettings::default()),
        )
        .oneshot(unsigned)
        .await
        .expect("the router answers");
        assert_eq!(response.status(), StatusCode::FORBIDDEN);
        let body = http_body_util::BodyExt::collect(response.into_body()).await.expect("a body").to_bytes();
        let error: serde_json::Value = serde_json::from_slice(&body).expect("a JSON error");
        assert_eq!(error["error"]["code"], "invalid_signature");
    }
}
