//! Access tokens (EdDSA JWTs with a `kid`, verified against the current and previous keys) and
//! refresh tokens (opaque random strings, stored only as SHA-256).

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{AuthError, Role};
use crate::keys::Keys;

/// The audience of every access token: this API.
pub const AUDIENCE: &str = "lectern";

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_SECONDS: u64 = 30;

/// What an access token says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The account.
    pub sub: Uuid,
    /// The session (refresh-token family) the token belongs to.
    pub sid: Uuid,
    /// The account's roles when the token was issued (informational for clients; the server
    /// authorises on the current roles).
    pub roles: Vec<Role>,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: Uuid,
}

/// An issued access token.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: String,
    pub expires_in: u64,
}

pub struct TokenKeys {
    signing: EncodingKey,
    signing_kid: String,
    verifying: HashMap<String, DecodingKey>,
    jwks: serde_json::Value,
    issuer: String,
    ttl: Duration,
    validation: Validation,
}

impl TokenKeys {
    pub fn new(keys: &Keys, issuer: String, ttl: Duration) -> Self {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut verifying = HashMap::new();
        let mut published = Vec::new();
        let current = (&keys.token.key_id, &keys.token.public_key);
        let previous = keys.token_previous.iter().map(|k| (&k.key_id, &k.public_key));
        for (key_id, public_key) in std::iter::once(current).chain(previous) {
            verifying.insert(key_id.clone(), DecodingKey::from_ed_der(public_key));
            published.push(serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64.encode(public_key),
                "kid": key_id,
                "use": "sig",
                "alg": "EdDSA",
            }));
        }
        // Only EdDSA is accepted, whatever the header claims: this is what stops `alg: none` and
        // HS256-signed-with-the-public-key forgeries.
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[AUDIENCE]);
        validation.set_issuer(&[issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "nbf", "aud", "iss", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        Self {
            signing: EncodingKey::from_ed_der(&keys.token.pkcs8_der),
            signing_kid: keys.token.key_id.clone(),
            verifying,
            jwks: serde_json::json!({ "keys": published }),
            issuer,
            ttl,
            validation,
        }
    }

    /// The JSON Web Key Set to publish: the signing key and every verification-only key.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }

    pub fn issue(&self, account_id: Uuid, session_id: Uuid, roles: &[Role]) -> Result<AccessToken, AuthError> {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = AccessClaims {
            sub: account_id,
            sid: session_id,
            roles: roles.to_vec(),
            iat: now,
            nbf: now,
            exp: now.saturating_add(ttl),
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            jti: Uuid::new_v4(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.signing_kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.signing).map_err(AuthError::Signing)?;
        Ok(AccessToken { token, expires_in: self.ttl.as_secs() })
    }

    /// Checks signature, algorithm, key id, audience, issuer and validity period. Every failure
    /// is `invalid_token` except an expired token (`token_expired`), which tells a well-behaved
    /// client to refresh.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
        if header.alg != Algorithm::EdDSA {
            return Err(AuthError::InvalidToken);
        }
        let key = header.kid.as_deref().and_then(|kid| self.verifying.get(kid)).ok_or(AuthError::InvalidToken)?;
        match jsonwebtoken::decode::<AccessClaims>(token, key, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(error) if matches!(error.kind(), ErrorKind::ExpiredSignature) => Err(AuthError::TokenExpired),
            Err(_) => Err(AuthError::InvalidToken),
        }
    }
}

/// A new refresh token: 256 random bits, base64url without padding, and the hash to store.
pub fn new_refresh_token() -> Result<(String, Vec<u8>), AuthError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AuthError::Hashing(format!("no system randomness ({e})")))?;
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let hash = hash_refresh_token(&token);
    Ok((token, hash))
}

/// The only form in which refresh tokens are stored. A fast hash is enough: the input has 256 bits
/// of entropy, so there is nothing to brute-force.
pub fn hash_refresh_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        let dir = tempfile::tempdir().expect("temp dir");
        let key = |name: &str, setting| crate::keys::KeyPath {
            path: dir.path().join(name),
            setting,
            generate_if_missing: true,
        };
        let paths = crate::keys::KeyPaths {
            cdn_key: key("cdn.pem", "LECTERN_CDN_KEY_FILE"),
            cdn_key_pair_id: None,
            token_key: key("token.pem", "LECTERN_TOKEN_KEY_FILE"),
            token_previous_keys: Vec::new(),
            storage_secret: key("secret", "LECTERN_STORAGE_SECRET_FILE"),
            certificate_key: key("certificate.pem", "LECTERN_CERTIFICATE_KEY_FILE"),
            certificate_previous_keys: Vec::new(),
            lti_key: key("lti.pem", "LECTERN_LTI_KEY_FILE"),
            webhook_key: key("webhook-secret-key", "LECTERN_WEBHOOK_KEY_FILE"),
            webhook_previous_keys: Vec::new(),
        };
        crate::keys::load_or_generate(&paths).expect("generated").0
    }

    #[test]
    fn an_issued_token_verifies_and_carries_its_claims() {
        let tokens = TokenKeys::new(&keys(), "http://lectern.test".to_owned(), Duration::from_secs(60));
        let (account, session) = (Uuid::new_v4(), Uuid::new_v4());
        let issued = tokens.issue(account, session, &[Role::Learner, Role::Admin]).expect("signed");
        let claims = tokens.verify(&issued.token).expect("valid");
        assert_eq!((claims.sub, claims.sid), (account, session));
        assert_eq!(claims.roles, vec![Role::Learner, Role::Admin]);
        assert_eq!(claims.exp - claims.iat, 60);
    }

    #[test]
    fn a_token_from_another_issuer_or_key_is_refused() {
        let keys = keys();
        let ours = TokenKeys::new(&keys, "http://lectern.test".to_owned(), Duration::from_secs(60));
        let theirs = TokenKeys::new(&keys, "http://elsewhere.test".to_owned(), Duration::from_secs(60));
        let token = theirs.issue(Uuid::new_v4(), Uuid::new_v4(), &[Role::Learner]).expect("signed");
        assert!(matches!(ours.verify(&token.token), Err(AuthError::InvalidToken)));
        let stranger = TokenKeys::new(&self::keys(), "http://lectern.test".to_owned(), Duration::from_secs(60));
        let token = stranger.issue(Uuid::new_v4(), Uuid::new_v4(), &[Role::Learner]).expect("signed");
        assert!(matches!(ours.verify(&token.token), Err(AuthError::InvalidToken)));
    }

    #[test]
    fn refresh_tokens_are_256_bits_and_stored_as_their_sha256() {
        let (token, hash) = new_refresh_token().expect("random");
        assert_eq!(token.len(), 43);
        assert_eq!(hash, hash_refresh_token(&token));
        assert_eq!(hash.len(), 32);
    }
}
