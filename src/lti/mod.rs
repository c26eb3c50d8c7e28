//! LTI 1.3 Advantage: Lectern as a tool that Moodle, Canvas and Open edX launch.
//!
//! - [`platforms`] owns all SQL of `lti_platform`: the platforms an administrator registered
//!   (issuer, client id, deployments, the platform's URLs).
//! - [`id_token`] checks a platform's id_token — RS256 against the platform's key set (cached;
//!   an unknown `kid` refetches once), `iss`, `aud`/`azp`, `exp`/`iat` with leeway, nonce,
//!   registered deployment, message type and version 1.3.0 — and caches the key sets.
//! - [`launch`] is OIDC login initiation and the launch: state and nonce kept on the server
//!   (works when the browser drops third-party cookies in the LMS iframe), the platform user
//!   linked to an account by platform and `sub` only (never by email), enrolment with source
//!   `lti`, and the landing without a second login (a single-use login code).
//! - [`deep_linking`] is Deep Linking 2.0: the picker and the signed `LtiDeepLinkingResponse`.
//! - [`routes`] is the administrators' API (`/v1/lti/platforms`), the tool's configuration
//!   (`/v1/lti/tool`: the URLs to paste into an LMS) and its key set (`/lti/jwks`).

pub mod deep_linking;
mod error;
pub mod id_token;
pub mod launch;
pub mod platforms;
pub mod routes;
mod settings;

use std::time::Duration;

pub use error::LtiError;
pub use settings::LtiSettings;

use crate::app::AppState;

/// The tool's state in `AppState`: its settings and the platforms' cached key sets.
pub struct Lti {
    pub settings: LtiSettings,
    pub keys: id_token::KeyCache,
}

impl Lti {
    pub fn new(settings: LtiSettings) -> Self {
        // A platform that does not answer within seconds fails the launch rather than holding
        // the learner's browser.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let keys = id_token::KeyCache::new(http, settings.jwks_cache_ttl);
        Self { settings, keys }
    }
}

/// The documented LTI routes.
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    routes::router()
}
