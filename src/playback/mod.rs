//! Playback: entitlement-checked, revocable sessions and their per-session signed manifests.
//!
//! A learner (or an application acting for one with an API key) asks for a session on an asset
//! (`POST /v1/assets/{id}/playback`). Access is decided by [`crate::media::access::may_watch`]
//! alone. A session row names the asset version, the viewer and an expiry; its id is the only
//! credential the player holds. The player fetches manifests from `/play/{session}/…`, which are
//! served only while the session is open and its viewer still may watch, and which point at the
//! CDN with one CloudFront custom policy per session over `assets/{id}/v{n}/*`.
//!
//! The signed policy is not stored: RSA PKCS#1 v1.5 signatures are deterministic, so it is
//! re-derived from the session (asset, version, expiry, bound address) on every manifest request
//! and is the same string each time. Revoking a session stops its manifests at once; segment URLs
//! a player already holds stay valid until the session's expiry (the CDN cannot be told), which
//! is why sessions are short-lived.

pub mod manifests;
pub mod routes;
pub mod sessions;

use crate::auth::AuthError;
use crate::cdn::CdnError;
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
