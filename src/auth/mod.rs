//! Identity and access: accounts with roles, argon2id passwords, EdDSA access tokens published as
//! a JWKS, rotating refresh tokens bound to sessions, and limits on guessing.
//!
//! The flow: `register`/`login` create a session (one signed-in device) and hand out a short-lived
//! access token plus an opaque refresh token. Every refresh spends the refresh token and issues a
//! new one; spending one twice revokes the whole session. Access tokens name their session
//! (`sid`), and [`extract::Authenticated`] checks that it is still active on every request, so a
//! logout takes effect at once rather than when the token expires.

pub mod account_tokens; // accounts (issue 21)
pub mod accounts;
pub mod api_keys;
pub mod email;
mod error;
pub mod extract;
mod key_routes;
mod mail_routes; // accounts (issue 21)
pub mod notifications; // accounts (issue 21)
pub mod oauth;
pub mod passwords;
pub mod rate_limit;
pub(crate) mod routes;
pub mod sessions;
mod settings;
pub mod setup;
pub mod tokens;
pub mod totp; // accounts (issue 21)
pub mod two_factor; // accounts (issue 21)

use url::Url;

pub use accounts::Role;
pub use email::Email;
pub use error::AuthError;
pub use extract::{Authenticated, ClientInfo, Principal};
pub use settings::{
    AppleSettings, Argon2Settings, AuthSettings, OAuthSettings, OidcClientSettings, PASSWORD_MAX_LENGTH,
    PasswordSettings, PlainOAuthSettings, RateLimit, RateLimitSettings,
};

use crate::keys::Keys;

/// Identity's routes: sign-in and sessions, API keys, external sign-in.
pub fn router() -> utoipa_axum::router::OpenApiRouter<crate::app::AppState> {
    routes::router()
        .merge(key_routes::router())
        .merge(oauth::router())
        .merge(setup::router())
        .merge(mail_routes::router()) // accounts (issue 21)
        .merge(two_factor::router()) // accounts (issue 21)
        .merge(notifications::router()) // accounts (issue 21)
}

/// The identity subsystem's state, shared by every request through `AppState`.
pub struct Auth {
    pub settings: AuthSettings,
    pub passwords: passwords::Passwords,
    pub tokens: tokens::TokenKeys,
    pub limiter: rate_limit::RateLimiter,
    pub oauth: oauth::OAuth,
}

impl Auth {
    /// Prepares token keys, the password hasher (which computes its timing decoy once) and the
    /// rate limiter (connecting to Redis when configured).
    pub async fn new(settings: AuthSettings, keys: &Keys, public_url: &Url) -> Result<Self, AuthError> {
        let passwords = passwords::Passwords::new(settings.passwords).await?;
        let tokens = tokens::TokenKeys::new(keys, issuer(public_url), settings.access_token_ttl);
        let limiter = rate_limit::RateLimiter::connect(settings.redis_url.as_ref()).await?;
        let oauth = oauth::OAuth::new(&settings.oauth, public_url)?;
        Ok(Self { settings, passwords, tokens, limiter, oauth })
    }
}

/// The `iss` of our tokens: the public URL without a trailing slash.
pub fn issuer(public_url: &Url) -> String {
    public_url.as_str().trim_end_matches('/').to_owned()
}
