//! OpenID Connect providers (Google, Apple, any issuer): discovery, the issuer's keys and ID-token
//! validation.
//!
//! The discovery document (`{issuer}/.well-known/openid-configuration`) and the JWKS are cached
//! for an hour; an ID token signed with a key id the cache does not know triggers one refetch of
//! the JWKS (a provider rotated its keys), and no more than one every [`JWKS_REFETCH_MIN`]. An ID
//! token is accepted only when it is signed with an asymmetric algorithm that both the key and
//! the discovery document allow (never `none`, never an HMAC keyed with something public), names
//! this issuer and this client, is within its validity period (small leeway) and repeats the
//! flow's nonce.

use std::str::FromStr;
use std::time::{Duration, Instant};

use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use tokio::sync::RwLock;
use url::Url;

use super::{
    AuthorizeRequest, ExchangeRequest, ExternalIdentity, OAuthError, OAuthProvider, ProviderId, read_token_response,
    unavailable,
};
use crate::auth::OidcClientSettings;

/// How long discovery documents and key sets are trusted before being read again.
const CACHE_TTL: Duration = Duration::from_secs(3600);
/// The least time between two JWKS fetches caused by unknown key ids, so tokens with made-up
/// `kid`s cannot make us hammer the provider.
pub const JWKS_REFETCH_MIN: Duration = Duration::from_secs(10);
/// Clock skew tolerated on `exp` and `iat`.
const LEEWAY_SECONDS: u64 = 60;

/// Signature algorithms an ID token may use: asymmetric ones only.
const ASYMMETRIC: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// The parts of the discovery document (OpenID Connect Discovery 1.0 §3) that we use.
#[derive(Debug, Clone, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Option<Vec<String>>,
}

/// How the client proves itself at the token endpoint.
pub enum ClientAuth {
    /// A static secret (or none: a public client that relies on PKCE).
    Secret(Option<SecretString>),
    /// Apple: a JWT signed with the team's key, minted and cached by [`super::apple`].
    Apple(super::apple::ClientSecret),
}

impl ClientAuth {
    pub fn from_secret(settings: &OidcClientSettings) -> Self {
        Self::Secret(settings.client_secret.clone())
    }

    fn secret(&self) -> Result<Option<SecretString>, OAuthError> {
        match self {
            Self::Secret(secret) => Ok(secret.clone()),
            Self::Apple(apple) => apple.current().map(Some),
        }
    }
}

struct Cached<T> {
    value: T,
    fetched: Instant,
}

pub struct OidcProvider {
    id: ProviderId,
    display_name: String,
    issuer: String,
    client_id: String,
    auth: ClientAuth,
    scope: String,
    /// Extra authorization parameters (Apple: `response_mode=form_post`).
    extra_authorize_params: Vec<(String, String)>,
    http: reqwest::Client,
    discovery: RwLock<Option<Cached<Discovery>>>,
    jwks: RwLock<Option<Cached<Vec<Jwk>>>>,
}

/// What we read from an ID token.
#[derive(Debug, Deserialize)]
struct IdClaims {
    sub: String,
    iat: i64,
    #[serde(default)]
    nonce: Option<String>,
    #[serde(default)]
    email: Option<String>,
    /// A boolean for most providers; Apple has sent the string `"true"`.
    #[serde(default)]
    email_verified: Option<serde_json::Value>,
}

impl OidcProvider {
    pub fn new(id: ProviderId, settings: &OidcClientSettings, auth: ClientAuth, http: reqwest::Client) -> Self {
        Self::with_options(id, settings, auth, http, "openid email profile", Vec::new())
    }

    pub fn with_options(
        id: ProviderId,
        settings: &OidcClientSettings,
        auth: ClientAuth,
        http: reqwest::Client,
        scope: &str,
        extra_authorize_params: Vec<(String, String)>,
    ) -> Self {
        Self {
            id,
            display_name: settings.display_name.clone(),
            issuer: settings.issuer.as_str().trim_end_matches('/').to_owned(),
            client_id: settings.client_id.clone(),
            auth,
            scope: scope.to_owned(),
            extra_authorize_params,
            http,
            discovery: RwLock::new(None),
            jwks: RwLock::new(None),
        }
    }

    /// The discovery document, from the cache while it is fresh.
    pub async fn discovery(&self) -> Result<Discovery, OAuthError> {
        if let Some(cached) = self.discovery.read().await.as_ref().filter(|c| c.fetched.elapsed() < CACHE_TTL) {
            return Ok(cached.value.clone());
        }
        let mut slot = self.discovery.write().await;
        if let Some(cached) = slot.as_ref().filter(|c| c.fetched.elapsed() < CACHE_TTL) {
            return Ok(cached.value.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer);
        let response = self.http.get(&url).send().await.map_err(unavailable)?;
        let response = response.error_for_status().map_err(unavailable)?;
        let document: Discovery = response.json().await.map_err(unavailable)?;
        // OpenID Connect Discovery §4.3: the document must name the issuer it was fetched for.
        if document.issuer.trim_end_matches('/') != self.issuer {
            return Err(OAuthError::ProviderRefused(format!(
                "the discovery document names issuer {:?}, not {:?}",
                document.issuer, self.issuer
            )));
        }
        *slot = Some(Cached { value: document.clone(), fetched: Instant::now() });
        Ok(document)
    }

    async fn fetch_jwks(&self, jwks_uri: &Url) -> Result<Vec<Jwk>, OAuthError> {
        let response = self.http.get(jwks_uri.clone()).send().await.map_err(unavailable)?;
        let response = response.error_for_status().map_err(unavailable)?;
        let set: serde_json::Value = response.json().await.map_err(unavailable)?;
        // Keys are parsed one by one so that one key of a type we do not know (or an encryption
        // key) does not make the whole set unusable.
        let keys = set
            .get("keys")
            .and_then(serde_json::Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter(|key| key.get("use").and_then(serde_json::Value::as_str).is_none_or(|u| u == "sig"))
                    .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
                    .collect()
            })
            .unwrap_or_default();
        Ok(keys)
    }

    /// The key for `kid`, refetching the set once when it is unknown (at most once per
    /// [`JWKS_REFETCH_MIN`]).
    async fn key_for(&self, jwks_uri: &Url, kid: Option<&str>, alg: Algorithm) -> Result<Jwk, OAuthError> {
        let find = |keys: &[Jwk]| -> Option<Jwk> {
            match kid {
                Some(kid) => keys.iter().find(|key| key.common.key_id.as_deref() == Some(kid)).cloned(),
                // Without a `kid` a key is only chosen when it is the one key of the right family.
                None => {
                    let mut candidates =
                        keys.iter().filter(|key| DecodingKey::from_jwk(key).is_ok_and(|k| k.family() == alg.family()));
                    match (candidates.next(), candidates.next()) {
                        (Some(only), None) => Some(only.clone()),
                        _ => None,
                    }
                }
            }
        };
        let stale = {
            let cached = self.jwks.read().await;
            match cached.as_ref() {
                Some(cached) if cached.fetched.elapsed() < CACHE_TTL => {
                    if let Some(key) = find(&cached.value) {
                        return Ok(key);
                    }
                    cached.fetched.elapsed() >= JWKS_REFETCH_MIN
                }
                _ => true,
            }
        };
        if !stale {
            return Err(OAuthError::InvalidIdToken("signed with a key the provider does not publish".to_owned()));
        }
        let mut slot = self.jwks.write().await;
        let keys = self.fetch_jwks(jwks_uri).await?;
        let found = find(&keys);
        *slot = Some(Cached { value: keys, fetched: Instant::now() });
        found.ok_or_else(|| OAuthError::InvalidIdToken("signed with a key the provider does not publish".to_owned()))
    }

    /// Checks an ID token completely and returns its claims.
    async fn verify_id_token(
        &self,
        token: &str,
        discovery: &Discovery,
        nonce: Option<&str>,
    ) -> Result<IdClaims, OAuthError> {
        let invalid = |why: &str| OAuthError::InvalidIdToken(why.to_owned());
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("not a JWT"))?;
        let alg = header.alg;
        if !ASYMMETRIC.contains(&alg) {
            return Err(invalid("signed with an algorithm that is not allowed"));
        }
        let alg_name = format!("{alg:?}");
        let advertised = &discovery.id_token_signing_alg_values_supported;
        if !advertised.is_empty() && !advertised.contains(&alg_name) {
            return Err(invalid("signed with an algorithm the provider does not advertise"));
        }
        let jwk = self.key_for(&discovery.jwks_uri, header.kid.as_deref(), alg).await?;
        if let Some(key_alg) = jwk.common.key_algorithm
            && format!("{key_alg:?}") != alg_name
        {
            return Err(invalid("the key is published for another algorithm"));
        }
        let key = DecodingKey::from_jwk(&jwk).map_err(|_| invalid("the provider's key is unusable"))?;
        let mut validation = Validation::new(alg);
        validation.set_audience(&[self.client_id.as_str()]);
        validation.set_issuer(&[discovery.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECONDS;
        let claims = jsonwebtoken::decode::<IdClaims>(token, &key, &validation)
            .map_err(|e| OAuthError::InvalidIdToken(format!("{:?}", e.kind())))?
            .claims;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if claims.iat > now + i64::try_from(LEEWAY_SECONDS).unwrap_or(0) {
            return Err(invalid("issued in the future"));
        }
        // Every OpenID flow stores a nonce; a missing one is refused like a wrong one.
        if nonce.is_none() || claims.nonce.as_deref() != nonce {
            return Err(invalid("the nonce does not match this sign-in"));
        }
        Ok(claims)
    }
}

/// `true`, or the string `"true"` (Apple).
fn flag(value: Option<&serde_json::Value>) -> bool {
    match value {
        Some(serde_json::Value::Bool(verified)) => *verified,
        Some(serde_json::Value::String(text)) => text.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

#[async_trait::async_trait]
impl OAuthProvider for OidcProvider {
    fn id(&self) -> ProviderId {
        self.id
    }

    fn display_name(&self) -> &str {
        &self.display_name
    }

    fn uses_nonce(&self) -> bool {
        true
    }

    async fn authorize_url(&self, request: &AuthorizeRequest<'_>) -> Result<Url, OAuthError> {
        let discovery = self.discovery().await?;
        let mut url = discovery.authorization_endpoint;
        {
            let mut query = url.query_pairs_mut();
            query
                .append_pair("response_type", "code")
                .append_pair("client_id", &self.client_id)
                .append_pair("redirect_uri", request.redirect_uri)
                .append_pair("scope", &self.scope)
                .append_pair("state", request.state)
                .append_pair("code_challenge", request.code_challenge)
                .append_pair("code_challenge_method", "S256");
            if let Some(nonce) = request.nonce {
                query.append_pair("nonce", nonce);
            }
            for (name, value) in &self.extra_authorize_params {
                query.append_pair(name, value);
            }
        }
        Ok(url)
    }

    async fn exchange(&self, request: &ExchangeRequest<'_>) -> Result<ExternalIdentity, OAuthError> {
        let discovery = self.discovery().await?;
        let mut form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", request.callback.code.clone()),
            ("redirect_uri", request.redirect_uri.to_owned()),
            ("code_verifier", request.pkce_verifier.to_owned()),
        ];
        let secret = self.auth.secret()?;
        let supported = discovery.token_endpoint_auth_methods_supported.as_deref();
        // `client_secret_basic` is the default of the spec (and of most providers); Apple only
        // takes `client_secret_post`.
        let basic = supported.is_none_or(|methods| methods.iter().any(|m| m == "client_secret_basic"));
        let mut builder = self.http.post(discovery.token_endpoint.clone());
        match &secret {
            Some(secret) if basic => {
                // RFC 6749 §2.3.1: both parts are form-encoded before Basic encoding.
                let encode = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
                let credentials = format!("{}:{}", encode(&self.client_id), encode(secret.expose_secret()));
                let header = format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(credentials));
                builder = builder.header(reqwest::header::AUTHORIZATION, header);
            }
            Some(secret) => {
                form.push(("client_id", self.client_id.clone()));
                form.push(("client_secret", secret.expose_secret().to_owned()));
            }
            None => form.push(("client_id", self.client_id.clone())),
        }
        let response = builder.form(&form).send().await.map_err(unavailable)?;
        let tokens = read_token_response(response).await?;
        let id_token = tokens
            .id_token
            .ok_or_else(|| OAuthError::ProviderRefused("the token response has no id_token".to_owned()))?;
        let claims = self.verify_id_token(&id_token, &discovery, request.nonce).await?;
        Ok(ExternalIdentity {
            subject: claims.sub,
            email_verified: flag(claims.email_verified.as_ref()) && claims.email.is_some(),
            email: claims.email,
        })
    }
}

/// The algorithm names an ID token may carry, for documentation and tests.
pub fn allowed_algorithms() -> Vec<Algorithm> {
    ASYMMETRIC.to_vec()
}

/// Parses an algorithm name the way discovery documents write it.
pub fn parse_algorithm(name: &str) -> Option<Algorithm> {
    Algorithm::from_str(name).ok()
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use jsonwebtoken::{EncodingKey, Header};

    use super::*;

    const ISSUER: &str = "https://id.example";

    /// A provider whose discovery document and key set are already cached (no network), with
    /// one P-256 key, and an encoder for tokens signed by it.
    fn provider_with_key() -> (OidcProvider, Discovery, EncodingKey) {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).expect("key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("pair");
        let point = pair.public_key().as_ref();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let jwk: Jwk = serde_json::from_value(serde_json::json!({
            "kty": "EC", "crv": "P-256", "kid": "k1", "alg": "ES256", "use": "sig",
            "x": b64.encode(&point[1..33]), "y": b64.encode(&point[33..65]),
        }))
        .expect("jwk");
        let settings = OidcClientSettings {
            issuer: Url::parse(ISSUER).expect("url"),
            client_id: "lectern".to_owned(),
            client_secret: None,
            display_name: "Test".to_owned(),
        };
        let provider = OidcProvider::new(ProviderId::Oidc, &settings, ClientAuth::Secret(None), reqwest::Client::new());
        let discovery = Discovery {
            issuer: ISSUER.to_owned(),
            authorization_endpoint: Url::parse("https://id.example/auth").expect("url"),
            token_endpoint: Url::parse("https://id.example/token").expect("url"),
            // Nothing listens there: a refetch would fail, so the tests prove none happens.
            jwks_uri: Url::parse("http://127.0.0.1:9/jwks").expect("url"),
            id_token_signing_alg_values_supported: vec!["ES256".to_owned(), "RS256".to_owned()],
            token_endpoint_auth_methods_supported: None,
        };
        *provider.jwks.try_write().expect("unlocked") = Some(Cached { value: vec![jwk], fetched: Instant::now() });
        (provider, discovery, EncodingKey::from_ec_der(pkcs8.as_ref()))
    }

    fn claims(nonce: &str) -> serde_json::Value {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        serde_json::json!({
            "iss": ISSUER, "aud": "lectern", "sub": "user-1", "iat": now, "exp": now + 300,
            "nonce": nonce, "email": "u@example.com", "email_verified": true,
        })
    }

    fn es256(key: &EncodingKey, kid: &str, claims: &serde_json::Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, key).expect("signed")
    }

    #[tokio::test]
    async fn a_well_formed_id_token_is_accepted_and_every_deviation_refused() {
        let (provider, discovery, key) = provider_with_key();
        let verify = |token: String| {
            let provider = &provider;
            let discovery = &discovery;
            async move { provider.verify_id_token(&token, discovery, Some("n-1")).await }
        };
        let accepted = verify(es256(&key, "k1", &claims("n-1"))).await.expect("valid");
        assert_eq!(accepted.sub, "user-1");

        let refused = |result: Result<IdClaims, OAuthError>| matches!(result, Err(OAuthError::InvalidIdToken(_)));
        assert!(refused(verify(es256(&key, "k1", &claims("another nonce"))).await), "nonce");
        let mut other_audience = claims("n-1");
        other_audience["aud"] = "someone-else".into();
        assert!(refused(verify(es256(&key, "k1", &other_audience)).await), "audience");
        let mut other_issuer = claims("n-1");
        other_issuer["iss"] = "https://evil.example".into();
        assert!(refused(verify(es256(&key, "k1", &other_issuer)).await), "issuer");
        let mut expired = claims("n-1");
        expired["exp"] = (time::OffsetDateTime::now_utc().unix_timestamp() - 3600).into();
        assert!(refused(verify(es256(&key, "k1", &expired)).await), "expiry");
        // An unknown kid would refetch the set, but not twice within JWKS_REFETCH_MIN.
        assert!(refused(verify(es256(&key, "unknown", &claims("n-1"))).await), "unknown key");

        // `alg: none`, and HS256 keyed with anything, are never accepted.
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let unsigned =
            format!("{}.{}.", b64.encode(br#"{"alg":"none","kid":"k1"}"#), b64.encode(claims("n-1").to_string()));
        assert!(refused(verify(unsigned).await), "alg none");
        let mut hs_header = Header::new(Algorithm::HS256);
        hs_header.kid = Some("k1".to_owned());
        let hs =
            jsonwebtoken::encode(&hs_header, &claims("n-1"), &EncodingKey::from_secret(b"public")).expect("signed");
        assert!(refused(verify(hs).await), "HS256");

        // A signature from another key under the same kid.
        let stranger =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).expect("key");
        let forged = es256(&EncodingKey::from_ec_der(stranger.as_ref()), "k1", &claims("n-1"));
        assert!(refused(verify(forged).await), "foreign signature");
    }

    #[test]
    fn email_verified_may_be_a_boolean_or_the_string_true() {
        assert!(flag(Some(&serde_json::json!(true))));
        assert!(flag(Some(&serde_json::json!("true"))));
        assert!(!flag(Some(&serde_json::json!("false"))));
        assert!(!flag(Some(&serde_json::json!(false))));
        assert!(!flag(None));
    }

    #[test]
    fn only_asymmetric_algorithms_are_allowed() {
        let allowed = allowed_algorithms();
        assert!(!allowed.contains(&Algorithm::HS256));
        assert!(allowed.contains(&Algorithm::RS256));
        assert_eq!(parse_algorithm("ES256"), Some(Algorithm::ES256));
    }
}
