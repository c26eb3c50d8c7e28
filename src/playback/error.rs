//! Playback's error type and what each case means at the HTTP edge.

use axum::http::StatusCode;

use crate::auth::AuthError;
use crate::cdn::CdnError;
use crate::http::HttpError;
use crate::storage::StorageError;

/// Everything playback refuses or fails at, with stable codes for the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum PlaybackError {
    #[error("no such asset")]
    AssetNotFound,
    #[error("no such account")]
    AccountNotFound,
    #[error("no such playback session")]
    SessionNotFound,
    #[error("this account may not watch this asset")]
    NotAllowed,
    #[error("the asset has no playable version yet")]
    AssetNotReady,
    #[error("this asset may not be played from this page's origin")]
    OriginNotAllowed,
    #[error("the playback session has been revoked")]
    SessionRevoked,
    #[error("the playback session has expired; create a new one")]
    SessionExpired,
    #[error("{0}")]
    InvalidField(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error("cannot sign the playback policy")]
    Cdn(#[from] CdnError),
    #[error("storage error")]
    Storage(#[from] StorageError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

impl PlaybackError {
    /// Stable, snake_case, part of the API.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::AssetNotFound | Self::AccountNotFound => "not_found",
            Self::SessionNotFound => "playback_session_not_found",
            Self::NotAllowed => "playback_not_allowed",
            Self::AssetNotReady => "asset_not_ready",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::SessionRevoked => "playback_session_revoked",
            Self::SessionExpired => "playback_session_expired",
            Self::InvalidField(_) => "invalid_field",
            Self::Auth(auth) => auth.error_code(),
            Self::Cdn(cdn) => cdn.error_code(),
            Self::Storage(storage) if storage.is_client_error() => storage.error_code(),
            Self::Storage(_) | Self::Database(_) => "internal_error",
        }
    }

    /// False for failures that are ours (answered 5xx without detail).
    pub fn is_client_error(&self) -> bool {
        match self {
            Self::Auth(auth) => auth.is_client_error(),
            Self::Cdn(cdn) => cdn.is_client_error(),
            Self::Storage(storage) => storage.is_client_error(),
            Self::Database(_) => false,
            _ => true,
        }
    }
}

impl HttpError for PlaybackError {
    fn delegate(&self) -> Option<&dyn HttpError> {
        match self {
            Self::Database(database) => Some(database),
            Self::Storage(storage) => Some(storage),
            Self::Auth(auth) => Some(auth),
            Self::Cdn(cdn) => Some(cdn),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::AssetNotFound | Self::AccountNotFound | Self::SessionNotFound => StatusCode::NOT_FOUND,
            Self::NotAllowed | Self::OriginNotAllowed => StatusCode::FORBIDDEN,
            Self::AssetNotReady => StatusCode::CONFLICT,
            Self::SessionRevoked | Self::SessionExpired => StatusCode::GONE,
            Self::InvalidField(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Database(_) | Self::Storage(_) | Self::Auth(_) | Self::Cdn(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_code(&self) -> &'static str {
        Self::error_code(self)
    }
}
