//! Webhooks' error type and what each case means at the HTTP edge.

use axum::http::StatusCode;

use crate::auth::AuthError;
use crate::http::HttpError;

/// Everything that can go wrong with webhooks, with stable codes for the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{0}")]
    UrlInvalid(String),
    #[error("{0}")]
    UrlForbidden(String),
    #[error("unknown event type {0:?}; known: {known} (or * for all)", known = super::EVENT_TYPES.join(", "))]
    UnknownEventType(String),
    #[error("an account may have at most {0} webhook endpoints; delete one first")]
    TooMany(u32),
    #[error("no such webhook endpoint")]
    NotFound,
    #[error("no such webhook delivery")]
    DeliveryNotFound,
    #[error("{0}")]
    InvalidField(String),
    #[error("the cursor is not one this API handed out")]
    InvalidCursor,
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("cannot make a secret")]
    Random(#[source] std::io::Error),
    #[error("cannot use the endpoint's signing secret")]
    Secret(#[from] super::secrets::SecretError),
}

impl WebhookError {
    /// Stable, snake_case, part of the API.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::UrlInvalid(_) => "webhook_url_invalid",
            Self::UrlForbidden(_) => "webhook_url_forbidden",
            Self::UnknownEventType(_) => "unknown_event_type",
            Self::TooMany(_) => "too_many_webhooks",
            Self::NotFound => "webhook_not_found",
            Self::DeliveryNotFound => "webhook_delivery_not_found",
            Self::InvalidField(_) => "invalid_field",
            Self::InvalidCursor => "invalid_cursor",
            Self::Auth(auth) => auth.error_code(),
            Self::Database(_) | Self::Random(_) | Self::Secret(_) => "internal_error",
        }
    }

    /// False for failures that are ours (answered 5xx without detail).
    pub fn is_client_error(&self) -> bool {
        match self {
            Self::Auth(auth) => auth.is_client_error(),
            Self::Database(_) | Self::Random(_) | Self::Secret(_) => false,
            _ => true,
        }
    }
}

impl From<crate::media::MediaError> for WebhookError {
    fn from(error: crate::media::MediaError) -> Self {
        match error {
            crate::media::MediaError::Database(database) => Self::Database(database),
            other => Self::Database(sqlx::Error::Protocol(crate::error_chain(&other))),
        }
    }
}

impl HttpError for WebhookError {
    fn delegate(&self) -> Option<&dyn HttpError> {
        match self {
            Self::Database(database) => Some(database),
            Self::Auth(auth) => Some(auth),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::UrlInvalid(_) | Self::UrlForbidden(_) | Self::UnknownEventType(_) | Self::InvalidField(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            Self::TooMany(_) => StatusCode::CONFLICT,
            Self::NotFound | Self::DeliveryNotFound => StatusCode::NOT_FOUND,
            Self::InvalidCursor => StatusCode::BAD_REQUEST,
            Self::Database(_) | Self::Auth(_) | Self::Random(_) | Self::Secret(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_code(&self) -> &'static str {
        Self::error_code(self)
    }
}
