//! The one error type of the HTTP edge. Every failure becomes
//! `{"error": {"code": "…", "message": "…"}}` with a stable snake_case code. Server-side failures
//! (5xx) hide their detail from the client and log the whole cause chain instead.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds to put in `Retry-After` (429, 503).
    pub retry_after: Option<u64>,
}

/// The error body every endpoint uses.
#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable, snake_case.
    #[schema(example = "not_found")]
    pub code: String,
    /// For people; may change between versions.
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), retry_after: None }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// A failure that is ours, not the client's: logged with its cause chain, answered as 500
    /// without detail.
    pub fn internal(error: &(dyn std::error::Error + 'static)) -> Self {
        tracing::error!(error = %crate::error_chain(error), "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal_error", "something went wrong on our side")
    }

    pub fn unavailable(code: &'static str, message: impl Into<String>) -> Self {
        Self { retry_after: Some(5), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, code, message) }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_owned(), message: self.message } };
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(axum::http::header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => {
                tracing::error!(error = %crate::error_chain(&error), "database unavailable");
                Self::unavailable("database_unavailable", "the database is unavailable; try again shortly")
            }
            other => Self::internal(&other),
        }
    }
}

impl From<crate::storage::StorageError> for ApiError {
    fn from(error: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError as E;
        match &error {
            E::NotFound => Self::not_found("no such object"),
            E::RangeNotSatisfiable => Self::new(StatusCode::RANGE_NOT_SATISFIABLE, error.error_code(), error.to_string()),
            E::InvalidKey { .. } | E::InvalidMultipart(_) => Self::bad_request(error.error_code(), error.to_string()),
            E::UploadNotFound => Self::new(StatusCode::NOT_FOUND, error.error_code(), error.to_string()),
            E::Io { .. } | E::Backend { .. } => {
                tracing::error!(error = %crate::error_chain(&error), "storage unavailable");
                Self::unavailable("storage_unavailable", "object storage is unavailable; try again shortly")
            }
        }
    }
}
