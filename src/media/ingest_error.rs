//! Errors of the direct multipart endpoints that the asset API does not have already (theirs come
//! through [`IngestError::Media`]). Stable codes for the HTTP edge, which maps them in
//! `src/http/error.rs`.

use super::MediaError;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No such asset, or not the caller's (the two are not told apart).
    #[error("no such asset")]
    NotFound,
    #[error("the upload was already completed")]
    UploadFinished,
    #[error("the asset is {0}, not waiting for an upload")]
    AssetNotWaitingUpload(&'static str),
    #[error("{0}")]
    InvalidPart(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("the file is {size} bytes; the limit is {limit} bytes")]
    FileTooLarge { size: u64, limit: u64 },
    /// The asset API's own errors (`upload_not_found`, `upload_expired`, `upload_locked`, …).
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl IngestError {
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::UploadFinished => "upload_finished",
            Self::AssetNotWaitingUpload(_) => "asset_not_waiting_upload",
            Self::InvalidPart(_) => "invalid_part",
            Self::InvalidRequest(_) => "invalid_request",
            Self::FileTooLarge { .. } => "file_too_large",
            Self::Media(error) => error.error_code(),
            Self::Storage(error) => error.error_code(),
            Self::Database(_) => "internal_error",
        }
    }

    pub fn is_client_error(&self) -> bool {
        match self {
            Self::Media(error) => error.is_client_error(),
            Self::Storage(error) => error.is_client_error(),
            Self::Database(_) => false,
            _ => true,
        }
    }
}
