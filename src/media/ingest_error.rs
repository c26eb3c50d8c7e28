//! Errors of the ingest endpoints that are not the asset API's own: direct multipart uploads and
//! URL-import validation. Stable codes for the HTTP edge, which maps them in `src/http/error.rs`.

use crate::net::UrlRefusal;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No such asset, or not the caller's (the two are not told apart).
    #[error("no such asset")]
    NotFound,
    #[error("no such upload for this asset")]
    UploadNotFound,
    #[error("the upload has expired; start a new one")]
    UploadExpired,
    #[error("the upload was already completed or aborted")]
    UploadFinished,
    #[error("another request is completing this upload")]
    UploadLocked,
    #[error("the asset already has an upload in progress; abort it or wait for it to expire")]
    UploadInProgress,
    #[error("the asset is {0}, not waiting for an upload")]
    AssetNotWaitingUpload(&'static str),
    #[error("{0}")]
    InvalidPart(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("the file is {size} bytes; the limit is {limit} bytes")]
    FileTooLarge { size: u64, limit: u64 },
    #[error("the URL is not allowed: {0}")]
    UrlNotAllowed(#[from] UrlRefusal),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl IngestError {
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::UploadNotFound => "upload_not_found",
            Self::UploadExpired => "upload_expired",
            Self::UploadFinished => "upload_finished",
            Self::UploadLocked => "upload_locked",
            Self::UploadInProgress => "upload_in_progress",
            Self::AssetNotWaitingUpload(_) => "asset_not_waiting_upload",
            Self::InvalidPart(_) => "invalid_part",
            Self::InvalidRequest(_) => "invalid_request",
            Self::FileTooLarge { .. } => "file_too_large",
            Self::UrlNotAllowed(_) => "url_not_allowed",
            Self::Storage(error) => error.error_code(),
            Self::Database(_) => "internal_error",
        }
    }

    pub fn is_client_error(&self) -> bool {
        match self {
            Self::Storage(error) => error.is_client_error(),
            Self::Database(_) => false,
            _ => true,
        }
    }
}
