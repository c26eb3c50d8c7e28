//! The `media.preview` job: the fast first package ("playable in seconds").
//!
//! The probe enqueues it next to `media.transcode` when `LECTERN_FAST_START` is on and the
//! source is H.264 and AAC in MP4 as browsers play them ([`pipelines::preview`]). It is its own
//! job kind, at [`PRIORITY_QUICK`], rather than a first step of the transcode because:
//! - the queue claims it before every queued transcode, this asset's and other lectures', so
//!   with one worker (the default) a new upload becomes playable after at most the transcode
//!   already running, not after the whole backlog;
//! - with several workers the preview and the ladder run side by side;
//! - it can fail without touching the asset: a preview is a bonus, the ladder is the contract.
//!
//! One attempt plans the ladder as the transcode would (same preset and limits), derives the
//! remux from it, takes a `preview` version number and has the local engine copy the streams
//! into `assets/{id}/v{n}/` (the local engine even when `LECTERN_TRANSCODER` is MediaConvert:
//! a copy needs no encoder). It publishes in one transaction: the asset gets `current_version`
//! and `playable`, stays `processing`, and records `asset.playable`. The full ladder's version
//! later supersedes it like any newer version.
//!
//! It does nothing when the asset already has a current version (a retry after publishing, or
//! the ladder was faster), and it never errors the asset: a source the engine cannot copy
//! (keyframes minutes apart, broken timestamps) ends the job with a log line and no preview.

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::IngestSettings;
use super::assets::{self, AssetId, AssetStatus};
use super::transcode_job::{self, database, delete_version_files, version_prefix};
use super::versions::{self, VersionKind};
use crate::jobs::{EnqueueOptions, JobContext, JobError, JobHandler, PRIORITY_QUICK, queue};
use crate::storage::ObjectKey;
use crate::transcode::{TranscodeError, TranscodeRequest};

/// A failed preview is retried once (a storage hiccup); after that the ladder is the asset's
/// way to playable.
const MAX_ATTEMPTS: i32 = 2;

#[derive(Debug, Serialize, Deserialize)]
pub struct PreviewPayload {
    pub asset_id: Uuid,
}

pub struct PreviewJob {
    settings: Arc<IngestSettings>,
}

impl PreviewJob {
    pub const KIND: &'static str = "media.preview";

    pub fn new(settings: Arc<IngestSettings>) -> Self {
        Self { settings }
    }
}

/// Queues the preview of a freshly probed asset when fast start is on and the probe says the
/// source can be copied. Call it in the probe's accepting transaction.
pub async fn enqueue_if_remuxable(
    conn: &mut sqlx::PgConnection,
    settings: &IngestSettings,
    asset_id: Uuid,
    owner_id: Option<Uuid>,
    source: &pipelines::source::SourceInfo,
) -> Result<bool, sqlx::Error> {
    if !settings.fast_start {
        return Ok(false);
    }
    if let Err(reason) = pipelines::preview::remuxable_video(source) {
        tracing::info!(%asset_id, %reason, "no fast first package; playable when the ladder is done");
        return Ok(false);
    }
    let options = EnqueueOptions {
        unique_key: Some(format!("{}:{asset_id}", PreviewJob::KIND)),
        owner_id,
        priority: PRIORITY_QUICK,
        max_attempts: Some(MAX_ATTEMPTS),
        ..EnqueueOptions::default()
    };
    queue::enqueue_in(conn, PreviewJob::KIND, &serde_json::json!({"asset_id": asset_id}), options).await?;
    Ok(true)
}

#[async_trait]
impl JobHandler for PreviewJob {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    #[tracing::instrument(name = "preview", skip_all)]
    async fn run(&self, context: JobContext, payload: serde_json::Value) -> Result<(), JobError> {
        let payload: PreviewPayload =
            serde_json::from_value(payload).map_err(|e| JobError::abort("invalid_payload", e.to_string()))?;
        let id = AssetId(payload.asset_id);
        let Some(asset) = assets::get(&context.pool, id).await.map_err(database)? else {
            return Ok(());
        };
        if asset.status() != AssetStatus::Processing || asset.current_version.is_some() {
            tracing::info!(asset_id = %id, status = %asset.status, current_version = asset.current_version, "asset needs no fast first package");
            return Ok(());
        }
        // A source the ladder would refuse is the transcode's to report; no preview of it.
        let Ok((source, plan)) = transcode_job::plan(&self.settings, &asset) else { return Ok(()) };
        let remux = match pipelines::preview::remux_plan(&source, &plan) {
            Ok(remux) => remux,
            Err(reason) => {
                tracing::info!(asset_id = %id, %reason, "no fast first package");
                return Ok(());
            }
        };
        let Some(input) = asset.source_key.as_deref().and_then(|key| ObjectKey::parse(key).ok()) else { return Ok(()) };
        let engine = crate::transcode::local_engine(&self.settings.engine_settings())
            .map_err(|error| JobError::retry(format!("cannot find the lectern binary: {error}")))?;
        let (version, abandoned) =
            versions::begin_attempt(&context.pool, id, &asset.preset, VersionKind::Preview).await.map_err(database)?;
        for old in abandoned {
            delete_version_files(&context, id, old).await;
        }
        let request = TranscodeRequest {
            asset_id: id.0,
            version: u32::try_from(version).unwrap_or(u32::MAX),
            source: &source,
            plan: &plan,
            input,
            destination: version_prefix(id, version),
        };
        let started = Instant::now();
        let result = engine.remux(&request, &remux, &*context.storage, &context.cancellation).await;
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                versions::mark_failed(&context.pool, id, version).await.map_err(database)?;
                delete_version_files(&context, id, version).await;
                return give_up_or_retry(&context, id, &error);
            }
        };
        let duration = output.duration_seconds.or(source.duration_seconds).unwrap_or(0.0);
        let (manifests, renditions) = transcode_job::package_record(&context, id, version, &output, duration).await?;
        let mut tx = context.pool.begin().await.map_err(database)?;
        assets::lock_for_publish(&mut tx, id).await.map_err(database)?;
        if !assets::publish_preview(&mut tx, id, version).await.map_err(database)? {
            drop(tx);
            tracing::info!(asset_id = %id, version, "the asset has a current version already; discarding the preview");
            versions::mark_failed(&context.pool, id, version).await.map_err(database)?;
            delete_version_files(&context, id, version).await;
            return Ok(());
        }
        versions::publish(&mut tx, id, version, &manifests, &renditions).await.map_err(database)?;
        tx.commit().await.map_err(database)?;
        tracing::info!(
            asset_id = %id,
            version,
            seconds = started.elapsed().as_secs_f64(),
            media_seconds = duration,
            bytes = output.total_bytes,
            "fast first package published"
        );
        Ok(())
    }
}

/// A preview never fails its asset: the engine refusing the copy ends the job quietly; storage
/// and process trouble is retried once.
fn give_up_or_retry(context: &JobContext, id: AssetId, error: &TranscodeError) -> Result<(), JobError> {
    let message = crate::error_chain(error);
    if matches!(error, TranscodeError::Cancelled) {
        return Ok(());
    }
    // The engine reporting a failure on these bytes (rather than dying) will report it again.
    let deterministic = matches!(error, TranscodeError::Engine(crate::engine::RunError::Failed(_)));
    if deterministic || error.is_client_error() || !error.is_retryable() || context.is_final_attempt() {
        tracing::warn!(asset_id = %id, error = %message, "no fast first package; the asset becomes playable with its ladder");
        return Ok(());
    }
    Err(JobError::Retry(message))
}
