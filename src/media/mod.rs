//! Media: assets (an instructor's video and its lifecycle) and the ways bytes arrive.
//!
//! An asset is created empty (`waiting_upload`), receives its original through a resumable tus
//! upload ([`tus`]) — or, later, a direct-to-S3 multipart upload or a URL import — and then moves
//! `uploaded → probing → processing → ready`, or to `errored` with a stable code. [`assets`]
//! owns all SQL of `asset` and `asset_event`; every status change is one guarded update written
//! in the same transaction as its event. [`routes`] is the `/v1/assets` API.
//!
//! The other ways in and what follows them: [`multipart`] (direct-to-storage multipart uploads
//! with presigned part URLs), [`import`] (URL import through the SSRF guard of `crate::net`),
//! [`probe_job`] (`media.probe`: the sandboxed probe and the limits), [`preview_job`]
//! (`media.preview`: the fast first package, a remux published before the ladder), [`transcode_job`]
//! (`media.transcode`: numbered versions published in one transaction, see [`versions`]), and
//! [`housekeeping`] (the sweep of expired uploads).

pub mod assets;
mod error;
pub mod housekeeping;
pub mod import;
pub mod job_routes;
pub mod multipart;
pub mod preview_job;
pub mod probe_job;
pub mod routes;
mod settings;
pub mod slots;
pub mod transcode_job;
pub mod tus;
pub mod uploads;
pub mod versions;
pub mod views;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;

pub use assets::{AssetId, AssetStatus, SourceObject, upload_completed};
pub use error::{IngestError, MediaError};
pub use settings::{IngestSettings, UploadSettings};
pub use slots::{UploadSlot, UploadSlots};

use crate::app::{AppState, Services};

/// The media job handlers: probe, preview, transcode, URL import, and the sweep of expired uploads.
pub fn job_handlers(services: &Services, settings: &Arc<IngestSettings>) -> Vec<Arc<dyn crate::jobs::JobHandler>> {
    let transcode = transcode_job::TranscodeJob::new(
        Arc::clone(settings),
        Arc::clone(&services.transcoder),
        Arc::clone(&services.metrics),
    )
    .with_invalidator(services.invalidator.clone());
    vec![
        Arc::new(probe_job::ProbeJob::new(Arc::clone(settings))),
        Arc::new(preview_job::PreviewJob::new(Arc::clone(settings))),
        Arc::new(transcode),
        Arc::new(import::ImportJob::new(Arc::clone(settings))),
        Arc::new(housekeeping::ExpireUploads::new(settings.sweep_interval)),
    ]
}

/// The documented media routes that live inside the JSON API: assets, direct multipart uploads
/// and the jobs API (tus lives outside it, see [`tus::routes`]).
pub fn router() -> OpenApiRouter<AppState> {
    routes::router().merge(multipart::router()).merge(job_routes::router())
}

/// Storage key of an asset's original, where a completed upload lands.
pub fn source_key(asset_id: AssetId) -> crate::storage::ObjectKey {
    crate::storage::ObjectKey::parse(format!("assets/{}/source/original", asset_id.0))
        .expect("a UUID makes a valid key")
}

/// The account an upload into `key` counts against (for [`UploadSlots`]): the owner of the
/// asset whose files live under `assets/{id}/`. `None` for a key of no asset (or of one that
/// is gone).
pub async fn uploader_of_key(
    pool: &sqlx::PgPool,
    key: &crate::storage::ObjectKey,
) -> Result<Option<uuid::Uuid>, MediaError> {
    let asset_id = key.as_str().strip_prefix("assets/").and_then(|rest| rest.split('/').next());
    let Some(asset_id) = asset_id.and_then(|id| uuid::Uuid::parse_str(id).ok()) else { return Ok(None) };
    Ok(assets::get(pool, AssetId(asset_id)).await?.map(|asset| asset.owner_id))
}
