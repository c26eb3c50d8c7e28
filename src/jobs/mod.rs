//! The durable job queue and the workers that drain it.
//!
//! Jobs live in the `job` table. [`queue`] holds the SQL (enqueue, claim with
//! `FOR UPDATE SKIP LOCKED`, heartbeat, finish); [`worker`] runs claimed jobs through registered
//! [`JobHandler`]s, woken by `LISTEN/NOTIFY` with a polling fallback, and drains on shutdown.
//! Handlers classify their failures: [`JobError::Abort`] (the input is bad; retrying cannot
//! help) fails the job at once, [`JobError::Retry`] (infrastructure hiccup) schedules another
//! attempt with exponential backoff and jitter until `max_attempts`.

pub mod cdn_jobs;
pub mod queue;
pub mod sqs;
pub mod storage_jobs;
pub mod worker;

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use queue::{EnqueueOptions, JobRow};
pub use worker::{WorkerPool, WorkerSettings};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub Uuid);

/// Priority of jobs that take seconds and stand between an upload and its first playable
/// version (`media.probe`, `media.preview`): claimed before any queued transcode (priority 0),
/// whoever's it is.
pub const PRIORITY_QUICK: i16 = 10;

impl std::fmt::Display for JobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// How a job attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The work itself is impossible (bad input); the job fails now with this code.
    #[error("{code}: {message}")]
    Abort { code: String, message: String },
    /// Something outside the work failed (storage, database, a killed process); try again.
    #[error("{0}")]
    Retry(String),
}

impl JobError {
    pub fn abort(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Abort { code: code.into(), message: message.into() }
    }

    pub fn retry(error: impl std::fmt::Display) -> Self {
        Self::Retry(error.to_string())
    }
}

/// What a handler gets besides its payload.
#[derive(Clone)]
pub struct JobContext {
    pub job_id: JobId,
    pub attempt: i32,
    /// The attempt after which a retry fails the job for good, so a handler can clean up (e.g.
    /// mark an asset errored) instead of leaving its subject stuck.
    pub max_attempts: i32,
    /// The worker holding the job's lease (the guard of every outcome it records).
    pub worker_id: String,
    pub pool: sqlx::PgPool,
    pub storage: Arc<dyn crate::storage::ObjectStore>,
    /// Tripped when the worker loses the job (cancelled, lease taken over, shutdown deadline),
    /// so long-running handlers can stop their child processes promptly.
    pub cancellation: tokio_util::sync::CancellationToken,
}

impl JobContext {
    /// Records progress (0–1) for `GET /v1/jobs` and ETA estimates; best effort. False when
    /// this worker no longer holds the job (cancelled — a newer request replaced it — or taken
    /// over): the handler should stop, since nothing it finishes can be recorded. A failed write
    /// is not such a loss (the heartbeat decides that).
    pub async fn report_progress(&self, fraction: f32) -> bool {
        match queue::set_progress(&self.pool, self.job_id, &self.worker_id, fraction).await {
            Ok(held) => held,
            Err(error) => {
                tracing::warn!(%error, "cannot record job progress");
                true
            }
        }
    }

    /// Records the job's success on `conn`, an open transaction of the handler, so the work's
    /// effect and the job's completion commit together: a worker that dies right after the
    /// commit leaves no running job to be run (and its effect made) a second time. False when
    /// this worker no longer holds the job (lease lost, cancelled); the caller must roll back.
    pub async fn complete_in(&self, conn: &mut sqlx::PgConnection) -> Result<bool, sqlx::Error> {
        queue::succeed_in(conn, self.job_id, &self.worker_id).await
    }
}

/// Which workers may run a kind of job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Seconds of work (a probe, a remux, an HTTP call, a sweep): any worker, including those
    /// reserved for quick kinds (`WorkerSettings::quick_workers`).
    Quick,
    /// Minutes to hours (a transcode, a download): only the general workers, so quick kinds
    /// always find a worker free of them.
    Long,
}

/// Runs one kind of job.
#[async_trait]
pub trait JobHandler: Send + Sync + 'static {
    /// The `job.kind` this handler runs, e.g. `storage.delete_prefix`.
    fn kind(&self) -> &'static str;

    /// [`Lane::Quick`] unless the work can take minutes: a handler that transcodes or
    /// downloads whole files says [`Lane::Long`], so the workers reserved for quick kinds never
    /// claim it.
    fn lane(&self) -> Lane {
        Lane::Quick
    }

    async fn run(&self, context: JobContext, payload: serde_json::Value) -> Result<(), JobError>;

    /// For housekeeping kinds: how often the worker pool should enqueue one (with the kind as its
    /// unique key, so many workers still make one job at a time). `None`: only on demand.
    fn every(&self) -> Option<std::time::Duration> {
        None
    }

    /// Called when the job's worker was lost on its final attempt, in the reaper's transaction
    /// that fails the job (an error rolls both back for the next round), so the handler can
    /// settle its subject — an asset must not stay `probing` because nobody is left to error
    /// it. The default does nothing.
    async fn on_exhausted(&self, conn: &mut sqlx::PgConnection, payload: &serde_json::Value) -> Result<(), JobError> {
        let _ = (conn, payload);
        Ok(())
    }
}

impl JobContext {
    /// True on the attempt after which a retry would fail the job.
    pub fn is_final_attempt(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}
