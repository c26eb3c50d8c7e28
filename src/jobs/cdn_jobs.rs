//! `cdn.invalidate`: asks the configured CloudFront distribution to drop its cached copies of
//! objects Lectern deleted.
//!
//! Two transactions queue one, and only when a distribution is configured
//! (`LECTERN_CLOUDFRONT_DISTRIBUTION_ID`): deleting an asset (everything under `assets/{id}/`)
//! and publishing a version that supersedes another (the superseded version's
//! `assets/{id}/v{n}/`). Both also queue the `storage.delete_prefix` of the same prefix, and the
//! invalidation follows that deletion rather than the publish:
//!
//! - package paths are versioned, so a new version never shares a URL with an old one and no
//!   viewer is served stale bytes in place of new ones; invalidating at publish would buy
//!   nothing but sending the superseded version's remaining viewers (those the grace is for)
//!   back to the origin;
//! - what an invalidation does buy is that deleted bytes stop being served from edge caches
//!   (segments are cached for a year). If it ran before the deletion, a viewer's request in
//!   between would put the object back in the cache for that year.
//!
//! So the job is due when the deletion is, and while a `storage.delete_prefix` of its prefix is
//! still queued or running it retries later (on its final attempt it invalidates anyway: a
//! deletion failing for that long should not also keep the cache). CloudFront throttling that
//! outlasts the client's own retries, or an unreachable API, is retried with the queue's
//! backoff; a refusal (unknown distribution, missing permission) fails the job with
//! `cdn_refused` and an error in the log. The caller reference is derived from the job id, so a
//! retried attempt whose first request did reach CloudFront is the same invalidation, not a
//! second one.

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::storage_jobs::DeletePrefix;
use super::{EnqueueOptions, JobContext, JobError, JobHandler, queue};
use crate::cdn::{InvalidationError, Invalidator};
use crate::metrics::{Metrics, OutcomeLabels};
use crate::storage::KeyPrefix;

/// Waiting for a deletion and CloudFront's limit on invalidations in progress can both take a
/// while; ten attempts span about 40 minutes of backoff.
const MAX_ATTEMPTS: i32 = 10;

#[derive(Debug, Serialize, Deserialize)]
pub struct InvalidatePayload {
    /// Invalidation paths as CloudFront takes them (`/…`, `*` at the end matches a prefix).
    pub paths: Vec<String>,
    /// The storage prefix whose `storage.delete_prefix` must finish first.
    #[serde(default)]
    pub after_deleting: Option<String>,
}

/// Queues the invalidation of every object under `prefix`, due at `run_after` (the deletion's
/// time) and sent once the prefix's deletion has finished; on `conn`, the transaction that
/// queues that deletion. Does nothing when no distribution is configured (`invalidator` is
/// `None`). Returns whether a job was queued (or an equal one was already pending).
pub async fn enqueue_after_deletion(
    conn: &mut sqlx::PgConnection,
    invalidator: Option<&Invalidator>,
    prefix: &KeyPrefix,
    run_after: Option<OffsetDateTime>,
) -> Result<bool, sqlx::Error> {
    let Some(invalidator) = invalidator else {
        return Ok(false);
    };
    let payload = InvalidatePayload {
        paths: vec![invalidator.paths_under(prefix)],
        after_deleting: Some(prefix.as_str().to_owned()),
    };
    let payload = serde_json::to_value(payload).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let options = EnqueueOptions {
        unique_key: Some(format!("{}:{}", InvalidateCdn::KIND, prefix.as_str())),
        run_after,
        max_attempts: Some(MAX_ATTEMPTS),
        ..EnqueueOptions::default()
    };
    queue::enqueue_in(conn, InvalidateCdn::KIND, &payload, options).await?;
    Ok(true)
}

/// Runs `cdn.invalidate` jobs through the configured distribution's client.
pub struct InvalidateCdn {
    invalidator: Option<Invalidator>,
    metrics: Arc<Metrics>,
}

impl InvalidateCdn {
    pub const KIND: &'static str = "cdn.invalidate";

    /// Registered with or without a distribution, so jobs queued while one was configured fail
    /// with a code instead of waiting forever for a worker that knows the kind.
    pub fn new(invalidator: Option<Invalidator>, metrics: Arc<Metrics>) -> Self {
        Self { invalidator, metrics }
    }

    fn count(&self, outcome: &'static str) {
        self.metrics.cdn_invalidations.get_or_create(&OutcomeLabels { outcome }).inc();
    }
}

#[async_trait]
impl JobHandler for InvalidateCdn {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    #[tracing::instrument(name = "cdn_invalidate", skip_all)]
    async fn run(&self, context: JobContext, payload: serde_json::Value) -> Result<(), JobError> {
        let payload: InvalidatePayload =
            serde_json::from_value(payload).map_err(|e| JobError::abort("invalid_payload", e.to_string()))?;
        let Some(invalidator) = &self.invalidator else {
            self.count("not_configured");
            tracing::error!(paths = ?payload.paths, "an invalidation is queued but no CloudFront distribution is configured; the paths stay cached until they expire");
            return Err(JobError::abort(
                "cdn_not_configured",
                "no CloudFront distribution is configured (LECTERN_CLOUDFRONT_DISTRIBUTION_ID)",
            ));
        };
        if let Some(prefix) = &payload.after_deleting {
            let deletion = format!("{}:{prefix}", DeletePrefix::KIND);
            let pending = queue::is_pending(&context.pool, &deletion)
                .await
                .map_err(|e| JobError::retry(format!("database: {}", crate::error_chain(&e))))?;
            if pending && !context.is_final_attempt() {
                return Err(JobError::retry(format!("waiting for the deletion of {prefix} before invalidating it")));
            }
            if pending {
                tracing::warn!(prefix = %prefix, "the deletion is still pending on the last attempt; invalidating anyway");
            }
        }
        let caller_reference = format!("lectern-job-{}", context.job_id);
        match invalidator.invalidate_as(&payload.paths, &caller_reference).await {
            Ok(invalidation) => {
                self.count("accepted");
                tracing::info!(
                    distribution_id = invalidator.distribution_id(),
                    invalidation_id = %invalidation.id,
                    status = %invalidation.status,
                    requests = invalidation.attempts,
                    paths = ?payload.paths,
                    "CloudFront invalidation created"
                );
                Ok(())
            }
            Err(error) => Err(self.classify(invalidator, &error)),
        }
    }
}

impl InvalidateCdn {
    /// Counts the failure and turns it into a retry (CloudFront or the network) or a failure
    /// (a refusal an operator must fix, or paths no retry can mend).
    fn classify(&self, invalidator: &Invalidator, error: &InvalidationError) -> JobError {
        match error {
            InvalidationError::Throttled { .. } => {
                self.count("throttled");
                JobError::retry(format!("{}: {error}", error.error_code()))
            }
            InvalidationError::Unavailable(_) => {
                self.count("unavailable");
                JobError::retry(format!("{}: {}", error.error_code(), crate::error_chain(error)))
            }
            InvalidationError::Refused { code, message } => {
                self.count("refused");
                tracing::error!(
                    distribution_id = invalidator.distribution_id(),
                    code = %code,
                    message = %message,
                    "CloudFront refused an invalidation; check LECTERN_CLOUDFRONT_DISTRIBUTION_ID and that the credentials may cloudfront:CreateInvalidation"
                );
                JobError::abort(error.error_code(), error.to_string())
            }
            InvalidationError::NoPaths | InvalidationError::InvalidPath(_) => {
                self.count("invalid");
                JobError::abort(error.error_code(), error.to_string())
            }
        }
    }
}
