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

pub mod access;
pub mod assets;
pub mod housekeeping;
pub mod import;
mod ingest_error;
pub mod multipart;
pub mod preview_job;
pub mod probe_job;
pub mod routes;
pub mod transcode_job;
pub mod tus;
pub mod uploads;
pub mod versions;
pub mod views;

use std::sync::Arc;

use utoipa_axum::router::OpenApiRouter;

pub use assets::{AssetId, AssetStatus, SourceObject, upload_completed};
pub use ingest_error::IngestError;

use crate::app::AppState;
use crate::auth::AuthError;
use crate::storage::StorageError;

/// The media job handlers: probe, preview, transcode, URL import, and the sweep of expired uploads.
pub fn job_handlers(
    ingest: &Arc<crate::config::IngestSettings>,
    transcoder: &Arc<dyn crate::transcode::Transcoder>,
    metrics: &Arc<crate::metrics::Metrics>,
    invalidator: Option<&crate::cdn::Invalidator>,
) -> Vec<Arc<dyn crate::jobs::JobHandler>> {
    let transcode = transcode_job::TranscodeJob::new(Arc::clone(ingest), Arc::clone(transcoder), Arc::clone(metrics))
        .with_invalidator(invalidator.cloned());
    vec![
        Arc::new(probe_job::ProbeJob::new(Arc::clone(ingest))),
        Arc::new(preview_job::PreviewJob::new(Arc::clone(ingest))),
        Arc::new(transcode),
        Arc::new(import::ImportJob::new(Arc::clone(ingest))),
        Arc::new(housekeeping::ExpireUploads::new(ingest.sweep_interval)),
    ]
}

/// The documented media routes that live inside the JSON API (tus lives outside it, see
/// [`tus::routes`]).
pub fn router() -> OpenApiRouter<AppState> {
    routes::router().merge(multipart::router())
}

/// Storage key of an asset's original, where a completed upload lands.
pub fn source_key(asset_id: AssetId) -> crate::storage::ObjectKey {
    crate::storage::ObjectKey::parse(format!("assets/{}/source/original", asset_id.0))
        .expect("a UUID makes a valid key")
}

/// Everything wrong that can happen with assets and uploads, with stable codes for the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    InvalidTitle(String),
    #[error("{0}")]
    InvalidField(String),
    #[error("{0}")]
    InvalidInput(String),
    /// An import URL refused by the SSRF rules (scheme, address literal) at creation.
    #[error("input.url is not allowed: {0}")]
    UrlNotAllowed(String),
    #[error("this Idempotency-Key was already used with a different request body")]
    IdempotencyKeyReused,
    #[error("the cursor is not one this API handed out")]
    InvalidCursor,
    #[error("{0}")]
    InvalidQuery(String),
    /// A guarded transition found the asset in another state.
    #[error("the asset is {actual}, not {expected}")]
    WrongState { expected: &'static str, actual: String },
    #[error("this server speaks tus 1.0.0; send Tus-Resumable: 1.0.0")]
    TusVersion,
    #[error("{0}")]
    InvalidUploadHeader(String),
    #[error("send the bytes with Content-Type: application/offset+octet-stream")]
    UnsupportedMediaType,
    #[error("the asset already has an upload in progress; resume it or delete it first")]
    UploadInProgress,
    #[error("no such upload")]
    UploadNotFound,
    #[error("the upload has expired; create a new one")]
    UploadExpired,
    #[error("another request is writing to this upload; retry when it has finished")]
    UploadLocked,
    #[error("Upload-Offset is {claimed} but the upload is at {actual}; HEAD the upload and resume from there")]
    OffsetMismatch { claimed: u64, actual: u64 },
    #[error("the request goes beyond the declared Upload-Length")]
    LengthExceeded,
    #[error("the file is larger than the {limit}-byte limit")]
    FileTooLarge { limit: u64 },
    #[error("the checksum of the received bytes does not match Upload-Checksum")]
    ChecksumMismatch,
    #[error("unsupported checksum algorithm {0:?}; use sha1 or sha256")]
    UnsupportedChecksum(String),
    #[error("the upload body could not be read: {0}")]
    BodyRead(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("storage error")]
    Storage(#[from] StorageError),
    #[error("upload state is corrupt: {0}")]
    Corrupt(String),
}

impl MediaError {
    /// Stable, snake_case, part of the API.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::NotFound(_) => "not_found",
            Self::InvalidTitle(_) => "invalid_title",
            Self::InvalidField(_) => "invalid_field",
            Self::InvalidInput(_) => "invalid_input",
            Self::UrlNotAllowed(_) => "url_not_allowed",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::InvalidCursor => "invalid_cursor",
            Self::InvalidQuery(_) => "invalid_query",
            Self::WrongState { .. } => "invalid_state",
            Self::TusVersion => "unsupported_tus_version",
            Self::InvalidUploadHeader(_) => "invalid_upload_header",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::UploadInProgress => "upload_in_progress",
            Self::UploadNotFound => "upload_not_found",
            Self::UploadExpired => "upload_expired",
            Self::UploadLocked => "upload_locked",
            Self::OffsetMismatch { .. } => "offset_mismatch",
            Self::LengthExceeded => "length_exceeded",
            Self::FileTooLarge { .. } => "file_too_large",
            Self::ChecksumMismatch => "checksum_mismatch",
            Self::UnsupportedChecksum(_) => "unsupported_checksum_algorithm",
            Self::BodyRead(_) => "body_read_failed",
            Self::Auth(auth) => auth.error_code(),
            Self::Storage(storage) if storage.is_client_error() => storage.error_code(),
            Self::Database(_) | Self::Storage(_) | Self::Corrupt(_) => "internal_error",
        }
    }

    /// False for failures that are ours (and answered 5xx without detail).
    pub fn is_client_error(&self) -> bool {
        match self {
            Self::Auth(auth) => auth.is_client_error(),
            Self::Storage(storage) => storage.is_client_error(),
            Self::Database(_) | Self::Corrupt(_) => false,
            _ => true,
        }
    }
}
