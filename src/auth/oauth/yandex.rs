//! Yandex ID: plain OAuth 2.0 (no ID token) with PKCE, then the user-information call.
//!
//! Documented at <https://yandex.ru/dev/id/doc/en/user-information> (user information:
//! `GET https://login.yandex.ru/info?format=json` with `Authorization: OAuth <token>`, fields
//! `id`, `login`, `default_email`, `emails`) and <https://yandex.ru/dev/id/doc/en/codes/code-url>
//! (the authorization request to `https://oauth.yandex.ru/authorize` with `response_type=code`,
//! `client_id`, `redirect_uri`, `state` and the PKCE `code_challenge`/`code_challenge_method`;
//! the code is exchanged by a POST to `https://oauth.yandex.ru/token` with `code_verifier`).
//!
//! Yandex reports no "verified" flag for emails. Its addresses are mailboxes that Yandex itself
//! confirmed, but a flag we do not receive is not one we claim: `default_email` counts as
//! verified only when `LECTERN_OAUTH_YANDEX_TRUST_EMAIL=true`. By default a Yandex sign-in whose
//! email belongs to an existing account is refused (`email_unverified`) and the owner links Yandex
//! from a signed-in session instead.

use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use super::{
    AuthorizeRequest, ExchangeRequest, ExternalIdentity, OAuthError, OAuthProvider, ProviderId, read_token_response,
    unavailable,
};
use crate::auth::PlainOAuthSettings;

pub struct Yandex {
    settings: PlainOAuthSettings,
    trust_email: bool,
    http: reqwest::Client,
}

/// The user-information answer (only the fields we use).
#[derive(Debug, Deserialize)]
pub struct YandexUser {
    /// Yandex's numeric user id, as a string.
    pub id: String,
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub default_email: Option<String>,
    #[serde(default)]
    pub emails: Vec<String>,
}

impl Yandex {
    pub fn new(settings: PlainOAuthSettings, trust_email: bool, http: reqwest::Client) -> Self {
        Self { settings, trust_email, http }
    }

    /// Maps Yandex's user to an identity: `default_email`, else the first of `emails`.
    pub fn identity(user: YandexUser, trust_email: bool) -> ExternalIdentity {
        let email = user.default_email.filter(|e| !e.is_empty()).or_else(|| user.emails.into_iter().next());
        ExternalIdentity { subject: user.id, email_verified: trust_email && email.is_some(), email }
    }
}

#[async_trait::async_trait]
impl OAuthProvider for Yandex {
    fn id(&self) -> ProviderId {
        ProviderId::Yandex
    }

    fn display_name(&self) -> &str {
        "Yandex"
    }

    fn uses_nonce(&self) -> bool {
        false
    }

    async fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, OAuthError> {
        Ok(request.plain_oauth_url(&self.settings, &[]))
    }

    async fn exchange(&self, request: &ExchangeRequest<'_>) -> Result<ExternalIdentity, OAuthError> {
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", request.callback.code.clone()),
            ("code_verifier", request.pkce_verifier.to_owned()),
            ("client_id", self.settings.client_id.clone()),
        ];
        if let Some(secret) = &self.settings.client_secret {
            form.push(("client_secret", secret.expose_secret().to_owned()));
        }
        let response = self.http.post(self.settings.token_url.clone()).form(&form).send().await.map_err(unavailable)?;
        let access_token = read_token_response(response)
            .await?
            .access_token
            .ok_or_else(|| OAuthError::ProviderRefused("the token response has no access_token".to_owned()))?;
        let response = self
            .http
            .get(self.settings.userinfo_url.clone())
            .header(reqwest::header::AUTHORIZATION, format!("OAuth {access_token}"))
            .send()
            .await
            .map_err(unavailable)?;
        let response = response.error_for_status().map_err(unavailable)?;
        let user: YandexUser = response.json().await.map_err(unavailable)?;
        Ok(Self::identity(user, self.trust_email))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_email_is_unverified_unless_trusted() {
        let user = || YandexUser {
            id: "1000034426".to_owned(),
            login: Some("ivan".to_owned()),
            default_email: Some("ivan@yandex.ru".to_owned()),
            emails: vec!["other@yandex.ru".to_owned(), "ivan@yandex.ru".to_owned()],
        };
        let identity = Yandex::identity(user(), false);
        assert_eq!(identity.subject, "1000034426");
        assert_eq!(identity.email.as_deref(), Some("ivan@yandex.ru"));
        assert!(!identity.email_verified);
        assert!(Yandex::identity(user(), true).email_verified);
    }
}
