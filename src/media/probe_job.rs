//! The `media.probe` job: find out what an uploaded file is, and refuse what Lectern will not
//! process, before any heavy work.
//!
//! `upload_completed` enqueues it (unique per asset) when an asset's source is stored. The job
//! moves the asset `uploaded → probing` with a guarded update, copies the source object to a
//! scratch file, probes it in a sandboxed child process (`lectern __engine`, through
//! [`EngineRunner`]; FFmpeg never runs in a worker or API process), and applies the configured
//! limits exactly as `lectern probe` does. Then, in one transaction each:
//! - accepted: the `SourceInfo` JSON goes to `asset.source`, the asset moves to `processing`
//!   with an `asset.probed` event, and a `media.transcode` job is enqueued (unique per asset),
//!   with a `media.preview` before it when fast start applies (see [`super::preview_job`]).
//! - refused (the engine's stable codes: `empty_file`, `not_a_media_file`, `truncated_file`,
//!   `no_playable_streams`, `unsupported_codec`, `duration_too_long`, `resolution_too_large`,
//!   `file_too_large`): the asset is `errored` with that code and message and an
//!   `asset.errored` event; the job itself succeeds, because bad input is not retried.
//! - infrastructure failures (storage unreachable, the child crashed, hung or could not start):
//!   the job is retried with the queue's backoff; on the final attempt the asset is marked
//!   `errored` with `probe_failed` so it is not left `probing` forever.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use pipelines::refusal::{Refusal, RefusalCode};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

use super::IngestSettings;
use super::MediaError;
use super::assets::{self, AssetId, AssetStatus};
use super::transcode_job::TranscodeJob;
use crate::engine::scratch::{ScratchDir, Sweeper};
use crate::engine::{EngineRunner, RunError};
use crate::jobs::{EnqueueOptions, JobContext, JobError, JobHandler, queue};
use crate::storage::{ObjectKey, ObjectStore, StorageError};

#[derive(Debug, Serialize, Deserialize)]
pub struct ProbePayload {
    pub asset_id: Uuid,
}

pub struct ProbeJob {
    settings: Arc<IngestSettings>,
    /// Removes the scratch copies of probes whose process died (see `engine::scratch`).
    sweeper: Sweeper,
}

/// Where probes copy sources, and the name their scratch directories start with.
fn scratch_parent(settings: &IngestSettings) -> (std::path::PathBuf, &'static [&'static str]) {
    match &settings.work_dir {
        Some(dir) => (dir.clone(), &["probe-"]),
        None => (std::env::temp_dir(), &["lectern-probe-"]),
    }
}

impl ProbeJob {
    pub const KIND: &'static str = "media.probe";

    /// Also sweeps what killed workers left in the scratch directory (the worker is starting).
    pub fn new(settings: Arc<IngestSettings>) -> Self {
        let (parent, prefixes) = scratch_parent(&settings);
        let sweeper = Sweeper::new(parent, prefixes);
        sweeper.sweep_if_due();
        Self { settings, sweeper }
    }

    fn runner(&self) -> Result<EngineRunner, JobError> {
        self.settings
            .engine_settings()
            .runner()
            .map_err(|error| JobError::retry(format!("cannot find the lectern binary: {error}")))
    }
}

#[async_trait]
impl JobHandler for ProbeJob {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    async fn run(&self, context: JobContext, payload: serde_json::Value) -> Result<(), JobError> {
        let payload: ProbePayload =
            serde_json::from_value(payload).map_err(|e| JobError::abort("invalid_payload", e.to_string()))?;
        let asset_id = payload.asset_id;
        let outcome = self.probe(&context, asset_id).await;
        match outcome {
            Ok(()) => Ok(()),
            Err(ProbeFailure::Refused { code, message }) => {
                tracing::info!(%asset_id, code, %message, "source refused");
                fail_asset(&context, asset_id, code, &message).await
            }
            Err(ProbeFailure::Infrastructure(message)) => {
                if context.is_final_attempt() {
                    fail_asset(&context, asset_id, "probe_failed", PROBE_FAILED).await?;
                }
                Err(JobError::Retry(message))
            }
        }
    }

    /// The worker died on the final attempt (the engine took it down, or the machine went):
    /// the asset is errored like after a failed final attempt, unless it has moved on.
    async fn on_exhausted(&self, conn: &mut sqlx::PgConnection, payload: &serde_json::Value) -> Result<(), JobError> {
        let Ok(payload) = serde_json::from_value::<ProbePayload>(payload.clone()) else { return Ok(()) };
        let waiting = [AssetStatus::Uploaded, AssetStatus::Probing];
        assets::fail_from(conn, AssetId(payload.asset_id), &waiting, "probe_failed", PROBE_FAILED)
            .await
            .map_err(|error| JobError::retry(crate::error_chain(&error)))?;
        Ok(())
    }
}

const PROBE_FAILED: &str = "the file could not be inspected; upload it again";

/// How one probe attempt ended badly.
enum ProbeFailure {
    /// The file is not acceptable; the asset is errored with this code.
    Refused { code: &'static str, message: String },
    /// Something other than the file failed; try again.
    Infrastructure(String),
}

impl From<Refusal> for ProbeFailure {
    fn from(refusal: Refusal) -> Self {
        Self::Refused { code: refusal.code.as_str(), message: refusal.message }
    }
}

impl From<sqlx::Error> for ProbeFailure {
    fn from(error: sqlx::Error) -> Self {
        Self::Infrastructure(format!("database: {}", crate::error_chain(&error)))
    }
}

impl From<MediaError> for ProbeFailure {
    fn from(error: MediaError) -> Self {
        Self::Infrastructure(crate::error_chain(&error))
    }
}

impl ProbeJob {
    #[tracing::instrument(name = "probe", skip_all, fields(asset_id = %asset_id))]
    async fn probe(&self, context: &JobContext, asset_id: Uuid) -> Result<(), ProbeFailure> {
        let id = AssetId(asset_id);
        let mut connection = context.pool.acquire().await?;
        let started = assets::transition(
            &mut connection,
            id,
            AssetStatus::Uploaded,
            AssetStatus::Probing,
            "asset.probing",
            &serde_json::json!({}),
        )
        .await;
        match started {
            Ok(()) => {}
            // An earlier attempt died mid-probe (a crashed worker, a lost lease): probe again.
            Err(MediaError::WrongState { actual, .. }) if actual == AssetStatus::Probing.as_str() => {}
            // Deleted, already probed, or errored meanwhile: nothing to do.
            Err(MediaError::WrongState { .. } | MediaError::NotFound(_)) => {
                tracing::info!("asset is not waiting for a probe; skipping");
                return Ok(());
            }
            Err(other) => return Err(other.into()),
        }
        let asset = assets::get(&context.pool, id).await?;
        let owner_id = asset.as_ref().map(|asset| asset.owner_id);
        let Some(source_key) = asset.and_then(|asset| asset.source_key) else {
            return Err(ProbeFailure::Refused {
                code: "source_missing",
                message: "the asset has no stored file".to_owned(),
            });
        };
        let key = ObjectKey::parse(source_key)
            .map_err(|error| ProbeFailure::Infrastructure(format!("stored source key is invalid: {error}")))?;
        let sweeper = self.sweeper.clone();
        // Periodically, what killed workers left behind (a no-op until it is due).
        let _ = tokio::task::spawn_blocking(move || sweeper.sweep_if_due()).await;
        // Created on first use, as the local transcoder does: a fresh data disk or a cleaned
        // temporary directory must not fail every probe.
        let (parent, prefixes) = scratch_parent(&self.settings);
        let scratch = ScratchDir::create(&parent, prefixes[0])
            .map_err(|error| ProbeFailure::Infrastructure(format!("cannot create a scratch directory: {error}")))?;
        let path = scratch.path().join("source");
        let size = download(&*context.storage, &key, &path, self.settings.limits.max_file_bytes).await?;
        tracing::debug!(size, "source copied to scratch");
        let runner = self.runner().map_err(|error| ProbeFailure::Infrastructure(error.to_string()))?;
        let source = runner.probe(&path).await.map_err(classify_run_error)?;
        // The scratch copy is not needed any more; a failed removal only leaks a temp dir.
        drop(scratch);
        pipelines::limits::check(&source, &self.settings.limits)?;
        let source_json = serde_json::to_value(&source)
            .map_err(|error| ProbeFailure::Infrastructure(format!("cannot encode the probe result: {error}")))?;
        let summary = serde_json::json!({
            "container": source.container,
            "duration_seconds": source.duration_seconds,
            "video_streams": source.video.len(),
            "audio_streams": source.audio.len(),
        });
        let mut transaction = context.pool.begin().await?;
        if assets::record_probe(&mut transaction, id, &source_json, &summary).await? {
            let options = EnqueueOptions {
                unique_key: Some(format!("{}:{asset_id}", TranscodeJob::KIND)),
                owner_id,
                ..EnqueueOptions::default()
            };
            let payload = serde_json::json!({"asset_id": asset_id});
            queue::enqueue_in(&mut transaction, TranscodeJob::KIND, &payload, options).await?;
            super::preview_job::enqueue_if_remuxable(&mut transaction, &self.settings, asset_id, owner_id, &source)
                .await?;
            tracing::info!(container = %source.container, video = source.video.len(), audio = source.audio.len(), "source probed");
        }
        transaction.commit().await?;
        Ok(())
    }
}

fn classify_run_error(error: RunError) -> ProbeFailure {
    match error {
        RunError::Refused(refusal) => refusal.into(),
        // A crash or a hang may be the file's fault, but may also be the machine's (memory
        // pressure, a kill): retry, and give up with `probe_failed` on the last attempt.
        other => ProbeFailure::Infrastructure(crate::error_chain(&other)),
    }
}

/// Copies an object to a local file, refusing it past `max_bytes` without reading further.
async fn download(store: &dyn ObjectStore, key: &ObjectKey, path: &Path, max_bytes: u64) -> Result<u64, ProbeFailure> {
    let storage_failure = |error: StorageError| match error {
        // The row says the bytes were stored; without them there is nothing to retry.
        StorageError::NotFound => ProbeFailure::Refused {
            code: "source_missing",
            message: "the uploaded file is missing from storage".to_owned(),
        },
        other => ProbeFailure::Infrastructure(format!("storage: {}", crate::error_chain(&other))),
    };
    let body = store.get(key, None).await.map_err(storage_failure)?;
    if body.meta.size > max_bytes {
        return Err(too_large(body.meta.size, max_bytes));
    }
    let io_failure =
        |error: std::io::Error| ProbeFailure::Infrastructure(format!("scratch file {}: {error}", path.display()));
    let mut file = tokio::fs::File::create(path).await.map_err(io_failure)?;
    let mut written: u64 = 0;
    let mut stream = body.stream;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(storage_failure)?;
        written += chunk.len() as u64;
        if written > max_bytes {
            return Err(too_large(written, max_bytes));
        }
        file.write_all(&chunk).await.map_err(io_failure)?;
    }
    file.flush().await.map_err(io_failure)?;
    Ok(written)
}

fn too_large(size: u64, limit: u64) -> ProbeFailure {
    Refusal::new(RefusalCode::FileTooLarge, format!("the file is at least {size} bytes; the limit is {limit} bytes"))
        .into()
}

async fn fail_asset(context: &JobContext, asset_id: Uuid, code: &str, message: &str) -> Result<(), JobError> {
    let mut connection = context.pool.acquire().await.map_err(|error| JobError::retry(crate::error_chain(&error)))?;
    assets::fail(&mut connection, AssetId(asset_id), code, message)
        .await
        .map_err(|error| JobError::retry(crate::error_chain(&error)))?;
    Ok(())
}
