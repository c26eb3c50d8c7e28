//! Media's error types and what each case means at the HTTP edge: [`MediaError`] for assets and
//! tus uploads, [`IngestError`] for the direct multipart endpoints (errors the asset API has
//! already come through [`IngestError::Media`]).

use axum::http::StatusCode;

use crate::auth::AuthError;
use crate::http::HttpError;
use crate::storage::StorageError;

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
    /// Text that PostgreSQL cannot store (a NUL character); see `crate::http::text`.
    #[error("{0}")]
    InvalidText(String),
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
    /// Too many upload requests are sending at once (see `media::slots`).
    #[error("{0}; retry shortly (the upload resumes where it stopped)")]
    TooManyUploads(String),
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
            Self::InvalidText(_) => crate::http::text::NUL_CODE,
            Self::TooManyUploads(_) => "too_many_uploads",
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

impl HttpError for MediaError {
    fn delegate(&self) -> Option<&dyn HttpError> {
        match self {
            Self::Database(database) => Some(database),
            Self::Storage(storage) => Some(storage),
            Self::Auth(auth) => Some(auth),
            _ => None,
        }
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            // Upload slots free as fast as uploads finish or stall out; a few seconds is fair.
            Self::TooManyUploads(_) => Some(5),
            _ if self.status() == StatusCode::SERVICE_UNAVAILABLE => Some(5),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) | Self::UploadNotFound => StatusCode::NOT_FOUND,
            Self::InvalidTitle(_)
            | Self::InvalidField(_)
            | Self::InvalidInput(_)
            | Self::InvalidText(_)
            | Self::UrlNotAllowed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyKeyReused
            | Self::WrongState { .. }
            | Self::UploadInProgress
            | Self::OffsetMismatch { .. } => StatusCode::CONFLICT,
            Self::InvalidCursor
            | Self::InvalidQuery(_)
            | Self::InvalidUploadHeader(_)
            | Self::LengthExceeded
            | Self::UnsupportedChecksum(_)
            | Self::BodyRead(_) => StatusCode::BAD_REQUEST,
            Self::TusVersion => StatusCode::PRECONDITION_FAILED,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::UploadExpired => StatusCode::GONE,
            Self::UploadLocked => StatusCode::LOCKED,
            Self::TooManyUploads(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::FileTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            // tus 1.0 checksum extension: 460 Checksum Mismatch.
            Self::ChecksumMismatch => StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
            Self::Database(_) | Self::Storage(_) | Self::Auth(_) | Self::Corrupt(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_code(&self) -> &'static str {
        Self::error_code(self)
    }
}

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

impl HttpError for IngestError {
    fn delegate(&self) -> Option<&dyn HttpError> {
        match self {
            Self::Database(database) => Some(database),
            Self::Storage(storage) => Some(storage),
            Self::Media(media) => Some(media),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::UploadFinished | Self::AssetNotWaitingUpload(_) => StatusCode::CONFLICT,
            Self::InvalidPart(_) => StatusCode::BAD_REQUEST,
            Self::InvalidRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::FileTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Storage(_) | Self::Database(_) | Self::Media(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_code(&self) -> &'static str {
        Self::error_code(self)
    }
}
