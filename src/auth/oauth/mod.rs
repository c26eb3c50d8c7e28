//! Sign-in through external providers: OpenID Connect (Google, Apple, any issuer) and plain
//! OAuth 2.0 with a user-information endpoint (Yandex, VK ID).
//!
//! One authorization-code flow serves them all (`flow.rs`): `start` stores a flow row (hashed
//! state, PKCE verifier, nonce, `return_to`) and redirects to the provider; the callback consumes
//! the row exactly once, asks the provider who the person is (an [`OAuthProvider`]), maps that
//! identity to an account (`identity.rs`) and ends in the same session issuance as a password
//! sign-in. Provider quirks live in one file each: `oidc.rs` (discovery, JWKS, ID tokens),
//! `apple.rs` (the client-secret JWT), `yandex.rs` and `vk.rs` (their user-info shapes).

pub mod apple;
pub mod flow;
pub mod identity;
pub mod oidc;
mod routes;
pub mod vk;
pub mod yandex;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;
use utoipa::ToSchema;

pub use routes::router;

use super::AuthError;
use crate::auth::OAuthSettings;

/// The providers Lectern knows; the value is the `{provider}` of the URLs and the stored name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderId {
    Google,
    Apple,
    Yandex,
    Vk,
    /// The generic OpenID Connect provider configured by issuer URL.
    Oidc,
}

impl ProviderId {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Google => "google",
            Self::Apple => "apple",
            Self::Yandex => "yandex",
            Self::Vk => "vk",
            Self::Oidc => "oidc",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "google" => Some(Self::Google),
            "apple" => Some(Self::Apple),
            "yandex" => Some(Self::Yandex),
            "vk" => Some(Self::Vk),
            "oidc" => Some(Self::Oidc),
            _ => None,
        }
    }
}

/// Who the provider says the person is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The provider's stable, never reassigned id of the person (`sub`, Yandex `id`, VK
    /// `user_id`).
    pub subject: String,
    pub email: Option<String>,
    /// Only a provider-verified email may join an existing account.
    pub email_verified: bool,
}

/// What the provider sent back to the callback, besides `state`.
#[derive(Debug, Default, Clone)]
pub struct CallbackParams {
    pub code: String,
    /// VK ID sends the device the person signed in on; its token endpoint wants it back.
    pub device_id: Option<String>,
}

/// What an authorization request needs from the flow.
pub struct AuthorizeRequest<'a> {
    pub state: &'a str,
    pub code_challenge: &'a str,
    pub nonce: Option<&'a str>,
    pub redirect_uri: &'a str,
}

impl AuthorizeRequest<'_> {
    /// The authorization-code request with PKCE (S256) of the plain OAuth providers (Yandex, VK
    /// ID): the provider's endpoint with the flow's parameters, plus the provider's `extra` ones.
    pub fn plain_oauth_url(&self, settings: &crate::auth::PlainOAuthSettings, extra: &[(&str, &str)]) -> Url {
        let mut url = settings.authorize_url.clone();
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &settings.client_id)
                .append_pair("redirect_uri", self.redirect_uri)
                .append_pair("state", self.state)
                .append_pair("code_challenge", self.code_challenge)
                .append_pair("code_challenge_method", "S256");
            for (name, value) in extra {
                query.append_pair(name, value);
            }
        }
        url
    }
}

/// What the code exchange needs from the flow.
pub struct ExchangeRequest<'a> {
    pub callback: &'a CallbackParams,
    pub pkce_verifier: &'a str,
    pub nonce: Option<&'a str>,
    pub redirect_uri: &'a str,
    pub state: &'a str,
}

/// A provider: builds its authorization URL and turns a code into an identity. Two families
/// differ enough to need this: OpenID Connect (an ID token verified against the issuer's keys)
/// and plain OAuth (a user-info call with the access token).
#[async_trait::async_trait]
pub trait OAuthProvider: Send + Sync {
    fn id(&self) -> ProviderId;
    fn display_name(&self) -> &str;
    /// Whether the flow must carry a nonce (OpenID Connect).
    fn uses_nonce(&self) -> bool;
    async fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, OAuthError>;
    async fn exchange(&self, request: &ExchangeRequest<'_>) -> Result<ExternalIdentity, OAuthError>;
}

/// Everything that can go wrong in an external sign-in, with stable codes for the HTTP edge.
#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("no such sign-in provider, or it is not enabled here")]
    UnknownProvider,
    #[error("this sign-in attempt is unknown, expired or already used; start again")]
    InvalidState,
    #[error("the sign-in was cancelled at the provider")]
    Denied,
    #[error("{0}")]
    InvalidReturnTo(String),
    #[error("the login code is unknown, expired or already used")]
    InvalidLoginCode,
    #[error("the provider's ID token is not valid: {0}")]
    InvalidIdToken(String),
    #[error("the provider refused the sign-in: {0}")]
    ProviderRefused(String),
    #[error("the provider did not share an email address, which a new account needs")]
    EmailRequired,
    #[error(
        "an account with this email exists, but the provider has not verified the email; sign in to \
         that account and link this provider with POST /v1/me/identities/{{provider}}"
    )]
    EmailUnverified,
    #[error("this external identity already signs in another account")]
    IdentityInUse,
    #[error("this is the account's last way to sign in; set a password or link another provider first")]
    LastSignInMethod,
    /// The provider could not be reached or answered nonsense (a 502 for the client).
    #[error("the sign-in provider is unavailable")]
    ProviderUnavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot prepare the request to the provider: {0}")]
    Setup(String),
    #[error(transparent)]
    Auth(#[from] AuthError),
}

impl From<sqlx::Error> for OAuthError {
    fn from(error: sqlx::Error) -> Self {
        Self::Auth(AuthError::Database(error))
    }
}

impl OAuthError {
    /// Stable, snake_case, part of the API.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::UnknownProvider => "unknown_provider",
            Self::InvalidState => "invalid_oauth_state",
            Self::Denied => "oauth_denied",
            Self::InvalidReturnTo(_) => "invalid_return_to",
            Self::InvalidLoginCode => "invalid_login_code",
            Self::InvalidIdToken(_) => "invalid_id_token",
            Self::ProviderRefused(_) => "oauth_provider_error",
            Self::EmailRequired => "email_required",
            Self::EmailUnverified => "email_unverified",
            Self::IdentityInUse => "identity_in_use",
            Self::LastSignInMethod => "last_sign_in_method",
            Self::ProviderUnavailable(_) => "oauth_provider_unavailable",
            Self::Setup(_) => "internal_error",
            Self::Auth(error) => error.error_code(),
        }
    }

    /// False for failures that are ours (answered 5xx without detail).
    pub fn is_client_error(&self) -> bool {
        match self {
            Self::ProviderUnavailable(_) | Self::Setup(_) => false,
            Self::Auth(error) => error.is_client_error(),
            _ => true,
        }
    }
}

impl crate::http::HttpError for OAuthError {
    fn delegate(&self) -> Option<&dyn crate::http::HttpError> {
        match self {
            Self::Auth(auth) => Some(auth),
            _ => None,
        }
    }

    fn status(&self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            Self::UnknownProvider => StatusCode::NOT_FOUND,
            Self::InvalidState
            | Self::Denied
            | Self::InvalidReturnTo(_)
            | Self::InvalidLoginCode
            | Self::InvalidIdToken(_)
            | Self::ProviderRefused(_) => StatusCode::BAD_REQUEST,
            Self::EmailRequired => StatusCode::UNPROCESSABLE_ENTITY,
            Self::EmailUnverified | Self::IdentityInUse | Self::LastSignInMethod => StatusCode::CONFLICT,
            Self::ProviderUnavailable(_) => StatusCode::BAD_GATEWAY,
            Self::Setup(_) | Self::Auth(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_code(&self) -> &'static str {
        Self::error_code(self)
    }

    fn public_message(&self) -> String {
        match self {
            Self::ProviderUnavailable(_) => "the sign-in provider is unavailable; try again shortly".to_owned(),
            other => other.to_string(),
        }
    }
}

/// How long a started flow may wait for its callback.
pub const FLOW_TTL: Duration = Duration::from_secs(10 * 60);
/// How long the app has to exchange a login code.
pub const LOGIN_CODE_TTL: Duration = Duration::from_secs(60);
/// Timeout of every request to a provider.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);

/// The enabled providers and the settings the flow needs.
pub struct OAuth {
    pub providers: BTreeMap<ProviderId, Arc<dyn OAuthProvider>>,
    /// Allowed origins of `return_to` (never empty: defaults to the public URL's origin).
    pub redirect_origins: Vec<url::Origin>,
    /// `{public_url}/v1/auth/oauth`, to which `/{provider}/callback` is appended.
    pub callback_base: String,
}

impl OAuth {
    pub fn new(settings: &OAuthSettings, public_url: &Url) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .timeout(PROVIDER_TIMEOUT)
            // A provider's answer is read as it is; a redirect would only hide a misconfiguration.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lectern/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AuthError::Hashing(format!("cannot build the HTTP client ({e})")))?;
        let mut providers: BTreeMap<ProviderId, Arc<dyn OAuthProvider>> = BTreeMap::new();
        if let Some(google) = &settings.google {
            let client = oidc::OidcProvider::new(
                ProviderId::Google,
                google,
                oidc::ClientAuth::from_secret(google),
                http.clone(),
            );
            providers.insert(ProviderId::Google, Arc::new(client));
        }
        if let Some(generic) = &settings.oidc {
            let client = oidc::OidcProvider::new(
                ProviderId::Oidc,
                generic,
                oidc::ClientAuth::from_secret(generic),
                http.clone(),
            );
            providers.insert(ProviderId::Oidc, Arc::new(client));
        }
        if let Some(apple) = &settings.apple {
            providers
                .insert(ProviderId::Apple, Arc::new(apple::provider(apple, http.clone()).map_err(AuthError::Hashing)?));
        }
        if let Some(yandex) = &settings.yandex {
            providers.insert(
                ProviderId::Yandex,
                Arc::new(yandex::Yandex::new(yandex.clone(), settings.yandex_trust_email, http.clone())),
            );
        }
        if let Some(vk) = &settings.vk {
            providers.insert(ProviderId::Vk, Arc::new(vk::Vk::new(vk.clone(), http)));
        }
        let redirect_origins = if settings.redirect_origins.is_empty() {
            vec![public_url.origin()]
        } else {
            settings.redirect_origins.clone()
        };
        let callback_base = format!("{}/v1/auth/oauth", public_url.as_str().trim_end_matches('/'));
        Ok(Self { providers, redirect_origins, callback_base })
    }

    pub fn provider(&self, raw: &str) -> Result<(ProviderId, &Arc<dyn OAuthProvider>), OAuthError> {
        let id = ProviderId::parse(raw).ok_or(OAuthError::UnknownProvider)?;
        let provider = self.providers.get(&id).ok_or(OAuthError::UnknownProvider)?;
        Ok((id, provider))
    }

    /// The redirect URI to register at the provider.
    pub fn redirect_uri(&self, provider: ProviderId) -> String {
        format!("{}/{}/callback", self.callback_base, provider.as_str())
    }

    /// Parses `return_to` and checks its origin against the allow-list.
    pub fn check_return_to(&self, raw: &str) -> Result<Url, OAuthError> {
        let url = Url::parse(raw).map_err(|e| OAuthError::InvalidReturnTo(format!("return_to is not a URL ({e})")))?;
        if !self.redirect_origins.contains(&url.origin()) {
            return Err(OAuthError::InvalidReturnTo(
                "return_to must be on an allowed origin (LECTERN_OAUTH_REDIRECT_ORIGINS)".to_owned(),
            ));
        }
        Ok(url)
    }
}

/// Turns a transport failure into `oauth_provider_unavailable`.
pub(crate) fn unavailable(error: impl std::error::Error + Send + Sync + 'static) -> OAuthError {
    OAuthError::ProviderUnavailable(Box::new(error))
}

/// The token endpoint's answer, as far as every provider shares it (RFC 6749 §5.1).
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: Option<String>,
    pub id_token: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Reads a token response: an OAuth error (in a 4xx or, for some providers, a 200) becomes
/// `oauth_provider_error` with the provider's words; anything else unparseable is unavailable.
pub(crate) async fn read_token_response(response: reqwest::Response) -> Result<TokenResponse, OAuthError> {
    let status = response.status();
    let body = response.text().await.map_err(unavailable)?;
    let parsed: Option<TokenResponse> = serde_json::from_str(&body).ok();
    match parsed {
        Some(token) if token.error.is_some() => Err(OAuthError::ProviderRefused(format!(
            "{}{}",
            token.error.as_deref().unwrap_or_default(),
            token.error_description.as_deref().map(|d| format!(": {d}")).unwrap_or_default()
        ))),
        Some(token) if status.is_success() => Ok(token),
        _ => Err(OAuthError::ProviderRefused(format!("the token endpoint answered {status}"))),
    }
}

/// The PKCE S256 challenge of a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pkce_challenge_matches_rfc_7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn return_to_must_be_on_an_allowed_origin() {
        let public = Url::parse("https://lectern.example").expect("url");
        let oauth = OAuth::new(&OAuthSettings::default(), &public).expect("builds");
        assert!(oauth.check_return_to("https://lectern.example/app/done").is_ok());
        assert!(oauth.check_return_to("https://evil.example/app").is_err());
        assert!(oauth.check_return_to("http://lectern.example/app").is_err(), "scheme is part of the origin");
        assert!(oauth.check_return_to("not a url").is_err());
    }
}
