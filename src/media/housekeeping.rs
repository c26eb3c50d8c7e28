//! Sweeping abandoned uploads out of storage.
//!
//! A tus or direct multipart upload that is not completed by its `expires_at` holds storage an
//! S3 bucket keeps (and bills) forever: parts of an open multipart upload are invisible to
//! listings but not free. The `media.expire_uploads` job, which every worker pool enqueues each
//! `LECTERN_UPLOAD_SWEEP_INTERVAL` (one at a time across the fleet: the kind is its unique key),
//! finds open uploads past their expiry and for each:
//! 1. aborts the storage multipart upload (S3 `AbortMultipartUpload`; aborting an unknown
//!    upload succeeds, so a crash between steps is harmless), or, for a tus upload the local
//!    backend grows in place, discards its append file;
//! 2. deletes everything under `uploads/{upload_id}/` (the tus tail, anything staged);
//! 3. removes the row with a guarded delete (still unfinished, still expired) and records
//!    `asset.upload_expired` (upload id, protocol, expiry) in the asset's outbox, in one
//!    transaction. The event is the lasting record; the row goes, as on tus termination, so the
//!    asset's one-open-upload rule lets a new upload start.
//!
//! Storage is cleaned before the row goes: if storage is down, the row stays and the next sweep
//! tries again, so nothing is ever left in storage without a row pointing at it.
//!
//! The asset stays `waiting_upload`: an expired upload is an interrupted attempt, not a bad file,
//! so the owner may simply start a new upload. Its status is not touched.

use std::time::Duration;

use async_trait::async_trait;
use uuid::Uuid;

use super::assets::{self, AssetId};
use super::{MediaError, source_key, uploads};
use crate::jobs::{JobContext, JobError, JobHandler};
use crate::storage::{KeyPrefix, MultipartId, ObjectStore, StorageError};

/// Uploads handled per sweep; the next sweep takes the rest.
const SWEEP_BATCH: i64 = 500;

pub struct ExpireUploads {
    every: Duration,
}

impl ExpireUploads {
    pub const KIND: &'static str = "media.expire_uploads";

    pub fn new(every: Duration) -> Self {
        Self { every }
    }
}

#[async_trait]
impl JobHandler for ExpireUploads {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    fn every(&self) -> Option<Duration> {
        Some(self.every)
    }

    async fn run(&self, context: JobContext, _payload: serde_json::Value) -> Result<(), JobError> {
        let report = sweep(&context.pool, &*context.storage)
            .await
            .map_err(|error| JobError::retry(crate::error_chain(&error)))?;
        if report.expired > 0 || report.failed > 0 {
            tracing::info!(expired = report.expired, failed = report.failed, "swept expired uploads");
        }
        if report.failed > 0 {
            return Err(JobError::retry(format!("{} expired uploads could not be cleaned up", report.failed)));
        }
        Ok(())
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// Uploads cleaned up and marked expired.
    pub expired: u64,
    /// Uploads whose storage could not be cleaned this time (they are tried again next sweep).
    pub failed: u64,
}

/// Cleans up every open upload past its expiry. Storage failures of one upload do not stop the
/// others; they are counted and retried by the next sweep. Database failures end the sweep.
pub async fn sweep(pool: &sqlx::PgPool, storage: &dyn ObjectStore) -> Result<SweepReport, MediaError> {
    let mut report = SweepReport::default();
    for upload in uploads::expired(pool, SWEEP_BATCH).await? {
        match clean_storage(storage, &upload).await {
            Ok(()) => {
                let mut transaction = pool.begin().await?;
                if uploads::delete_expired(&mut transaction, upload.upload_id).await? {
                    let payload = serde_json::json!({
                        "upload_id": upload.upload_id,
                        "protocol": upload.protocol,
                        "expires_at": upload.expires_at.unix_timestamp(),
                    });
                    assets::record_event(&mut transaction, AssetId(upload.asset_id), "asset.upload_expired", &payload)
                        .await?;
                    report.expired += 1;
                }
                transaction.commit().await?;
            }
            Err(error) => {
                tracing::warn!(upload_id = %upload.upload_id, error = %crate::error_chain(&error), "cannot clean up an expired upload");
                report.failed += 1;
            }
        }
    }
    Ok(report)
}

async fn clean_storage(storage: &dyn ObjectStore, upload: &uploads::ExpiredUpload) -> Result<(), StorageError> {
    // tus and direct multipart uploads both assemble into the asset's source key; a tus upload
    // on a store that grows files in place (local) has no multipart upload but an append file.
    if let Some(storage_upload_id) = &upload.storage_upload_id {
        let key = source_key(AssetId(upload.asset_id));
        storage.abort_multipart(&key, &MultipartId(storage_upload_id.clone())).await?;
    } else if let Some(appender) = storage.append_store() {
        appender.discard_append(&upload.upload_id.to_string()).await?;
    }
    storage.delete_prefix(&upload_prefix(upload.upload_id)?).await?;
    Ok(())
}

/// `uploads/{upload_id}/`: where an upload keeps objects of its own while in progress.
pub fn upload_prefix(upload_id: Uuid) -> Result<KeyPrefix, StorageError> {
    KeyPrefix::parse(format!("uploads/{upload_id}/"))
}
