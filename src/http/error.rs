//! The one error type of the HTTP edge. Every failure becomes
//! `{"error": {"code": "…", "message": "…"}}` with a stable snake_case code. Server-side failures
//! (5xx) hide their detail from the client and log the whole cause chain instead.
//!
//! Errors carry their own HTTP meaning: each domain implements [`HttpError`] next to its error
//! type (status, stable code, client-or-server), and one blanket conversion turns any of them
//! into an [`ApiError`], so `?` works in every handler and this module names no domain. The
//! infrastructure errors every domain wraps (database, object storage, signatures) are
//! implemented here, since `storage` and `cdn` know nothing of HTTP.

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
    /// The `WWW-Authenticate` challenge of a 401 (RFC 6750).
    pub www_authenticate: Option<String>,
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
        Self { status, code, message: message.into(), retry_after: None, www_authenticate: None }
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
        if let Some(challenge) = self.www_authenticate.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.headers_mut().insert(axum::http::header::WWW_AUTHENTICATE, challenge);
        }
        response
    }
}

/// What an error means at the HTTP edge. Implemented next to each domain's error type.
pub trait HttpError: std::error::Error + Send + Sync + 'static {
    /// A wrapped error that answers for this one (a database or storage failure inside a domain
    /// error is answered as that failure would be). `None` for the error's own cases.
    fn delegate(&self) -> Option<&dyn HttpError> {
        None
    }

    fn status(&self) -> StatusCode;

    /// Stable, machine-readable, snake_case.
    fn error_code(&self) -> &'static str;

    /// False for failures that are ours: answered 5xx without detail, their cause chain logged.
    fn is_client_error(&self) -> bool {
        !self.status().is_server_error()
    }

    /// The message a client sees. Client errors show their own text; server errors hide it
    /// unless they override this with a safe text (e.g. "try again shortly").
    fn public_message(&self) -> String {
        if self.is_client_error() { self.to_string() } else { "something went wrong on our side".to_owned() }
    }

    /// Seconds for `Retry-After` (429, 503).
    fn retry_after(&self) -> Option<u64> {
        if self.status() == StatusCode::SERVICE_UNAVAILABLE { Some(5) } else { None }
    }

    /// The `WWW-Authenticate` challenge of a 401 or 403 (RFC 6750).
    fn www_authenticate(&self) -> Option<String> {
        None
    }
}

impl<E: HttpError> From<E> for ApiError {
    fn from(error: E) -> Self {
        Self::from_http_error(&error)
    }
}

impl ApiError {
    /// The answer for `error`, following delegations to the wrapped error that answers for it.
    pub fn from_http_error(error: &dyn HttpError) -> Self {
        if let Some(inner) = error.delegate() {
            return Self::from_http_error(inner);
        }
        let status = error.status();
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            return Self::internal(error);
        }
        if !error.is_client_error() {
            tracing::error!(error = %crate::error_chain(error), code = error.error_code(), "dependency failed");
        }
        Self {
            status,
            code: error.error_code(),
            message: error.public_message(),
            retry_after: error.retry_after(),
            www_authenticate: error.www_authenticate(),
        }
    }
}

/// An unreachable database is a 503 the client may retry; anything else from it is ours.
impl HttpError for sqlx::Error {
    fn status(&self) -> StatusCode {
        match self {
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_code(&self) -> &'static str {
        match self.status() {
            StatusCode::SERVICE_UNAVAILABLE => "database_unavailable",
            _ => "internal_error",
        }
    }

    fn public_message(&self) -> String {
        "the database is unavailable; try again shortly".to_owned()
    }
}

impl HttpError for crate::storage::StorageError {
    fn status(&self) -> StatusCode {
        use crate::storage::StorageError as E;
        match self {
            E::NotFound | E::UploadNotFound => StatusCode::NOT_FOUND,
            E::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            E::InvalidKey { .. } | E::InvalidMultipart(_) => StatusCode::BAD_REQUEST,
            E::Io { .. } | E::Backend { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_code(&self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Io { .. } | Self::Backend { .. } => "storage_unavailable",
            _ => Self::error_code(self),
        }
    }

    fn public_message(&self) -> String {
        match self {
            Self::NotFound => "no such object".to_owned(),
            Self::Io { .. } | Self::Backend { .. } => "object storage is unavailable; try again shortly".to_owned(),
            other => other.to_string(),
        }
    }
}

/// Every refusal of a signature is a 403 with the refusal's own code; only a failure to sign is
/// ours.
impl HttpError for crate::cdn::CdnError {
    fn status(&self) -> StatusCode {
        if Self::is_client_error(self) { StatusCode::FORBIDDEN } else { StatusCode::INTERNAL_SERVER_ERROR }
    }

    fn error_code(&self) -> &'static str {
        Self::error_code(self)
    }
}
