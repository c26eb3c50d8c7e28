//! Turning SDK errors into `StorageError`s: what is the caller's fault (a missing key, a bad
//! range, an unknown upload) is told apart from what the backend did wrong.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

use crate::storage::StorageError;

fn status_of<E, R: HttpStatus>(error: &SdkError<E, R>) -> Option<u16> {
    error.raw_response().map(HttpStatus::status_code)
}

/// Lets the error helpers read the status of the SDK's raw response type.
pub(super) trait HttpStatus {
    fn status_code(&self) -> u16;
}

impl HttpStatus for aws_sdk_s3::config::http::HttpResponse {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }
}

/// Errors of calls that read one object: a missing key and an unsatisfiable range are the
/// caller's, anything else is the backend's. A 404 without a code (HEAD has no body) is a
/// missing key unless the code says the bucket is missing.
pub(super) fn read_error<E, R>(op: &'static str, error: SdkError<E, R>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: HttpStatus + std::fmt::Debug + Send + Sync + 'static,
{
    match (error.code(), status_of(&error)) {
        (Some("NoSuchKey" | "NotFound"), _) => StorageError::NotFound,
        (Some("InvalidRange"), _) | (_, Some(416)) => StorageError::RangeNotSatisfiable,
        (code, Some(404)) if code != Some("NoSuchBucket") => StorageError::NotFound,
        _ => backend_error(op, error),
    }
}

/// Errors of calls on a multipart upload: an unknown upload id is `UploadNotFound`, and a
/// completion with wrong parts is the caller's mistake.
pub(super) fn multipart_error<E, R>(op: &'static str, error: SdkError<E, R>) -> StorageError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: HttpStatus + std::fmt::Debug + Send + Sync + 'static,
{
    match (error.code(), status_of(&error)) {
        (Some("NoSuchUpload"), _) => StorageError::UploadNotFound,
        (Some(code @ ("InvalidPart" | "InvalidPartOrder" | "EntityTooSmall")), _) => {
            StorageError::InvalidMultipart(format!("{code}: {}", error.message().unwrap_or_default()))
        }
        (code, Some(404)) if code != Some("NoSuchBucket") => StorageError::UploadNotFound,
        _ => backend_error(op, error),
    }
}

/// Keeps the whole SDK error as the source; logs it with its full context, which the SDK's
/// own `Display` leaves out.
pub(super) fn backend_error<E, R>(op: &'static str, error: SdkError<E, R>) -> StorageError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    tracing::debug!(op, error = %DisplayErrorContext(&error), "S3 request failed");
    StorageError::backend(op, error)
}

pub(super) fn error_chain(error: &dyn std::error::Error) -> String {
    DisplayErrorContext(error).to_string()
}
