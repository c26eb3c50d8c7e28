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
//! - [`grades`] is Assignment and Grade Services: grade links recorded at launch, scores from
//!   progress sent by durable jobs (`lti.send_score`, the periodic `lti.grade_sync`), the
//!   platform's `client_credentials` token cached.
//! - [`routes`] is the administrators' API (`/v1/lti/platforms`), the tool's configuration
//!   (`/v1/lti/tool`: the URLs to paste into an LMS) and its key set (`/lti/jwks`).

pub mod deep_linking;
mod error;
pub mod grades;
pub mod id_token;
pub mod launch;
pub mod platforms;
pub mod routes;
mod settings;

use std::sync::Arc;
use std::time::Duration;

pub use error::LtiError;
pub use settings::LtiSettings;

use crate::app::{AppState, Services};
use crate::keys::LtiSigningKey;

/// The tool, shared by the routes (`AppState`) and the grade jobs: its settings and key, the
/// platforms' cached key sets and grade-service tokens, one HTTP client.
pub struct Lti {
    pub settings: LtiSettings,
    pub keys: id_token::KeyCache,
    pub tool_key: LtiSigningKey,
    pub grade_tokens: grades::TokenCache,
    pub http: reqwest::Client,
}

impl std::fmt::Debug for Lti {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lti")
            .field("settings", &self.settings)
            .field("tool_key", &self.tool_key)
            .finish_non_exhaustive()
    }
}

impl Lti {
    pub fn new(settings: LtiSettings, tool_key: LtiSigningKey) -> Self {
        // A platform that does not answer within seconds fails the launch rather than holding
        // the learner's browser.
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        let keys = id_token::KeyCache::new(http.clone(), settings.jwks_cache_ttl);
        Self { settings, keys, tool_key, grade_tokens: grades::TokenCache::default(), http }
    }
}

/// The LTI job handlers: score sends and the periodic grade sync.
pub fn job_handlers(_services: &Services, lti: &Arc<Lti>) -> Vec<Arc<dyn crate::jobs::JobHandler>> {
    vec![
        Arc::new(grades::SendScore::new(Arc::clone(lti))),
        Arc::new(grades::GradeSync::new(lti.settings.grade_sync_interval)),
    ]
}

/// Signs claims with the tool's key (RS256, its `kid` in the header).
pub fn sign_with_tool_key(key: &LtiSigningKey, claims: &serde_json::Value) -> Result<String, LtiError> {
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some(key.key_id.clone());
    header.typ = Some("JWT".to_owned());
    jsonwebtoken::encode(&header, claims, &jsonwebtoken::EncodingKey::from_rsa_der(&key.pkcs1_der))
        .map_err(|e| LtiError::Signing(e.to_string()))
}

/// The documented LTI routes.
pub fn router() -> utoipa_axum::router::OpenApiRouter<AppState> {
    routes::router()
}
