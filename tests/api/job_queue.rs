//! The job queue against a real PostgreSQL: idempotent enqueue, exclusive claims, leases,
//! retries with backoff, priorities, and the worker pool's handling of outcomes, panics and
//! shutdown.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use lectern::jobs::queue::{self, EnqueueOptions};
use lectern::jobs::{JobContext, JobError, JobHandler, JobId, WorkerPool, WorkerSettings};
use lectern::metrics::Metrics;
use lectern::storage::{LocalSettings, StorageSettings};
use serde_json::json;
use sqlx::PgPool;

const LEASE: Duration = Duration::from_secs(60);

fn kinds(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[sqlx::test]
async fn enqueueing_the_same_unique_key_twice_returns_the_pending_job(pool: PgPool) {
    let options = || EnqueueOptions { unique_key: Some("asset-1-probe".to_owned()), ..Default::default() };
    let first = queue::enqueue(&pool, "test.work", &json!({}), options()).await.expect("enqueue");
    let second = queue::enqueue(&pool, "test.work", &json!({}), options()).await.expect("enqueue");
    assert_eq!(first, second);
    let count: i64 = sqlx::query_scalar("select count(*) from job").fetch_one(&pool).await.expect("count");
    assert_eq!(count, 1);
}

#[sqlx::test]
async fn a_finished_job_does_not_block_enqueueing_the_same_key_again(pool: PgPool) {
    let options = || EnqueueOptions { unique_key: Some("k".to_owned()), ..Default::default() };
    let first = queue::enqueue(&pool, "test.work", &json!({}), options()).await.expect("enqueue");
    let claimed = queue::claim(&pool, "w1", &kinds(&["test.work"]), LEASE).await.expect("claim").expect("a job");
    assert!(queue::succeed(&pool, JobId(claimed.job_id), "w1").await.expect("succeed"));
    let second = queue::enqueue(&pool, "test.work", &json!({}), options()).await.expect("enqueue");
    assert_ne!(first, second);
}

#[sqlx::test]
async fn concurrent_claims_never_hand_out_the_same_job(pool: PgPool) {
    for _ in 0..20 {
        queue::enqueue(&pool, "test.work", &json!({}), Default::default()).await.expect("enqueue");
    }
    let mut claimers = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let pool = pool.clone();
        claimers.spawn(async move {
            let mut mine = Vec::new();
            while let Some(job) =
                queue::claim(&pool, &format!("w{worker}"), &kinds(&["test.work"]), LEASE).await.expect("claim")
            {
                mine.push(job.job_id);
            }
            mine
        });
    }
    let mut all = Vec::new();
    while let Some(result) = claimers.join_next().await {
        all.extend(result.expect("claimer"));
    }
    let total = all.len();
    all.sort();
    all.dedup();
    assert_eq!(total, 20);
    assert_eq!(all.len(), 20, "a job was claimed twice");
}

#[sqlx::test]
async fn only_the_requested_kinds_are_claimed(pool: PgPool) {
    queue::enqueue(&pool, "test.other", &json!({}), Default::default()).await.expect("enqueue");
    assert!(queue::claim(&pool, "w1", &kinds(&["test.work"]), LEASE).await.expect("claim").is_none());
}

#[sqlx::test]
async fn higher_priority_jobs_are_claimed_first(pool: PgPool) {
    let low = queue::enqueue(&pool, "test.work", &json!({}), Default::default()).await.expect("enqueue");
    let high = queue::enqueue(&pool, "test.work", &json!({}), EnqueueOptions { priority: 10, ..Default::default() })
        .await
        .expect("enqueue");
    let first = queue::claim(&pool, "w1", &kinds(&["test.work"]), LEASE).await.expect("claim").expect("job");
    let second = queue::claim(&pool, "w1", &kinds(&["test.work"]), LEASE).await.expect("claim").expect("job");
    assert_eq!((JobId(first.job_id), JobId(second.job_id)), (high, low));
}

#[sqlx::test]
async fn a_job_whose_lease_expired_is_taken_over_and_the_old_worker_cannot_finish_it(pool: PgPool) {
    queue::enqueue(&pool, "test.work", &json!({}), Default::default()).await.expect("enqueue");
    let short = Duration::from_millis(100);
    let job = queue::claim(&pool, "dead", &kinds(&["test.work"]), short).await.expect("claim").expect("job");
    assert!(queue::claim(&pool, "alive", &kinds(&["test.work"]), LEASE).await.expect("claim").is_none());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let retaken = queue::claim(&pool, "alive", &kinds(&["test.work"]), LEASE).await.expect("claim").expect("job");
    assert_eq!(retaken.job_id, job.job_id);
    assert_eq!(retaken.attempts, 2);
    assert!(!queue::heartbeat(&pool, JobId(job.job_id), "dead", LEASE).await.expect("heartbeat"));
    assert!(!queue::succeed(&pool, JobId(job.job_id), "dead").await.expect("succeed"));
    assert!(queue::succeed(&pool, JobId(job.job_id), "alive").await.expect("succeed"));
}

#[sqlx::test]
async fn a_retried_job_waits_for_its_backoff_then_fails_after_its_last_attempt(pool: PgPool) {
    let id =
        queue::enqueue(&pool, "test.work", &json!({}), EnqueueOptions { max_attempts: Some(2), ..Default::default() })
            .await
            .expect("enqueue");
    queue::claim(&pool, "w", &kinds(&["test.work"]), LEASE).await.expect("claim").expect("job");
    assert!(queue::retry_later(&pool, id, "w", "storage timeout", Duration::from_secs(3600)).await.expect("retry"));
    assert!(queue::claim(&pool, "w", &kinds(&["test.work"]), LEASE).await.expect("claim").is_none(), "not due yet");
    sqlx::query("update job set run_after = now()").execute(&pool).await.expect("make due");
    let again = queue::claim(&pool, "w", &kinds(&["test.work"]), LEASE).await.expect("claim").expect("job");
    assert_eq!(again.attempts, 2);
    assert_eq!(again.last_error.as_deref(), Some("storage timeout"));
    assert!(queue::retry_later(&pool, id, "w", "still down", Duration::ZERO).await.expect("retry"));
    let row = queue::get(&pool, id).await.expect("get").expect("exists");
    assert_eq!(row.state, "failed");
    assert_eq!(row.last_error.as_deref(), Some("still down"));
}

#[sqlx::test]
async fn a_released_job_is_claimable_at_once_and_the_attempt_does_not_count(pool: PgPool) {
    let id = queue::enqueue(&pool, "test.work", &json!({}), Default::default()).await.expect("enqueue");
    queue::claim(&pool, "w", &kinds(&["test.work"]), LEASE).await.expect("claim").expect("job");
    assert!(queue::release(&pool, id, "w").await.expect("release"));
    let again = queue::claim(&pool, "w2", &kinds(&["test.work"]), LEASE).await.expect("claim").expect("job");
    assert_eq!(again.attempts, 1);
}

#[sqlx::test]
async fn a_job_lost_on_its_final_attempt_is_failed_instead_of_killing_another_worker(pool: PgPool) {
    let id =
        queue::enqueue(&pool, "test.work", &json!({}), EnqueueOptions { max_attempts: Some(1), ..Default::default() })
            .await
            .expect("enqueue");
    queue::claim(&pool, "dead", &kinds(&["test.work"]), Duration::from_millis(50)).await.expect("claim");
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut connection = pool.acquire().await.expect("connection");
    // Only the kinds the reaping process runs (it settles them with their handlers).
    assert!(queue::fail_exhausted_expired(&mut connection, &kinds(&["test.other"])).await.expect("reap").is_empty());
    let reaped = queue::fail_exhausted_expired(&mut connection, &kinds(&["test.work"])).await.expect("reap");
    assert_eq!(reaped.iter().map(|job| job.job_id).collect::<Vec<_>>(), [id.0]);
    assert_eq!(queue::get(&pool, id).await.expect("get").expect("exists").state, "failed");
}

/// A handler whose behaviour the payload chooses.
struct Scripted {
    runs: Arc<AtomicUsize>,
}

#[async_trait]
impl JobHandler for Scripted {
    fn kind(&self) -> &'static str {
        "test.scripted"
    }

    async fn run(&self, _context: JobContext, payload: serde_json::Value) -> Result<(), JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        match payload["do"].as_str() {
            Some("succeed") => Ok(()),
            Some("abort") => Err(JobError::abort("not_a_media_file", "the upload is text")),
            Some("retry") => Err(JobError::retry("storage timed out")),
            Some("panic") => panic!("handler bug"),
            Some("sleep") => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            }
            _ => Err(JobError::abort("invalid_payload", "unknown script")),
        }
    }
}

async fn start_pool(
    pool: &PgPool,
    runs: Arc<AtomicUsize>,
    shutdown_timeout: Duration,
) -> (WorkerPool, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let storage = lectern::storage::connect(&StorageSettings::Local(LocalSettings {
        root: dir.path().to_owned(),
        public_url: url::Url::parse("http://127.0.0.1:1").expect("valid"),
        presign_secret: secrecy::SecretString::from("0123456789abcdef0123456789abcdef"),
    }))
    .await
    .expect("storage");
    let handlers: Vec<Arc<dyn JobHandler>> =
        vec![Arc::new(Scripted { runs }), Arc::new(lectern::jobs::storage_jobs::DeletePrefix)];
    let settings = WorkerSettings {
        concurrency: 2,
        lease: Duration::from_secs(30),
        poll_interval: Duration::from_millis(100),
        shutdown_timeout,
        ..WorkerSettings::default()
    };
    (WorkerPool::start(pool.clone(), storage.store, Arc::new(Metrics::new()), handlers, settings), dir)
}

/// Waits until the job is in `wanted` state after at least one attempt was made (a job starts
/// out `queued`, so "queued again after a retry" must not match the initial state).
async fn wait_for_state(pool: &PgPool, id: JobId, wanted: &str) -> queue::JobRow {
    for _ in 0..100 {
        let row = queue::get(pool, id).await.expect("get").expect("exists");
        let attempted = row.attempts > 0 || row.last_error.is_some();
        if row.state == wanted && (wanted != "queued" || attempted) {
            return row;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("job {id} never reached {wanted}");
}

async fn enqueue_script(pool: &PgPool, script: &str) -> JobId {
    queue::enqueue(pool, "test.scripted", &json!({ "do": script }), Default::default()).await.expect("enqueue")
}

#[sqlx::test]
async fn workers_record_success_bad_input_and_retry_outcomes(pool: PgPool) {
    let runs = Arc::new(AtomicUsize::new(0));
    let (workers, _dir) = start_pool(&pool, runs.clone(), Duration::from_secs(5)).await;
    let ok = enqueue_script(&pool, "succeed").await;
    let bad = enqueue_script(&pool, "abort").await;
    let flaky = enqueue_script(&pool, "retry").await;
    wait_for_state(&pool, ok, "succeeded").await;
    let failed = wait_for_state(&pool, bad, "failed").await;
    assert_eq!(failed.attempts, 1, "bad input is not retried");
    assert_eq!(failed.last_error.as_deref(), Some("not_a_media_file: the upload is text"));
    let retried = wait_for_state(&pool, flaky, "queued").await;
    assert_eq!(retried.attempts, 1);
    assert!(retried.run_after > time::OffsetDateTime::now_utc(), "backoff puts the next attempt in the future");
    workers.shutdown().await;
}

#[sqlx::test]
async fn a_panicking_handler_costs_one_attempt_not_the_worker(pool: PgPool) {
    let runs = Arc::new(AtomicUsize::new(0));
    let (workers, _dir) = start_pool(&pool, runs.clone(), Duration::from_secs(5)).await;
    let panicking = enqueue_script(&pool, "panic").await;
    let row = wait_for_state(&pool, panicking, "queued").await;
    assert!(row.last_error.as_deref().is_some_and(|e| e.contains("panicked")), "{row:?}");
    // The same workers still run the next job.
    let ok = enqueue_script(&pool, "succeed").await;
    wait_for_state(&pool, ok, "succeeded").await;
    workers.shutdown().await;
}

#[sqlx::test]
async fn shutdown_releases_a_job_that_outlives_the_deadline(pool: PgPool) {
    let runs = Arc::new(AtomicUsize::new(0));
    let (workers, _dir) = start_pool(&pool, runs.clone(), Duration::from_millis(300)).await;
    let long = enqueue_script(&pool, "sleep").await;
    wait_for_state(&pool, long, "running").await;
    tokio::time::timeout(Duration::from_secs(10), workers.shutdown()).await.expect("shutdown within the deadline");
    let row = queue::get(&pool, long).await.expect("get").expect("exists");
    assert_eq!(row.state, "queued", "released for another worker");
    assert_eq!(row.attempts, 0, "a released attempt does not count");
}

#[sqlx::test]
async fn the_delete_prefix_job_removes_only_objects_under_its_prefix(pool: PgPool) {
    let runs = Arc::new(AtomicUsize::new(0));
    let (workers, dir) = start_pool(&pool, runs, Duration::from_secs(5)).await;
    let store = lectern::storage::connect(&StorageSettings::Local(LocalSettings {
        root: dir.path().to_owned(),
        public_url: url::Url::parse("http://127.0.0.1:1").expect("valid"),
        presign_secret: secrecy::SecretString::from("0123456789abcdef0123456789abcdef"),
    }))
    .await
    .expect("storage")
    .store;
    for key in ["assets/1/v1/a.m4s", "assets/1/v1/b.m4s", "assets/10/v1/a.m4s"] {
        let key = lectern::storage::ObjectKey::parse(key).expect("valid");
        lectern::storage::put_bytes(store.as_ref(), &key, bytes::Bytes::from_static(b"x"), Default::default())
            .await
            .expect("put");
    }
    let id = queue::enqueue(&pool, "storage.delete_prefix", &json!({ "prefix": "assets/1/" }), Default::default())
        .await
        .expect("enqueue");
    wait_for_state(&pool, id, "succeeded").await;
    let left = store.list(&lectern::storage::KeyPrefix::parse("assets/").expect("valid")).await.expect("list");
    let keys: Vec<&str> = left.iter().map(|m| m.key.as_str()).collect();
    assert_eq!(keys, ["assets/10/v1/a.m4s"]);
    let invalid = queue::enqueue(&pool, "storage.delete_prefix", &json!({ "prefix": "" }), Default::default())
        .await
        .expect("enqueue");
    let row = wait_for_state(&pool, invalid, "failed").await;
    assert!(row.last_error.as_deref().is_some_and(|e| e.starts_with("invalid_payload")));
    workers.shutdown().await;
}
