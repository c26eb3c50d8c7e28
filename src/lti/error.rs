//! The LTI tool's error type and what each case means at the HTTP edge.

use axum::http::StatusCode;

use crate::auth::AuthError;
use crate::http::HttpError;
use crate::training::TrainingError;

/// Everything the LTI endpoints refuse or fail at. A launch is refused with the check that failed
/// in the code, so an LMS administrator can tell a clock problem from a key problem.
#[derive(Debug, thiserror::Error)]
pub enum LtiError {
    #[error("no such LTI platform")]
    PlatformNotFound,
    #[error("{0}")]
    InvalidField(String),
    #[error("a platform with this issuer and client id is already registered")]
    PlatformExists,
    /// Login initiation or launch from an issuer/client id nobody registered.
    #[error("no LTI platform is registered for issuer {issuer:?} and client id {client_id:?}")]
    UnknownPlatform { issuer: String, client_id: String },
    #[error("{0}")]
    BadLogin(String),
    /// The launch's `state` is missing, unknown, expired or already used.
    #[error(
        "the launch's state is missing, expired or already used; start the launch again from the LMS (the state is \
         kept on the server, so this is not a cookie problem)"
    )]
    InvalidState,
    /// One of the id_token checks failed; `code` names which.
    #[error("{message}")]
    IdToken { code: &'static str, message: String },
    #[error("this id_token's nonce was already used: a launch cannot be replayed")]
    NonceReplayed,
    #[error("deployment {0:?} is not registered for this platform")]
    UnknownDeployment(String),
    #[error("message type {0:?} is not supported (LtiResourceLinkRequest and LtiDeepLinkingRequest are)")]
    UnsupportedMessage(String),
    #[error("LTI version {0:?} is not supported (1.3.0 is)")]
    UnsupportedVersion(String),
    #[error("{0}")]
    UnknownTarget(String),
    #[error("the deep-linking request is unknown, expired or already answered; open the picker again from the LMS")]
    InvalidDeepLink,
    #[error("the platform could not be reached: {0}")]
    PlatformUnavailable(String),
    #[error(transparent)]
    Training(#[from] TrainingError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    OAuth(#[from] crate::auth::oauth::OAuthError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("cannot sign: {0}")]
    Signing(String),
}

impl HttpError for LtiError {
    fn delegate(&self) -> Option<&dyn HttpError> {
        match self {
            Self::Database(database) => Some(database),
            Self::Training(training) => Some(training),
            Self::Auth(auth) => Some(auth),
            Self::OAuth(oauth) => Some(oauth),
            _ => None,
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::PlatformNotFound | Self::UnknownPlatform { .. } => StatusCode::NOT_FOUND,
            Self::InvalidField(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PlatformExists => StatusCode::CONFLICT,
            Self::BadLogin(_)
            | Self::InvalidState
            | Self::NonceReplayed
            | Self::UnsupportedMessage(_)
            | Self::UnsupportedVersion(_)
            | Self::UnknownTarget(_)
            | Self::InvalidDeepLink => StatusCode::BAD_REQUEST,
            Self::IdToken { .. } => StatusCode::UNAUTHORIZED,
            Self::UnknownDeployment(_) => StatusCode::FORBIDDEN,
            Self::PlatformUnavailable(_) => StatusCode::BAD_GATEWAY,
            Self::Training(_) | Self::Auth(_) | Self::OAuth(_) | Self::Database(_) | Self::Signing(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
        }
    }

    fn error_code(&self) -> &'static str {
        match self {
            Self::PlatformNotFound => "not_found",
            Self::InvalidField(_) => "invalid_field",
            Self::PlatformExists => "lti_platform_exists",
            Self::UnknownPlatform { .. } => "lti_platform_unknown",
            Self::BadLogin(_) => "lti_login_invalid",
            Self::InvalidState => "lti_state_invalid",
            Self::IdToken { code, .. } => code,
            Self::NonceReplayed => "lti_nonce_replayed",
            Self::UnknownDeployment(_) => "lti_deployment_unknown",
            Self::UnsupportedMessage(_) => "lti_message_type_unsupported",
            Self::UnsupportedVersion(_) => "lti_version_unsupported",
            Self::UnknownTarget(_) => "lti_target_unknown",
            Self::InvalidDeepLink => "lti_deep_link_invalid",
            Self::PlatformUnavailable(_) => "lti_platform_unavailable",
            Self::Training(training) => training.error_code(),
            Self::Auth(auth) => auth.error_code(),
            Self::OAuth(oauth) => oauth.error_code(),
            Self::Database(_) | Self::Signing(_) => "internal_error",
        }
    }

    fn public_message(&self) -> String {
        match self {
            // The platform's own failure is worth showing to the LMS administrator.
            Self::PlatformUnavailable(_) => self.to_string(),
            _ if self.is_client_error() => self.to_string(),
            _ => "something went wrong on our side".to_owned(),
        }
    }
}

impl LtiError {
    pub fn id_token(code: &'static str, message: impl Into<String>) -> Self {
        Self::IdToken { code, message: message.into() }
    }
}
