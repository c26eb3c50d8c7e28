//! The `media.transcode` job: turn a probed asset into a published, numbered version of its
//! HLS/DASH package.
//!
//! The probe enqueues it (unique per asset) when it accepts a source; `POST
//! /v1/assets/{id}/reprocess` enqueues it again with another preset. One attempt:
//! 1. plans the ladder from `asset.source` and `asset.preset` (the configured limits apply);
//! 2. takes the next version number ([`versions::begin_attempt`], kind `full`); versions an
//!    earlier attempt left `processing` are failed and their files deleted, so a retry never
//!    mixes with them;
//! 3. runs the configured [`Transcoder`] into `assets/{id}/v{n}/`, writing `asset.progress` and
//!    `eta_seconds` at most once per [`PROGRESS_INTERVAL`] (guarded by the asset's status: a
//!    deleted or failed asset cancels the transcode, which kills the engine child);
//! 4. publishes in one transaction: the version and its renditions, the previous version
//!    superseded (its files deleted by `storage.delete_prefix` after the configured grace, so
//!    players still on it finish, then invalidated on the CloudFront distribution if one is
//!    configured), the asset `ready` and playable, `asset.playable` (first time) and
//!    `asset.ready`. A fast first package ([`super::preview_job`]) published meanwhile is
//!    superseded like any older version.
//!
//! The publishing transaction also records the job's success ([`JobContext::complete_in`]), so
//! a worker that dies right after the commit leaves no running job behind to transcode and
//! publish the same request again.
//!
//! Failures: bad input (the engine's or MediaConvert's refusal codes) settles the asset with
//! that code and the job succeeds; anything else fails the version, deletes its files and
//! retries, and on the final attempt (or when the worker is lost on it, through
//! [`JobHandler::on_exhausted`]) settles the asset with `transcode_failed`. Settling
//! ([`assets::fail_transcode`]) errors an asset that was `processing`, but leaves a `ready`
//! asset (a reprocess) ready on its current version, with the code as its `error` and an
//! `asset.reprocess_failed` event.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pipelines::naming;
use pipelines::preset::Preset;
use pipelines::source::SourceInfo;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::IngestSettings;
use super::assets::{self, AssetId, AssetRow, AssetStatus};
use super::versions::{self, RenditionRow, VersionKind};
use crate::jobs::storage_jobs::{DeletePrefix, DeletePrefixPayload};
use crate::jobs::{EnqueueOptions, JobContext, JobError, JobHandler, cdn_jobs, queue};
use crate::metrics::{BackendLabels, Metrics};
use crate::storage::{KeyPrefix, ObjectKey};
use crate::transcode::{RenditionKind, TranscodeError, TranscodeOutput, TranscodeRequest, Transcoder};

/// How often a running transcode's progress is written to the asset and the job.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug, Serialize, Deserialize)]
pub struct TranscodePayload {
    pub asset_id: Uuid,
}

pub struct TranscodeJob {
    settings: Arc<IngestSettings>,
    transcoder: Arc<dyn Transcoder>,
    metrics: Arc<Metrics>,
    /// The CloudFront distribution, if any: a superseded version is invalidated after its files
    /// are deleted (see `crate::jobs::cdn_jobs`).
    invalidator: Option<crate::cdn::Invalidator>,
}

impl TranscodeJob {
    pub const KIND: &'static str = "media.transcode";

    pub fn new(settings: Arc<IngestSettings>, transcoder: Arc<dyn Transcoder>, metrics: Arc<Metrics>) -> Self {
        Self { settings, transcoder, metrics, invalidator: None }
    }

    #[must_use]
    pub fn with_invalidator(self, invalidator: Option<crate::cdn::Invalidator>) -> Self {
        Self { invalidator, ..self }
    }
}

/// The storage prefix of one version's package.
pub fn version_prefix(asset_id: AssetId, version: i32) -> KeyPrefix {
    KeyPrefix::parse(format!("assets/{asset_id}/v{version}/")).expect("a UUID and a number make a valid prefix")
}

pub(super) fn database(error: impl std::error::Error + 'static) -> JobError {
    JobError::retry(format!("database: {}", crate::error_chain(&error)))
}

#[async_trait]
impl JobHandler for TranscodeJob {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    /// A transcode runs for minutes to hours: never on the workers reserved for quick kinds.
    fn lane(&self) -> crate::jobs::Lane {
        crate::jobs::Lane::Long
    }

    #[tracing::instrument(name = "transcode", skip_all)]
    async fn run(&self, context: JobContext, payload: serde_json::Value) -> Result<(), JobError> {
        let payload: TranscodePayload =
            serde_json::from_value(payload).map_err(|e| JobError::abort("invalid_payload", e.to_string()))?;
        let id = AssetId(payload.asset_id);
        let Some(asset) = assets::get(&context.pool, id).await.map_err(database)? else {
            tracing::info!(asset_id = %id, "asset is gone; nothing to transcode");
            return Ok(());
        };
        if !matches!(asset.status(), AssetStatus::Processing | AssetStatus::Ready) {
            tracing::info!(asset_id = %id, status = %asset.status, "asset is not waiting for a transcode; skipping");
            return Ok(());
        }
        let (source, plan) = match self.plan(&asset) {
            Ok(planned) => planned,
            Err((code, message)) => return fail_asset(&context, id, code, &message).await,
        };
        let Some(source_key) = asset.source_key.as_deref().and_then(|key| ObjectKey::parse(key).ok()) else {
            return fail_asset(&context, id, "source_missing", "the asset has no stored file").await;
        };
        let (version, abandoned) =
            versions::begin_attempt(&context.pool, id, &asset.preset, VersionKind::Full).await.map_err(database)?;
        for old in abandoned {
            delete_version_files(&context, id, old).await;
        }
        let destination = version_prefix(id, version);
        let request = TranscodeRequest {
            asset_id: id.0,
            version: u32::try_from(version).unwrap_or(u32::MAX),
            source: &source,
            plan: &plan,
            input: source_key,
            destination: destination.clone(),
        };
        tracing::info!(asset_id = %id, version, preset = %asset.preset, backend = self.transcoder.backend(), "transcode started");
        let started = Instant::now();
        let result = self.transcode_with_progress(&context, id, &request).await;
        match result {
            Ok(output) => {
                let elapsed = started.elapsed().as_secs_f64();
                let duration = output.duration_seconds.or(source.duration_seconds).unwrap_or(0.0);
                if duration > 0.0 && elapsed > 0.0 {
                    let labels = BackendLabels { backend: self.transcoder.backend() };
                    self.metrics.encode_speed.get_or_create(&labels).observe(duration / elapsed);
                }
                self.publish(&context, id, version, &output, duration).await
            }
            Err(error) => {
                versions::mark_failed(&context.pool, id, version).await.map_err(database)?;
                delete_version_files(&context, id, version).await;
                if matches!(error, TranscodeError::Cancelled) {
                    tracing::info!(asset_id = %id, version, "transcode cancelled");
                    return Ok(());
                }
                if error.is_client_error() {
                    tracing::info!(asset_id = %id, code = error.error_code(), "source refused by the transcoder");
                    return fail_asset(&context, id, error.error_code(), &crate::error_chain(&error)).await;
                }
                let message = crate::error_chain(&error);
                if context.is_final_attempt() || !error.is_retryable() {
                    fail_asset(&context, id, "transcode_failed", TRANSCODE_FAILED).await?;
                    return Err(JobError::abort("transcode_failed", message));
                }
                Err(JobError::Retry(message))
            }
        }
    }

    /// The worker died on the final attempt: its version is failed (files deleted by a job) and
    /// the asset settled with `transcode_failed`, as after a failed final attempt.
    async fn on_exhausted(&self, conn: &mut sqlx::PgConnection, payload: &serde_json::Value) -> Result<(), JobError> {
        let Ok(payload) = serde_json::from_value::<TranscodePayload>(payload.clone()) else { return Ok(()) };
        let id = AssetId(payload.asset_id);
        for version in versions::fail_unfinished(conn, id).await.map_err(database)? {
            enqueue_delete(conn, id, version, None).await.map_err(database)?;
        }
        assets::fail_transcode(conn, id, "transcode_failed", TRANSCODE_FAILED).await.map_err(database)?;
        Ok(())
    }
}

impl TranscodeJob {
    fn plan(&self, asset: &AssetRow) -> Result<(SourceInfo, pipelines::plan::Plan), (&'static str, String)> {
        plan(&self.settings, asset)
    }

    /// Runs the transcoder while a side task writes progress once per interval and cancels the
    /// work when the asset is deleted or leaves processing.
    async fn transcode_with_progress(
        &self,
        context: &JobContext,
        id: AssetId,
        request: &TranscodeRequest<'_>,
    ) -> Result<TranscodeOutput, TranscodeError> {
        let cancellation = CancellationToken::new();
        let (sender, receiver) = tokio::sync::watch::channel(0.0_f64);
        let reporter = tokio::spawn(report_progress(context.clone(), id, receiver, cancellation.clone()));
        let mut on_progress = move |fraction: f64| {
            sender.send_replace(fraction.clamp(0.0, 1.0));
        };
        let result = self.transcoder.transcode(request, &*context.storage, &mut on_progress, &cancellation).await;
        reporter.abort();
        result
    }

    async fn publish(
        &self,
        context: &JobContext,
        id: AssetId,
        version: i32,
        output: &TranscodeOutput,
        duration: f64,
    ) -> Result<(), JobError> {
        let (manifests, renditions) = package_record(context, id, version, output, duration).await?;
        let mut tx = context.pool.begin().await.map_err(database)?;
        assets::lock_for_publish(&mut tx, id).await.map_err(database)?;
        let superseded = versions::publish(&mut tx, id, version, &manifests, &renditions).await.map_err(database)?;
        if !assets::publish_version(&mut tx, id, version).await.map_err(database)? {
            drop(tx);
            tracing::info!(asset_id = %id, version, "asset deleted or failed before publishing; discarding the package");
            versions::mark_failed(&context.pool, id, version).await.map_err(database)?;
            delete_version_files(context, id, version).await;
            return Ok(());
        }
        if let Some(old) = superseded {
            let run_after = OffsetDateTime::now_utc() + self.settings.superseded_grace;
            enqueue_delete(&mut tx, id, old, Some(run_after)).await.map_err(database)?;
            let old_files = version_prefix(id, old);
            cdn_jobs::enqueue_after_deletion(&mut tx, self.invalidator.as_ref(), &old_files, Some(run_after))
                .await
                .map_err(database)?;
        }
        if !context.complete_in(&mut tx).await.map_err(database)? {
            drop(tx);
            tracing::warn!(asset_id = %id, version, "the job was taken over before publishing; discarding the package");
            versions::mark_failed(&context.pool, id, version).await.map_err(database)?;
            delete_version_files(context, id, version).await;
            return Err(JobError::retry("this worker lost the job before publishing"));
        }
        tx.commit().await.map_err(database)?;
        tracing::info!(asset_id = %id, version, renditions = renditions.len(), superseded, "version published");
        Ok(())
    }
}

/// The probe result and the plan for the asset's preset, or the code and message that error
/// the asset.
pub(super) fn plan(
    settings: &IngestSettings,
    asset: &AssetRow,
) -> Result<(SourceInfo, pipelines::plan::Plan), (&'static str, String)> {
    let source: SourceInfo = asset
        .source
        .clone()
        .and_then(|value| serde_json::from_value(value).ok())
        .ok_or(("source_missing", "the asset has not been probed".to_owned()))?;
    let preset = Preset::builtin(&asset.preset).map_err(|error| ("invalid_preset", error.to_string()))?;
    pipelines::limits::check(&source, &settings.limits).map_err(|refusal| (refusal.code.as_str(), refusal.message))?;
    let plan = pipelines::ladder::plan(&source, &preset).map_err(|refusal| (refusal.code.as_str(), refusal.message))?;
    Ok((source, plan))
}

/// What a version's rows record about its package: the manifests map (paths relative to the
/// version's prefix, extras only when stored) and the renditions.
pub(super) async fn package_record(
    context: &JobContext,
    id: AssetId,
    version: i32,
    output: &TranscodeOutput,
    duration: f64,
) -> Result<(serde_json::Value, Vec<RenditionRow>), JobError> {
    let prefix = version_prefix(id, version);
    let relative = |key: &ObjectKey| key.as_str().strip_prefix(prefix.as_str()).unwrap_or(key.as_str()).to_owned();
    let mut manifests = serde_json::Map::new();
    manifests.insert("hls".to_owned(), relative(&output.master_playlist).into());
    if let Some(dash) = &output.dash_manifest {
        manifests.insert("dash".to_owned(), relative(dash).into());
    }
    for (name, path) in
        [("poster", naming::POSTER), ("storyboard", naming::STORYBOARD_VTT), ("download", naming::DOWNLOAD_MP4)]
    {
        let key = ObjectKey::parse(format!("{}{path}", prefix.as_str())).map_err(JobError::retry)?;
        if context.storage.head(&key).await.map_err(|e| JobError::retry(crate::error_chain(&e)))?.is_some() {
            manifests.insert(name.to_owned(), path.into());
        }
    }
    let renditions =
        output.renditions.iter().filter_map(|r| rendition_row(r, &relative(&r.playlist), duration)).collect();
    Ok((serde_json::Value::Object(manifests), renditions))
}

/// A transcoder rendition as a `rendition` row; `None` for an audio rendition whose bitrate the
/// backend did not report (a MediaConvert package names it only in its video variants).
fn rendition_row(rendition: &crate::transcode::Rendition, playlist: &str, duration: f64) -> Option<RenditionRow> {
    let to_i32 = |value: Option<u64>| value.and_then(|v| i32::try_from(v).ok());
    let to_i64 = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
    let row = match &rendition.kind {
        RenditionKind::Video { bandwidth, average_bandwidth, codecs, width, height, frame_rate } => RenditionRow {
            name: rendition.name.clone(),
            kind: "video".to_owned(),
            width: to_i32(*width),
            height: to_i32(*height),
            frame_rate: *frame_rate,
            bandwidth: to_i64(*bandwidth),
            average_bandwidth: average_bandwidth.map(to_i64),
            codecs: codecs.clone().unwrap_or_default(),
            language: None,
            duration_seconds: duration,
            playlist: playlist.to_owned(),
        },
        RenditionKind::Audio { language, bandwidth, codecs, .. } => RenditionRow {
            name: rendition.name.clone(),
            kind: "audio".to_owned(),
            width: None,
            height: None,
            frame_rate: None,
            bandwidth: to_i64((*bandwidth)?),
            average_bandwidth: None,
            codecs: codecs.clone().unwrap_or_default(),
            language: language.clone(),
            duration_seconds: duration,
            playlist: playlist.to_owned(),
        },
    };
    Some(row)
}

/// Writes the latest progress once per interval, with an ETA from the rate so far. When the job
/// is no longer this worker's (a newer reprocess cancelled it) or the asset is no longer live
/// and processing, trips `cancellation` so the transcode stops.
async fn report_progress(
    context: JobContext,
    id: AssetId,
    receiver: tokio::sync::watch::Receiver<f64>,
    cancellation: CancellationToken,
) {
    let started = Instant::now();
    let mut ticker = tokio::time::interval(PROGRESS_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let fraction = *receiver.borrow();
        let eta = (fraction > 0.01).then(|| {
            let seconds = started.elapsed().as_secs_f64() * (1.0 - fraction) / fraction;
            seconds.round().clamp(0.0, f64::from(i32::MAX)) as i32
        });
        // The job first: a reprocess request cancels it, and its progress must not show on the
        // asset the newer transcode now reports on.
        if !context.report_progress(fraction as f32).await {
            tracing::info!(asset_id = %id, "the job was cancelled (a newer reprocess) or taken over; cancelling the transcode");
            cancellation.cancel();
            return;
        }
        match assets::set_progress(&context.pool, id, fraction as f32, eta).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(asset_id = %id, "asset deleted or no longer processing; cancelling the transcode");
                cancellation.cancel();
                return;
            }
            Err(error) => tracing::warn!(error = %crate::error_chain(&error), "cannot record transcode progress"),
        }
        if context.cancellation.is_cancelled() {
            cancellation.cancel();
            return;
        }
    }
}

async fn enqueue_delete(
    conn: &mut sqlx::PgConnection,
    id: AssetId,
    version: i32,
    run_after: Option<OffsetDateTime>,
) -> Result<(), sqlx::Error> {
    let prefix = version_prefix(id, version);
    let payload = serde_json::to_value(DeletePrefixPayload { prefix: prefix.as_str().to_owned() })
        .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    let options = EnqueueOptions {
        unique_key: Some(format!("{}:{}", DeletePrefix::KIND, prefix.as_str())),
        run_after,
        ..EnqueueOptions::default()
    };
    queue::enqueue_in(conn, DeletePrefix::KIND, &payload, options).await?;
    Ok(())
}

/// Removes a failed or abandoned version's files now; when the store is unreachable, leaves it
/// to a `storage.delete_prefix` job.
pub(super) async fn delete_version_files(context: &JobContext, id: AssetId, version: i32) {
    let prefix = version_prefix(id, version);
    if let Err(error) = context.storage.delete_prefix(&prefix).await {
        tracing::warn!(error = %crate::error_chain(&error), prefix = prefix.as_str(), "cannot delete a failed version now; queueing it");
        let queued = async {
            let mut connection = context.pool.acquire().await?;
            enqueue_delete(&mut connection, id, version, None).await
        };
        if let Err(error) = queued.await {
            tracing::error!(%error, prefix = prefix.as_str(), "cannot queue the deletion of a failed version");
        }
    }
}

async fn fail_asset(context: &JobContext, id: AssetId, code: &str, message: &str) -> Result<(), JobError> {
    let mut connection = context.pool.acquire().await.map_err(database)?;
    assets::fail_transcode(&mut connection, id, code, message).await.map_err(database)?;
    Ok(())
}

const TRANSCODE_FAILED: &str = "the video could not be processed; try reprocessing it";
