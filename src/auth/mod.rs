//! Identity and access: accounts with roles, argon2id passwords, EdDSA access tokens published as
//! a JWKS, rotating refresh tokens bound to sessions, and limits on guessing.
//!
//! The flow: `register`/`login` create a session (one signed-in device) and hand out a short-lived
//! access token plus an opaque refresh token. Every refresh spends the refresh token and issues a
//! new one; spending one twice revokes the whole session. Access tokens name their session
//! (`sid`), and [`extract::Authenticated`] checks that it is still active on every request, so a
//! logout takes effect at once rather than when the token expires.

pub mod accounts;
pub mod api_keys;
pub mod email;
pub mod extract;
mod key_routes;
pub mod oauth;
pub mod passwords;
pub mod rate_limit;
mod routes;
pub mod sessions;
pub mod tokens;

use url::Url;

pub use accounts::Role;
pub use email::Email;
pub use extract::{Authenticated, ClientInfo, Principal};
pub use routes::router;
pub use key_routes::router as api_key_router;
pub use oauth::router as oauth_router;

use crate::config::AuthSettings;
use crate::keys::Keys;

/// Everything wrong that can happen in identity, with stable codes for the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("{0}")]
    InvalidEmail(String),
    #[error("{0}")]
    WeakPassword(String),
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Deliberately the same for an unknown email, a wrong password and a locked account.
    #[error("the email or password is wrong")]
    InvalidCredentials,
    #[error("this request needs an access token (Authorization: Bearer …)")]
    MissingToken,
    #[error("the token is not valid")]
    InvalidToken,
    #[error("the access token has expired; refresh it")]
    TokenExpired,
    #[error("your roles do not allow this")]
    Forbidden,
    /// Like `Forbidden`, with the reason (a scope the caller's roles do not allow).
    #[error("{0}")]
    ForbiddenBecause(String),
    #[error("the API key is not valid (unknown or revoked)")]
    InvalidApiKey,
    #[error("this API key lacks the scope {0}")]
    InsufficientScope(&'static str),
    #[error("{0}")]
    InvalidScope(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    InvalidRoles(String),
    #[error("too many attempts; try again in {retry_after} s")]
    RateLimited { retry_after: u64 },
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("token signing failed")]
    Signing(#[source] jsonwebtoken::errors::Error),
    #[error("cannot connect to Redis for rate limits")]
    Redis(#[source] redis::RedisError),
}

impl AuthError {
    /// Stable, snake_case, part of the API.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::InvalidEmail(_) => "invalid_email",
            Self::WeakPassword(_) => "weak_password",
            Self::EmailTaken => "email_taken",
            Self::InvalidCredentials => "invalid_credentials",
            Self::MissingToken => "missing_token",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::Forbidden | Self::ForbiddenBecause(_) => "forbidden",
            Self::InvalidApiKey => "invalid_api_key",
            Self::InsufficientScope(_) => "insufficient_scope",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidName(_) => "invalid_name",
            Self::NotFound(_) => "not_found",
            Self::InvalidRoles(_) => "invalid_roles",
            Self::RateLimited { .. } => "rate_limited",
            Self::Database(_) | Self::Hashing(_) | Self::Signing(_) | Self::Redis(_) => "internal_error",
        }
    }

    /// False for failures that are ours (and answered 5xx without detail).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Database(_) | Self::Hashing(_) | Self::Signing(_) | Self::Redis(_))
    }
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
