//! Playback: entitlement-checked, revocable sessions and their per-session signed manifests.
//!
//! A learner (or an application acting for one with an API key) asks for a session on an asset
//! (`POST /v1/assets/{id}/playback`). Access is decided by [`access::may_watch`]
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

pub mod access;
mod error;
pub mod manifests;
pub mod routes;
pub mod sessions;

pub use error::PlaybackError;

/// Playback's routes inside the JSON API (sessions, grants, access settings); the per-session
/// manifests are mounted beside it ([`routes::play_routes`]).
pub fn router() -> utoipa_axum::router::OpenApiRouter<crate::app::AppState> {
    routes::router()
}
