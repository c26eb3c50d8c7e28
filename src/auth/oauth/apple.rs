//! Sign in with Apple: an OpenID Connect provider with two quirks.
//!
//! - The client secret is not a static string but a JWT that we sign (ES256) with the team's
//!   Sign in with Apple key: header `kid` = key id; claims `iss` = team id, `iat`, `exp` (Apple
//!   accepts up to six months; we mint one for an hour and reuse it for 50 minutes),
//!   `aud` = `https://appleid.apple.com`, `sub` = the Services ID (client id).
//! - When the name or email scope is requested Apple posts the callback
//!   (`response_mode=form_post`), so the callback also accepts a form `POST`; and its ID tokens
//!   have carried `email_verified` as the string `"true"` (handled in `oidc.rs`).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use super::oidc::{ClientAuth, OidcProvider};
use super::{OAuthError, ProviderId};
use crate::auth::{AppleSettings, OidcClientSettings};

/// The audience Apple requires in the client secret.
pub const APPLE_AUDIENCE: &str = "https://appleid.apple.com";
/// Lifetime of a minted client secret…
const SECRET_LIFETIME: Duration = Duration::from_secs(3600);
/// …and how long one is reused before a new one is minted (well before it expires).
const SECRET_REUSE: Duration = Duration::from_secs(50 * 60);

/// The claims of Apple's client secret.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ClientSecretClaims {
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub aud: String,
    pub sub: String,
}

/// Mints and caches the client-secret JWT.
pub struct ClientSecret {
    team_id: String,
    client_id: String,
    key_id: String,
    key: EncodingKey,
    cached: Mutex<Option<(SecretString, Instant)>>,
}

impl ClientSecret {
    /// Reads the PKCS#8 PEM of the P-256 key (Apple's `.p8` file).
    pub fn new(settings: &AppleSettings) -> Result<Self, String> {
        let der = crate::keys::pem_body(settings.private_key_pem.expose_secret(), "PRIVATE KEY")
            .map_err(|e| format!("LECTERN_OAUTH_APPLE_PRIVATE_KEY: {e}"))?;
        Ok(Self::from_pkcs8_der(&settings.team_id, &settings.client_id, &settings.key_id, &der))
    }

    pub fn from_pkcs8_der(team_id: &str, client_id: &str, key_id: &str, der: &[u8]) -> Self {
        Self {
            team_id: team_id.to_owned(),
            client_id: client_id.to_owned(),
            key_id: key_id.to_owned(),
            key: EncodingKey::from_ec_der(der),
            cached: Mutex::new(None),
        }
    }

    /// A valid client secret: the cached one while it is young enough, else a new one.
    pub fn current(&self) -> Result<SecretString, OAuthError> {
        // A poisoned lock only means another request panicked while holding it; the cache is
        // still a valid value or empty.
        let mut cached = self.cached.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((secret, minted)) = cached.as_ref()
            && minted.elapsed() < SECRET_REUSE
        {
            return Ok(secret.clone());
        }
        let secret = SecretString::from(self.mint(time::OffsetDateTime::now_utc().unix_timestamp())?);
        *cached = Some((secret.clone(), Instant::now()));
        Ok(secret)
    }

    /// Signs a client secret issued at `now` (seconds since the epoch).
    pub fn mint(&self, now: i64) -> Result<String, OAuthError> {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(self.key_id.clone());
        let claims = ClientSecretClaims {
            iss: self.team_id.clone(),
            iat: now,
            exp: now + i64::try_from(SECRET_LIFETIME.as_secs()).unwrap_or(3600),
            aud: APPLE_AUDIENCE.to_owned(),
            sub: self.client_id.clone(),
        };
        jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|e| OAuthError::Setup(format!("cannot sign the Apple client secret ({e})")))
    }
}

/// The Apple provider: OpenID Connect with the minted secret, `name email` scopes and a posted
/// callback.
pub fn provider(settings: &AppleSettings, http: reqwest::Client) -> Result<OidcProvider, String> {
    let secret = ClientSecret::new(settings)?;
    let client = OidcClientSettings {
        issuer: settings.issuer.clone(),
        client_id: settings.client_id.clone(),
        client_secret: None,
        display_name: "Apple".to_owned(),
    };
    Ok(OidcProvider::with_options(
        ProviderId::Apple,
        &client,
        ClientAuth::Apple(secret),
        http,
        "openid name email",
        vec![("response_mode".to_owned(), "form_post".to_owned())],
    ))
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{
        ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, UnparsedPublicKey,
    };
    use base64::Engine;

    use super::*;

    #[test]
    fn the_client_secret_is_an_es256_jwt_with_apples_claims_that_verifies_with_the_public_key() {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).expect("key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("pair");
        let secret = ClientSecret::from_pkcs8_der("TEAM123456", "com.example.lectern", "KEY1234567", pkcs8.as_ref());
        let now = 1_700_000_000;
        let jwt = secret.mint(now).expect("signed");

        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: serde_json::Value = serde_json::from_slice(&b64.decode(parts[0]).expect("b64")).expect("json");
        assert_eq!(header["alg"], "ES256");
        assert_eq!(header["kid"], "KEY1234567");
        let claims: ClientSecretClaims = serde_json::from_slice(&b64.decode(parts[1]).expect("b64")).expect("json");
        assert_eq!(
            claims,
            ClientSecretClaims {
                iss: "TEAM123456".to_owned(),
                iat: now,
                exp: now + 3600,
                aud: "https://appleid.apple.com".to_owned(),
                sub: "com.example.lectern".to_owned(),
            }
        );
        assert!(claims.exp - claims.iat <= 15_777_000, "Apple allows at most six months");

        // The signature is the raw r‖s of ES256 (RFC 7518 §3.4) over `header.claims`.
        let signature = b64.decode(parts[2]).expect("b64");
        let public = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, pair.public_key().as_ref());
        public
            .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
            .expect("verifies with the public key");
        let mut tampered = signature;
        tampered[10] ^= 1;
        assert!(public.verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &tampered).is_err());
    }

    #[test]
    fn a_client_secret_is_reused_while_young() {
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).expect("key");
        let secret = ClientSecret::from_pkcs8_der("T", "c", "k", pkcs8.as_ref());
        let first = secret.current().expect("minted");
        let second = secret.current().expect("cached");
        assert_eq!(first.expose_secret(), second.expose_secret());
    }
}
