//! The `cdn.invalidate` job end to end against the CloudFront stand-in (`helpers::cloudfront`):
//! deleting an asset and superseding a version each send one CreateInvalidation for the right
//! distribution and paths, after the files are gone; throttling is retried by the client and
//! then by the queue, as the same invalidation; a refusal fails the job with its code; without a
//! distribution no job is queued.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::cloudfront::{self, ACCESS_KEY_ID, StandIn, create_invalidation_path};
use crate::helpers::media::{new_asset, upload_fast};
use crate::helpers::{TestApp, TestOptions, instructor, spawn_app_with, test_ingest_settings};
use bytes::Bytes;
use lectern::storage::{ObjectKey, PutOptions, put_bytes};
use sqlx::PgPool;
use uuid::Uuid;

/// Where the app's local store keeps its objects, once the app exists; the stand-in looks there
/// when a request arrives.
type ObjectRoot = Arc<Mutex<Option<PathBuf>>>;

/// A stand-in that notes, for each request, how many files exist under the invalidated paths
/// (`files=N`), read as object keys after `url_path` (the CDN base URL's path).
fn watching(root: &ObjectRoot, url_path: &'static str) -> StandIn {
    let root = root.clone();
    let on_request = move |paths: &[String]| {
        let root = root.lock().expect("lock").clone().expect("the app is up before any invalidation");
        let files: usize = paths
            .iter()
            .map(|path| {
                let key = path
                    .strip_prefix(url_path)
                    .expect("the base URL's path")
                    .trim_start_matches('/')
                    .trim_end_matches('*');
                count_files(&root.join(key))
            })
            .sum();
        format!("files={files}")
    };
    StandIn { on_request: Some(Box::new(on_request)), ..StandIn::default() }
}

fn count_files(path: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(path) else {
        return usize::from(path.is_file());
    };
    entries.map(|entry| count_files(&entry.expect("entry").path())).sum()
}

async fn app(
    pool: PgPool,
    cloudfront: Option<lectern::cdn::CloudFrontSettings>,
    base_url: &str,
    root: &ObjectRoot,
) -> TestApp {
    let ingest = lectern::media::IngestSettings { superseded_grace: Duration::ZERO, ..test_ingest_settings() };
    let options = TestOptions {
        workers: 1,
        ingest: Some(ingest),
        cdn_base_url: Some(base_url.to_owned()),
        cloudfront,
        ..TestOptions::default()
    };
    let app = Box::pin(spawn_app_with(pool, options)).await;
    *root.lock().expect("lock") = Some(app.data_dir.path().join("objects"));
    app
}

#[derive(Debug, sqlx::FromRow)]
struct Job {
    job_id: Uuid,
    state: String,
    attempts: i32,
    last_error: Option<String>,
    payload: serde_json::Value,
}

async fn invalidation_jobs(pool: &PgPool) -> Vec<Job> {
    sqlx::query_as("select job_id, state, attempts, last_error, payload from job where kind = 'cdn.invalidate' order by created_at")
        .fetch_all(pool)
        .await
        .expect("jobs")
}

/// Waits until the only `cdn.invalidate` job is in `state`.
async fn wait_for_job(pool: &PgPool, state: &str) -> Job {
    wait_for_job_where(pool, state, |_| true).await
}

/// Waits until the only `cdn.invalidate` job is in `state` and `also` holds for it. The job may
/// first wait (a retry, 5 s) for the deletion it follows.
async fn wait_for_job_where(pool: &PgPool, state: &str, also: impl Fn(&Job) -> bool) -> Job {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut jobs = invalidation_jobs(pool).await;
        assert!(jobs.len() <= 1, "one invalidation expected: {jobs:?}");
        if jobs.first().is_some_and(|job| job.state == state && also(job)) {
            return jobs.remove(0);
        }
        assert!(Instant::now() < deadline, "no invalidation job reached {state}: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn metrics(app: &TestApp) -> String {
    app.client.get(app.url("/metrics")).send().await.expect("metrics").text().await.expect("text")
}

async fn delete(app: &TestApp, token: &str, asset_id: Uuid) {
    let response =
        app.client.delete(app.url(&format!("/v1/assets/{asset_id}"))).bearer_auth(token).send().await.expect("request");
    assert_eq!(response.status(), 204);
}

/// Stores a few package files of version 1, as a transcode would have.
async fn store_package(app: &TestApp, asset_id: Uuid) {
    for name in ["master.m3u8", "720p/playlist.m3u8", "720p/seg_00001.m4s"] {
        let key = ObjectKey::parse(format!("assets/{asset_id}/v1/{name}")).expect("key");
        put_bytes(&*app.storage, &key, Bytes::from_static(b"bytes"), PutOptions::default()).await.expect("stored");
    }
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn deleting_an_asset_invalidates_its_paths_once_after_its_files_are_gone(pool: PgPool) {
    let root = ObjectRoot::default();
    let (settings, stand_in) = cloudfront::start(watching(&root, "/media"), 3).await;
    let app = app(pool, Some(settings), "https://d111111abcdef8.cloudfront.net/media/", &root).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    store_package(&app, asset_id).await;

    delete(&app, &token, asset_id).await;
    let job = wait_for_job(&app.pool, "succeeded").await;
    assert_eq!(job.payload["paths"], serde_json::json!([format!("/media/assets/{asset_id}/*")]));

    let received = stand_in.received();
    assert_eq!(received.len(), 1, "{received:?}");
    let request = &received[0];
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, create_invalidation_path());
    assert_eq!(request.quantity, "1");
    assert_eq!(request.paths, [format!("/media/assets/{asset_id}/*")]);
    assert_eq!(request.caller_reference, format!("lectern-job-{}", job.job_id));
    assert!(
        request.authorization.contains(&format!("Credential={ACCESS_KEY_ID}/"))
            && request.authorization.contains("/us-east-1/cloudfront/aws4_request"),
        "{}",
        request.authorization
    );
    assert_eq!(request.note.as_deref(), Some("files=0"), "the invalidation must follow the deletion");

    // Deleting again changes nothing and invalidates nothing.
    delete(&app, &token, asset_id).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(invalidation_jobs(&app.pool).await.len(), 1);
    assert_eq!(stand_in.received().len(), 1);
    let metrics = metrics(&app).await;
    assert!(metrics.contains(r#"lectern_cdn_invalidations_total{outcome="accepted"} 1"#), "{metrics}");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn throttling_is_retried_by_the_client_then_by_the_queue_as_one_invalidation(pool: PgPool) {
    let root = ObjectRoot::default();
    // Two requests per attempt: the first attempt is throttled twice and the job is retried; the
    // second is throttled once more, then accepted.
    let (settings, stand_in) = cloudfront::start(StandIn { throttle: Mutex::new(3), ..StandIn::default() }, 2).await;
    let app = app(pool, Some(settings), "https://d111111abcdef8.cloudfront.net", &root).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;

    delete(&app, &token, asset_id).await;
    stand_in.wait_for(2, Duration::from_secs(30)).await;
    let throttled = |job: &Job| job.last_error.as_deref().is_some_and(|e| e.starts_with("cdn_throttled: "));
    let job = wait_for_job_where(&app.pool, "queued", throttled).await;
    assert_eq!(stand_in.received().len(), 2, "the client gave up after its two requests");
    // Not the backoff's five seconds or more.
    sqlx::query("update job set run_after = now() where job_id = $1")
        .bind(job.job_id)
        .execute(&app.pool)
        .await
        .expect("due");

    let done = wait_for_job(&app.pool, "succeeded").await;
    assert_eq!(done.attempts, job.attempts + 1);
    let received = stand_in.received();
    assert_eq!(received.len(), 4, "{received:?}");
    for request in &received {
        assert_eq!(request.paths, [format!("/assets/{asset_id}/*")]);
        assert_eq!(
            request.caller_reference,
            format!("lectern-job-{}", job.job_id),
            "every request is the same invalidation"
        );
    }
    let metrics = metrics(&app).await;
    assert!(metrics.contains(r#"lectern_cdn_invalidations_total{outcome="throttled"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"lectern_cdn_invalidations_total{outcome="accepted"} 1"#), "{metrics}");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_refused_invalidation_fails_its_job_with_the_code(pool: PgPool) {
    let root = ObjectRoot::default();
    let (settings, stand_in) =
        cloudfront::start(StandIn { refuse_with: Some("NoSuchDistribution"), ..StandIn::default() }, 3).await;
    let app = app(pool, Some(settings), "https://d111111abcdef8.cloudfront.net", &root).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;

    delete(&app, &token, asset_id).await;
    let job = wait_for_job(&app.pool, "failed").await;
    let error = job.last_error.expect("an error");
    assert!(error.starts_with("cdn_refused: ") && error.contains("NoSuchDistribution"), "{error}");
    // A refusal is not retried: CloudFront was asked once. (The job may have had an earlier
    // attempt that only waited for the storage deletion, which a quick worker runs beside it.)
    assert_eq!(stand_in.received().len(), 1, "a refusal is not retried");
    let metrics = metrics(&app).await;
    assert!(metrics.contains(r#"lectern_cdn_invalidations_total{outcome="refused"} 1"#), "{metrics}");
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn without_a_distribution_deleting_queues_no_invalidation(pool: PgPool) {
    let root = ObjectRoot::default();
    let app = app(pool, None, "https://d111111abcdef8.cloudfront.net", &root).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_asset(&app, &token).await;
    store_package(&app, asset_id).await;

    delete(&app, &token, asset_id).await;
    let deletions: i64 = sqlx::query_scalar(
        "select count(*) from job where kind = 'storage.delete_prefix' and payload ->> 'prefix' = $1",
    )
    .bind(format!("assets/{asset_id}/"))
    .fetch_one(&app.pool)
    .await
    .expect("count");
    assert_eq!(deletions, 1, "the deletion is queued as before");
    assert!(invalidation_jobs(&app.pool).await.is_empty());
}

/// Creates an asset with the `fast` preset, stores a fixture as its original and completes the
/// upload (the workers then probe and transcode it); returns the asset id and the owner's token.
async fn upload(app: &TestApp) -> (Uuid, String) {
    let token = instructor(app, "teacher@example.com").await;
    (upload_fast(app, &token, "moov_at_end.mp4").await, token)
}

async fn wait_for_version(pool: &PgPool, asset_id: Uuid, version: i32) {
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let (status, current): (String, Option<i32>) =
            sqlx::query_as("select status, current_version from asset where asset_id = $1")
                .bind(asset_id)
                .fetch_one(pool)
                .await
                .expect("asset");
        if status == "ready" && current == Some(version) {
            return;
        }
        assert!(status != "errored", "the asset errored");
        assert!(Instant::now() < deadline, "timed out waiting for v{version}: {status} v{current:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn reprocessing_invalidates_the_superseded_version_after_its_files_are_gone(pool: PgPool) {
    let root = ObjectRoot::default();
    let (settings, stand_in) = cloudfront::start(watching(&root, ""), 3).await;
    let app = app(pool, Some(settings), "https://d111111abcdef8.cloudfront.net", &root).await;
    let (asset_id, token) = upload(&app).await;
    wait_for_version(&app.pool, asset_id, 1).await;
    // The first version supersedes nothing.
    assert!(invalidation_jobs(&app.pool).await.is_empty());

    let response = app
        .client
        .post(app.url(&format!("/v1/assets/{asset_id}/reprocess")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"preset": "fast"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);
    wait_for_version(&app.pool, asset_id, 2).await;
    let job = wait_for_job(&app.pool, "succeeded").await;

    let received = stand_in.received();
    assert_eq!(received.len(), 1, "{received:?}");
    assert_eq!(received[0].path, create_invalidation_path());
    assert_eq!(received[0].paths, [format!("/assets/{asset_id}/v1/*")], "only the superseded version");
    assert_eq!(received[0].caller_reference, format!("lectern-job-{}", job.job_id));
    assert_eq!(received[0].note.as_deref(), Some("files=0"), "the invalidation must follow the deletion of v1");
    assert!(count_files(&app.data_dir.path().join(format!("objects/assets/{asset_id}/v2"))) > 0, "v2 stays");
}
