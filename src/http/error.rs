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

/// Every refusal of a signature is a 403 with the refusal's own code; only a failure to sign is
/// ours.
impl From<crate::cdn::CdnError> for ApiError {
    fn from(error: crate::cdn::CdnError) -> Self {
        if error.is_client_error() {
            Self::new(StatusCode::FORBIDDEN, error.error_code(), error.to_string())
        } else {
            Self::internal(&error)
        }
    }
}

impl From<crate::auth::AuthError> for ApiError {
    fn from(error: crate::auth::AuthError) -> Self {
        use crate::auth::AuthError as E;
        let code = error.error_code();
        // Database trouble is answered like any other handler's (503 when unreachable, else 500).
        let error = match error {
            E::Database(database) => return Self::from(database),
            other => other,
        };
        match &error {
            E::InvalidEmail(_) | E::WeakPassword(_) | E::InvalidRoles(_) | E::InvalidScope(_) | E::InvalidName(_) => {
                Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, error.to_string())
            }
            E::EmailTaken => Self::new(StatusCode::CONFLICT, code, error.to_string()),
            E::InvalidCredentials => Self::new(StatusCode::UNAUTHORIZED, code, error.to_string()),
            E::MissingToken => Self {
                www_authenticate: Some(r#"Bearer realm="lectern""#.to_owned()),
                ..Self::new(StatusCode::UNAUTHORIZED, code, error.to_string())
            },
            // RFC 6750 §3.1: a rejected token is `invalid_token` in the challenge too.
            E::InvalidToken | E::TokenExpired => Self {
                www_authenticate: Some(format!(
                    r#"Bearer realm="lectern", error="invalid_token", error_description="{}""#,
                    if matches!(error, E::TokenExpired) { "the token has expired" } else { "the token is not valid" }
                )),
                ..Self::new(StatusCode::UNAUTHORIZED, code, error.to_string())
            },
            E::InvalidApiKey => Self {
                www_authenticate: Some(r#"Bearer realm="lectern", error="invalid_token", error_description="the API key is not valid""#.to_owned()),
                ..Self::new(StatusCode::UNAUTHORIZED, code, error.to_string())
            },
            // RFC 6750 §3.1 names this case `insufficient_scope` in the challenge as well.
            E::InsufficientScope(scope) => Self {
                www_authenticate: Some(format!(r#"Bearer realm="lectern", error="insufficient_scope", scope="{scope}""#)),
                ..Self::new(StatusCode::FORBIDDEN, code, error.to_string())
            },
            E::Forbidden | E::ForbiddenBecause(_) => Self::new(StatusCode::FORBIDDEN, code, error.to_string()),
            E::NotFound(_) => Self::new(StatusCode::NOT_FOUND, code, error.to_string()),
            E::RateLimited { retry_after } => Self {
                retry_after: Some(*retry_after),
                ..Self::new(StatusCode::TOO_MANY_REQUESTS, code, error.to_string())
            },
            E::Database(_) | E::Hashing(_) | E::Signing(_) | E::Redis(_) => Self::internal(&error),
        }
    }
}

impl From<crate::auth::oauth::OAuthError> for ApiError {
    fn from(error: crate::auth::oauth::OAuthError) -> Self {
        use crate::auth::oauth::OAuthError as E;
        let code = error.error_code();
        match error {
            E::Auth(auth) => Self::from(auth),
            E::UnknownProvider => Self::new(StatusCode::NOT_FOUND, code, error.to_string()),
            E::InvalidState
            | E::Denied
            | E::InvalidReturnTo(_)
            | E::InvalidLoginCode
            | E::InvalidIdToken(_)
            | E::ProviderRefused(_) => Self::bad_request(code, error.to_string()),
            E::EmailRequired => Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, error.to_string()),
            E::EmailUnverified | E::IdentityInUse | E::LastSignInMethod => {
                Self::new(StatusCode::CONFLICT, code, error.to_string())
            }
            E::ProviderUnavailable(_) => {
                tracing::error!(error = %crate::error_chain(&error), "sign-in provider unavailable");
                Self::new(StatusCode::BAD_GATEWAY, code, "the sign-in provider is unavailable; try again shortly")
            }
            E::Setup(_) => Self::internal(&error),
        }
    }
}

impl From<crate::media::MediaError> for ApiError {
    fn from(error: crate::media::MediaError) -> Self {
        use crate::media::MediaError as E;
        let code = error.error_code();
        let error = match error {
            E::Database(database) => return Self::from(database),
            E::Storage(storage) => return Self::from(storage),
            E::Auth(auth) => return Self::from(auth),
            other => other,
        };
        let status = match &error {
            E::NotFound(_) | E::UploadNotFound => StatusCode::NOT_FOUND,
            E::InvalidTitle(_) | E::InvalidField(_) | E::InvalidInput(_) | E::UrlNotAllowed(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            E::IdempotencyKeyReused | E::WrongState { .. } | E::UploadInProgress | E::OffsetMismatch { .. } => {
                StatusCode::CONFLICT
            }
            E::InvalidCursor | E::InvalidQuery(_) | E::InvalidUploadHeader(_) | E::LengthExceeded => {
                StatusCode::BAD_REQUEST
            }
            E::UnsupportedChecksum(_) | E::BodyRead(_) => StatusCode::BAD_REQUEST,
            E::TusVersion => StatusCode::PRECONDITION_FAILED,
            E::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            E::UploadExpired => StatusCode::GONE,
            E::UploadLocked => StatusCode::LOCKED,
            E::FileTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            // tus 1.0 checksum extension: 460 Checksum Mismatch.
            E::ChecksumMismatch => StatusCode::from_u16(460).unwrap_or(StatusCode::BAD_REQUEST),
            E::Database(_) | E::Storage(_) | E::Auth(_) | E::Corrupt(_) => return Self::internal(&error),
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<crate::media::IngestError> for ApiError {
    fn from(error: crate::media::IngestError) -> Self {
        use crate::media::IngestError as E;
        let code = error.error_code();
        let status = match &error {
            E::Storage(_) | E::Database(_) | E::Media(_) => {
                return match error {
                    E::Storage(storage) => Self::from(storage),
                    E::Database(database) => Self::from(database),
                    E::Media(media) => Self::from(media),
                    _ => Self::internal(&error),
                };
            }
            E::NotFound => StatusCode::NOT_FOUND,
            E::UploadFinished | E::AssetNotWaitingUpload(_) => StatusCode::CONFLICT,
            E::InvalidPart(_) => StatusCode::BAD_REQUEST,
            E::InvalidRequest(_) => StatusCode::UNPROCESSABLE_ENTITY,
            E::FileTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<crate::playback::PlaybackError> for ApiError {
    fn from(error: crate::playback::PlaybackError) -> Self {
        use crate::playback::PlaybackError as E;
        let code = error.error_code();
        let error = match error {
            E::Database(database) => return Self::from(database),
            E::Storage(storage) => return Self::from(storage),
            E::Auth(auth) => return Self::from(auth),
            E::Cdn(cdn) => return Self::from(cdn),
            other => other,
        };
        let status = match &error {
            E::Database(_) | E::Storage(_) | E::Auth(_) | E::Cdn(_) => return Self::internal(&error),
            E::AssetNotFound | E::AccountNotFound | E::SessionNotFound => StatusCode::NOT_FOUND,
            E::NotAllowed | E::OriginNotAllowed => StatusCode::FORBIDDEN,
            E::AssetNotReady => StatusCode::CONFLICT,
            E::SessionRevoked | E::SessionExpired => StatusCode::GONE,
            E::InvalidField(_) => StatusCode::UNPROCESSABLE_ENTITY,
        };
        Self::new(status, code, error.to_string())
    }
}

impl From<crate::webhooks::WebhookError> for ApiError {
    fn from(error: crate::webhooks::WebhookError) -> Self {
        use crate::webhooks::WebhookError as E;
        let code = error.error_code();
        let error = match error {
            E::Database(database) => return Self::from(database),
            E::Auth(auth) => return Self::from(auth),
            other => other,
        };
        let status = match &error {
            E::UrlInvalid(_) | E::UrlForbidden(_) | E::UnknownEventType(_) | E::InvalidField(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            E::TooMany(_) => StatusCode::CONFLICT,
            E::NotFound | E::DeliveryNotFound => StatusCode::NOT_FOUND,
            E::InvalidCursor => StatusCode::BAD_REQUEST,
            E::Database(_) | E::Auth(_) | E::Random(_) => return Self::internal(&error),
        };
        Self::new(status, code, error.to_string())
    }
}
