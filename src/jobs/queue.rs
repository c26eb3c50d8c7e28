//! The SQL of the job queue. Every state change is one guarded statement, so two workers can
//! never both believe they hold a job, and a worker that lost its lease cannot overwrite the
//! outcome of the one that took over.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::JobId;

#[derive(Debug, Clone, Default)]
pub struct EnqueueOptions {
    pub priority: i16,
    pub max_attempts: Option<i32>,
    /// Makes enqueueing idempotent while a job with the same key is queued or running.
    pub unique_key: Option<String>,
    /// Do not run before this time.
    pub run_after: Option<OffsetDateTime>,
    /// Whose work this is (media jobs): claiming shares workers fairly between owners.
    pub owner_id: Option<Uuid>,
}

/// A job as a worker or an API caller sees it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct JobRow {
    pub job_id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
    pub state: String,
    pub priority: i16,
    pub attempts: i32,
    pub max_attempts: i32,
    pub last_error: Option<String>,
    pub progress: Option<f32>,
    #[serde(with = "time::serde::rfc3339")]
    pub run_after: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The W3C trace context of whoever enqueued the job (see `telemetry`); not part of the API.
    #[serde(skip)]
    pub traceparent: Option<String>,
}

/// Adds a job; with a `unique_key` that is already queued or running, returns that job instead.
pub async fn enqueue(
    pool: &PgPool,
    kind: &str,
    payload: &serde_json::Value,
    options: EnqueueOptions,
) -> Result<JobId, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    enqueue_in(&mut conn, kind, payload, options).await
}

/// [`enqueue`] on a connection, usually an open transaction (`&mut *tx`), so a domain change and
/// the job it calls for commit together: a job enqueued outside the transaction could run before
/// the change is visible, or outlive a change that rolled back.
///
/// When spans are exported, the job carries the current span's trace context, so its run joins
/// the trace of the request (or job) that asked for it.
pub async fn enqueue_in(
    conn: &mut sqlx::PgConnection,
    kind: &str,
    payload: &serde_json::Value,
    options: EnqueueOptions,
) -> Result<JobId, sqlx::Error> {
    let inserted = sqlx::query_scalar!(
        r#"
        insert into job (kind, payload, priority, max_attempts, unique_key, run_after, owner_id, traceparent)
        values ($1, $2, $3, coalesce($4, 5), $5, coalesce($6, now()), $7, $8)
        on conflict (unique_key) where unique_key is not null and state in ('queued', 'running')
        do nothing
        returning job_id
        "#,
        kind,
        payload,
        options.priority,
        options.max_attempts,
        options.unique_key.as_deref(),
        options.run_after,
        options.owner_id,
        crate::telemetry::current_traceparent(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(job_id) = inserted {
        return Ok(JobId(job_id));
    }
    // The conflict means an equal job is pending; hand back its id.
    let existing = sqlx::query_scalar!(
        r#"select job_id from job where unique_key = $1 and state in ('queued', 'running')"#,
        options.unique_key.as_deref(),
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(JobId(existing))
}

/// True while a job with this unique key is queued or running (e.g. a deletion another job must
/// wait for).
pub async fn is_pending(pool: &PgPool, unique_key: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists(select 1 from job where unique_key = $1 and state in ('queued', 'running')) as "pending!""#,
        unique_key,
    )
    .fetch_one(pool)
    .await
}

/// Claims the most urgent due job of the given kinds, or one whose lease expired with attempts
/// left (an expired final attempt is the reaper's, see [`fail_exhausted_expired`]), and leases
/// it to `worker_id`. `SKIP LOCKED` lets many workers claim concurrently without waiting on each
/// other or taking the same row. Among equally urgent jobs, the one whose owner has the fewest
/// jobs running goes first (fair share), then the oldest.
pub async fn claim(
    pool: &PgPool,
    worker_id: &str,
    kinds: &[String],
    lease: Duration,
) -> Result<Option<JobRow>, sqlx::Error> {
    let lease_seconds = lease.as_secs_f64();
    sqlx::query_as!(
        JobRow,
        r#"
        update job
        set state = 'running',
            attempts = attempts + 1,
            locked_by = $1,
            lease_until = now() + make_interval(secs => $3),
            progress = null
        where job_id = (
            select candidate.job_id from job candidate
            where candidate.kind = any($2)
              and ((candidate.state = 'queued' and candidate.run_after <= now())
                   or (candidate.state = 'running' and candidate.lease_until < now()
                       and candidate.attempts < candidate.max_attempts))
            order by candidate.priority desc,
                     (select count(*) from job busy
                      where busy.state = 'running' and busy.owner_id = candidate.owner_id
                        and busy.lease_until >= now()),
                     candidate.created_at
            for update of candidate skip locked
            limit 1
        )
        returning job_id, kind, payload, state, priority, attempts, max_attempts, last_error,
                  progress, run_after, created_at, traceparent
        "#,
        worker_id,
        kinds,
        lease_seconds,
    )
    .fetch_optional(pool)
    .await
}

/// Extends the lease of a job this worker holds. Returns false when the lease was lost (the job
/// was reclaimed or cancelled), in which case the worker must stop working on it.
pub async fn heartbeat(pool: &PgPool, job_id: JobId, worker_id: &str, lease: Duration) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        r#"
        update job set lease_until = now() + make_interval(secs => $3)
        where job_id = $1 and locked_by = $2 and state = 'running'
        "#,
        job_id.0,
        worker_id,
        lease.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records success. Also accepts a job this worker already completed inside its handler's own
/// transaction ([`succeed_in`]); it then only lets go of it.
pub async fn succeed(pool: &PgPool, job_id: JobId, worker_id: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        r#"
        update job
        set state = 'succeeded', lease_until = null, locked_by = null,
            finished_at = case when state = 'running' then now() else finished_at end,
            progress = 1, last_error = null
        where job_id = $1 and locked_by = $2 and state in ('running', 'succeeded')
        "#,
        job_id.0,
        worker_id,
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Records success inside the handler's transaction (see `JobContext::complete_in`). The
/// worker's name stays on the row until the worker's own [`succeed`] lets go of it.
pub async fn succeed_in(conn: &mut sqlx::PgConnection, job_id: JobId, worker_id: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        r#"
        update job
        set state = 'succeeded', lease_until = null, finished_at = now(), progress = 1, last_error = null
        where job_id = $1 and locked_by = $2 and state = 'running'
        "#,
        job_id.0,
        worker_id,
    )
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Fails the job for good (bad input, or attempts exhausted).
pub async fn fail(pool: &PgPool, job_id: JobId, worker_id: &str, error: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        r#"
        update job
        set state = 'failed', lease_until = null, locked_by = null, finished_at = now(),
            last_error = $3
        where job_id = $1 and locked_by = $2 and state = 'running'
        "#,
        job_id.0,
        worker_id,
        error,
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Returns the job to the queue to run again after `delay`, or fails it when this was its last
/// allowed attempt.
pub async fn retry_later(
    pool: &PgPool,
    job_id: JobId,
    worker_id: &str,
    error: &str,
    delay: Duration,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        r#"
        update job
        set state = case when attempts >= max_attempts then 'failed' else 'queued' end,
            finished_at = case when attempts >= max_attempts then now() end,
            run_after = now() + make_interval(secs => $4),
            lease_until = null, locked_by = null, last_error = $3
        where job_id = $1 and locked_by = $2 and state = 'running'
        "#,
        job_id.0,
        worker_id,
        error,
        delay.as_secs_f64(),
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// Gives a job back untouched (graceful shutdown): the attempt does not count.
pub async fn release(pool: &PgPool, job_id: JobId, worker_id: &str) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        r#"
        update job
        set state = 'queued', attempts = greatest(attempts - 1, 0), lease_until = null,
            locked_by = null, run_after = now()
        where job_id = $1 and locked_by = $2 and state = 'running'
        "#,
        job_id.0,
        worker_id,
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

/// A job the reaper failed.
#[derive(Debug, Clone)]
pub struct ExhaustedJob {
    pub job_id: Uuid,
    pub kind: String,
    pub payload: serde_json::Value,
}

/// Fails jobs of `kinds` whose lease expired on their final attempt: their worker died every
/// time, so claiming them again would only kill another worker. Call it in a transaction that
/// also runs the handlers' `on_exhausted`; returns the jobs it failed.
pub async fn fail_exhausted_expired(
    conn: &mut sqlx::PgConnection,
    kinds: &[String],
) -> Result<Vec<ExhaustedJob>, sqlx::Error> {
    sqlx::query_as!(
        ExhaustedJob,
        r#"
        update job
        set state = 'failed', finished_at = now(), lease_until = null, locked_by = null,
            last_error = coalesce(last_error || '; ', '') || 'worker lost on the final attempt'
        where job_id in (
            select job_id from job
            where state = 'running' and lease_until < now() and attempts >= max_attempts and kind = any($1)
            for update skip locked
        )
        returning job_id, kind, payload
        "#,
        kinds,
    )
    .fetch_all(&mut *conn)
    .await
}

/// Records the progress of a job this worker holds. False when it no longer holds it (the job
/// was cancelled, or taken over after a lost lease): the worker should stop the work.
pub async fn set_progress(pool: &PgPool, job_id: JobId, worker_id: &str, fraction: f32) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        "update job set progress = $3 where job_id = $1 and locked_by = $2 and state = 'running'",
        job_id.0,
        worker_id,
        fraction.clamp(0.0, 1.0),
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}

pub async fn get(pool: &PgPool, job_id: JobId) -> Result<Option<JobRow>, sqlx::Error> {
    sqlx::query_as!(
        JobRow,
        r#"
        select job_id, kind, payload, state, priority, attempts, max_attempts, last_error,
               progress, run_after, created_at, traceparent
        from job where job_id = $1
        "#,
        job_id.0,
    )
    .fetch_optional(pool)
    .await
}

/// Cancels the running jobs of `kind` working on an asset, because a newer request replaces
/// their work (a reprocess with another preset): none of them may record an effect after this
/// commits (every outcome is guarded by `state = 'running'`), and each worker stops at its next
/// progress write or heartbeat. Returns how many.
pub async fn cancel_running_for_asset(
    conn: &mut sqlx::PgConnection,
    kind: &str,
    asset_id: Uuid,
    reason: &str,
) -> Result<u64, sqlx::Error> {
    let result = sqlx::query!(
        r#"
        update job
        set state = 'cancelled', finished_at = now(), lease_until = null, locked_by = null, last_error = $3
        where kind = $1 and state = 'running'
          and payload ? 'asset_id' and payload ->> 'asset_id' = $2::uuid::text
        "#,
        kind,
        asset_id,
        reason,
    )
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// Cancels an asset's queued and running jobs (it was deleted). A running job's worker sees the
/// cancellation at its next heartbeat (the lease is gone) and stops the work. Returns how many.
pub async fn cancel_for_asset(conn: &mut sqlx::PgConnection, asset_id: Uuid, reason: &str) -> Result<u64, sqlx::Error> {
    let result = sqlx::query!(
        r#"
        update job
        set state = 'cancelled', finished_at = now(), lease_until = null, locked_by = null,
            last_error = $2
        where payload ? 'asset_id' and payload ->> 'asset_id' = $1::uuid::text
          and state in ('queued', 'running')
        "#,
        asset_id,
        reason,
    )
    .execute(&mut *conn)
    .await?;
    Ok(result.rows_affected())
}

/// A job as `GET /v1/jobs` shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobSummary {
    pub job_id: Uuid,
    pub kind: String,
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub progress: Option<f32>,
    pub last_error: Option<String>,
    pub run_after: OffsetDateTime,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
}

/// The jobs that work on an asset, newest first.
pub async fn list_for_asset(pool: &PgPool, asset_id: Uuid) -> Result<Vec<JobSummary>, sqlx::Error> {
    sqlx::query_as!(
        JobSummary,
        r#"
        select job_id, kind, state, attempts, max_attempts, progress, last_error, run_after,
               created_at, updated_at, finished_at
        from job
        where payload ? 'asset_id' and payload ->> 'asset_id' = $1::uuid::text
        order by created_at desc, job_id
        limit 100
        "#,
        asset_id,
    )
    .fetch_all(pool)
    .await
}

/// Queued jobs per kind and the age of the oldest, for `/metrics`.
pub async fn depth_by_kind(pool: &PgPool) -> Result<Vec<(String, i64, f64)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"
        select kind, count(*) as "depth!",
               extract(epoch from (now() - min(run_after)))::float8 as "oldest_age_seconds!"
        from job where state = 'queued' and run_after <= now()
        group by kind
        "#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|row| (row.kind, row.depth, row.oldest_age_seconds.max(0.0))).collect())
}

/// Exponential backoff with ±20% jitter: `first`, twice that, four times, … capped at `cap`
/// (by default 5 s, 10 s, 20 s, … up to one hour). Jitter keeps a burst of jobs that failed
/// together (a storage outage) from retrying in lockstep.
pub fn backoff(attempt: i32, jitter_unit: f64, first: Duration, cap: Duration) -> Duration {
    let exponent = attempt.saturating_sub(1).clamp(0, 30);
    let base = (first.as_secs_f64() * 2f64.powi(exponent)).min(cap.as_secs_f64());
    let jitter = 0.8 + 0.4 * jitter_unit.clamp(0.0, 1.0);
    Duration::from_secs_f64(base * jitter)
}

// --- accounts (issue 21) ---
/// Replaces the payload of a job this worker holds, e.g. with a redacted copy once a message
/// carrying a single-use link has been sent (a finished job's payload stays readable through
/// `GET /v1/jobs` and in backups). False when the worker no longer holds the job.
pub async fn replace_payload(
    pool: &PgPool,
    job_id: JobId,
    worker_id: &str,
    payload: &serde_json::Value,
) -> Result<bool, sqlx::Error> {
    let result = sqlx::query!(
        r#"update job set payload = $3 where job_id = $1 and locked_by = $2"#,
        job_id.0,
        worker_id,
        payload,
    )
    .execute(pool)
    .await?;
    Ok(result.rows_affected() == 1)
}
// --- end accounts ---

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        let backoff = |attempt, jitter| backoff(attempt, jitter, Duration::from_secs(5), Duration::from_secs(3600));
        assert_eq!(backoff(1, 0.5), Duration::from_secs(5));
        assert_eq!(backoff(2, 0.5), Duration::from_secs(10));
        assert_eq!(backoff(3, 0.5), Duration::from_secs(20));
        assert_eq!(backoff(30, 0.5), Duration::from_secs(3600));
        assert!(backoff(1, 0.0) >= Duration::from_secs(4) && backoff(1, 1.0) <= Duration::from_secs(6));
    }

    #[test]
    fn backoff_follows_the_configured_first_delay() {
        let short = |attempt| backoff(attempt, 0.5, Duration::from_millis(200), Duration::from_secs(1));
        assert_eq!(short(1), Duration::from_millis(200));
        assert_eq!(short(3), Duration::from_millis(800));
        assert_eq!(short(4), Duration::from_secs(1));
    }
}
