//! VK ID: OAuth 2.1 with mandatory PKCE, then the user-information call.
//!
//! Documented at
//! <https://id.vk.com/about/business/go/docs/ru/vkid/latest/vk-id/connection/api-integration/api-description>
//! (authorization `https://id.vk.com/authorize` with `code_challenge`; code exchange
//! `POST https://id.vk.com/oauth2/auth` with `grant_type=authorization_code`, `code`,
//! `code_verifier`, `client_id`, `device_id`, `redirect_uri`, `state`; user information
//! `POST https://id.vk.com/oauth2/user_info` with `client_id` and `access_token`, answering
//! `{"user": {"user_id", "first_name", "last_name", "email", …}}`). The callback receives
//! `device_id` next to `code`, and the exchange must send it back.
//!
//! VK does not say whether an email was confirmed, so VK emails are always unverified: a VK
//! sign-in never joins an existing account by email; the owner links VK from a signed-in session.

use secrecy::ExposeSecret;
use serde::Deserialize;
use url::Url;

use super::{
    AuthorizeRequest, ExchangeRequest, ExternalIdentity, OAuthError, OAuthProvider, ProviderId, read_token_response,
    unavailable,
};
use crate::auth::PlainOAuthSettings;

pub struct Vk {
    settings: PlainOAuthSettings,
    http: reqwest::Client,
}

#[derive(Debug, Deserialize)]
pub struct VkUserInfo {
    pub user: VkUser,
}

#[derive(Debug, Deserialize)]
pub struct VkUser {
    /// A string in VK ID's answers; a number is accepted too.
    pub user_id: serde_json::Value,
    #[serde(default)]
    pub first_name: Option<String>,
    #[serde(default)]
    pub last_name: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
}

impl Vk {
    pub fn new(settings: PlainOAuthSettings, http: reqwest::Client) -> Self {
        Self { settings, http }
    }

    pub fn identity(user: VkUser) -> Result<ExternalIdentity, OAuthError> {
        let subject = match user.user_id {
            serde_json::Value::String(id) if !id.is_empty() => id,
            serde_json::Value::Number(id) => id.to_string(),
            _ => return Err(OAuthError::ProviderRefused("the user information has no user_id".to_owned())),
        };
        Ok(ExternalIdentity { subject, email: user.email.filter(|e| !e.is_empty()), email_verified: false })
    }
}

#[async_trait::async_trait]
impl OAuthProvider for Vk {
    fn id(&self) -> ProviderId {
        ProviderId::Vk
    }

    fn display_name(&self) -> &str {
        "VK ID"
    }

    fn uses_nonce(&self) -> bool {
        false
    }

    async fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, OAuthError> {
        Ok(request.plain_oauth_url(&self.settings, &[("scope", "email")]))
    }

    async fn exchange(&self, request: &ExchangeRequest<'_>) -> Result<ExternalIdentity, OAuthError> {
        let device_id = request
            .callback
            .device_id
            .clone()
            .ok_or_else(|| OAuthError::ProviderRefused("the callback has no device_id".to_owned()))?;
        let mut form: Vec<(&str, String)> = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", request.callback.code.clone()),
            ("code_verifier", request.pkce_verifier.to_owned()),
            ("client_id", self.settings.client_id.clone()),
            ("device_id", device_id),
            ("redirect_uri", request.redirect_uri.to_owned()),
            ("state", request.state.to_owned()),
        ];
        if let Some(secret) = &self.settings.client_secret {
            form.push(("client_secret", secret.expose_secret().to_owned()));
        }
        let response = self.http.post(self.settings.token_url.clone()).form(&form).send().await.map_err(unavailable)?;
        let access_token = read_token_response(response)
            .await?
            .access_token
            .ok_or_else(|| OAuthError::ProviderRefused("the token response has no access_token".to_owned()))?;
        let form = [("client_id", self.settings.client_id.as_str()), ("access_token", access_token.as_str())];
        let response =
            self.http.post(self.settings.userinfo_url.clone()).form(&form).send().await.map_err(unavailable)?;
        let response = response.error_for_status().map_err(unavailable)?;
        let info: serde_json::Value = response.json().await.map_err(unavailable)?;
        if let Some(error) = info.get("error").and_then(serde_json::Value::as_str) {
            return Err(OAuthError::ProviderRefused(format!("user_info: {error}")));
        }
        let info: VkUserInfo = serde_json::from_value(info).map_err(unavailable)?;
        Self::identity(info.user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vk_users_map_to_unverified_identities() {
        let info: VkUserInfo = serde_json::from_value(serde_json::json!({
            "user": {"user_id": "1234567890", "first_name": "Ivan", "last_name": "Ivanov", "email": "ivan@vk.com"}
        }))
        .expect("documented shape");
        let identity = Vk::identity(info.user).expect("identity");
        assert_eq!(identity.subject, "1234567890");
        assert_eq!(identity.email.as_deref(), Some("ivan@vk.com"));
        assert!(!identity.email_verified);
    }
}
