//! Identity's error type and what each case means at the HTTP edge.

use axum::http::StatusCode;

use crate::http::HttpError;

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
    /// A mailed link's token that is unknown, expired, superseded or already used.
    #[error("this link is unknown, expired or already used; ask for a new one")]
    InvalidLink,
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("the email address is already verified")]
    AlreadyVerified,
    #[error("the two-factor code is wrong, expired or already used")]
    InvalidTwoFactorCode,
    #[error("two-factor sign-in is already on; turn it off first to enrol again")]
    TwoFactorAlreadyEnabled,
    #[error("two-factor sign-in is not on")]
    TwoFactorNotEnabled,
    #[error("no enrolment is waiting for a code; start one with POST /v1/me/two-factor")]
    TwoFactorNotStarted,
    #[error("{0}")]
    InvalidNotificationKind(String),
    #[error("cannot queue the message")]
    Mail(#[source] sqlx::Error),
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
            Self::InvalidLink => "invalid_link",
            Self::WrongPassword => "wrong_password",
            Self::AlreadyVerified => "already_verified",
            Self::InvalidTwoFactorCode => "invalid_two_factor_code",
            Self::TwoFactorAlreadyEnabled => "two_factor_already_enabled",
            Self::TwoFactorNotEnabled => "two_factor_not_enabled",
            Self::TwoFactorNotStarted => "two_factor_not_started",
            Self::InvalidNotificationKind(_) => "invalid_notification_kind",
            Self::Mail(_) | Self::Database(_) | Self::Hashing(_) | Self::Signing(_) | Self::Redis(_) => {
                "internal_error"
            }
        }
    }

    /// False for failures that are ours (and answered 5xx without detail).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Mail(_) | Self::Database(_) | Self::Hashing(_) | Self::Signing(_) | Self::Redis(_))
    }
}

impl HttpError for AuthError {
    fn delegate(&self) -> Option<&dyn HttpError> {
        match self {
            Self::Database(database) => Some(database),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidEmail(_)
            | Self::WeakPassword(_)
            | Self::InvalidRoles(_)
            | Self::InvalidScope(_)
            | Self::InvalidName(_)
            | Self::InvalidNotificationKind(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::EmailTaken => StatusCode::CONFLICT,
            Self::InvalidCredentials
            | Self::MissingToken
            | Self::InvalidToken
            | Self::TokenExpired
            | Self::InvalidApiKey => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) | Self::Forbidden | Self::ForbiddenBecause(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::InvalidLink => StatusCode::BAD_REQUEST,
            Self::WrongPassword => StatusCode::FORBIDDEN,
            Self::AlreadyVerified
            | Self::TwoFactorAlreadyEnabled
            | Self::TwoFactorNotEnabled
            | Self::TwoFactorNotStarted => StatusCode::CONFLICT,
            Self::InvalidTwoFactorCode => StatusCode::UNAUTHORIZED,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Mail(_) | Self::Database(_) | Self::Hashing(_) | Self::Signing(_) | Self::Redis(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_code(&self) -> &'static str {
        Self::error_code(self)
    }

    fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after } => Some(*retry_after),
            _ => None,
        }
    }

    fn www_authenticate(&self) -> Option<String> {
        match self {
            Self::MissingToken => Some(r#"Bearer realm="lectern""#.to_owned()),
            // RFC 6750 §3.1: a rejected token is `invalid_token` in the challenge too.
            Self::InvalidToken | Self::TokenExpired => Some(format!(
                r#"Bearer realm="lectern", error="invalid_token", error_description="{}""#,
                if matches!(self, Self::TokenExpired) { "the token has expired" } else { "the token is not valid" }
            )),
            Self::InvalidApiKey => Some(
                r#"Bearer realm="lectern", error="invalid_token", error_description="the API key is not valid""#
                    .to_owned(),
            ),
            // RFC 6750 §3.1 names this case `insufficient_scope` in the challenge as well.
            Self::InsufficientScope(scope) => {
                Some(format!(r#"Bearer realm="lectern", error="insufficient_scope", scope="{scope}""#))
            }
            _ => None,
        }
    }
}
