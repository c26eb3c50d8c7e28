//! The platform's id_token: its keys (cached per platform) and every check LTI 1.3 asks of a
//! launch — signature (RS256, the only algorithm LTI allows), `iss`, `aud`/`azp`, `exp`/`iat`
//! with the configured leeway, `nonce`, deployment, message type and version.
//!
//! Keys: a platform's JWKS is cached for `LECTERN_LTI_JWKS_CACHE_TTL`; a token signed with a
//! `kid` the cache does not hold reads the set again once (a platform rotated its keys), and
//! unknown `kid`s refetch no more than once per [`REFETCH_MIN`] per platform, so made-up key ids
//! cannot make us hammer the platform.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::LtiError;
use super::platforms::Platform;

/// The least time between two key-set reads caused by unknown key ids.
pub const REFETCH_MIN: Duration = Duration::from_secs(2);

pub const CLAIM_MESSAGE_TYPE: &str = "https://purl.imsglobal.org/spec/lti/claim/message_type";
pub const CLAIM_VERSION: &str = "https://purl.imsglobal.org/spec/lti/claim/version";
pub const CLAIM_DEPLOYMENT_ID: &str = "https://purl.imsglobal.org/spec/lti/claim/deployment_id";
pub const CLAIM_TARGET_LINK_URI: &str = "https://purl.imsglobal.org/spec/lti/claim/target_link_uri";
pub const CLAIM_RESOURCE_LINK: &str = "https://purl.imsglobal.org/spec/lti/claim/resource_link";
pub const CLAIM_CONTEXT: &str = "https://purl.imsglobal.org/spec/lti/claim/context";
pub const CLAIM_ROLES: &str = "https://purl.imsglobal.org/spec/lti/claim/roles";
pub const CLAIM_CUSTOM: &str = "https://purl.imsglobal.org/spec/lti/claim/custom";
pub const CLAIM_DEEP_LINKING_SETTINGS: &str = "https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings";

pub const RESOURCE_LINK_REQUEST: &str = "LtiResourceLinkRequest";
pub const DEEP_LINKING_REQUEST: &str = "LtiDeepLinkingRequest";

struct CachedSet {
    jwks_url: String,
    keys: Vec<Jwk>,
    fetched: Instant,
}

/// Every platform's key set, read when first needed.
pub struct KeyCache {
    http: reqwest::Client,
    ttl: Duration,
    sets: Mutex<HashMap<Uuid, CachedSet>>,
}

impl KeyCache {
    pub fn new(http: reqwest::Client, ttl: Duration) -> Self {
        Self { http, ttl, sets: Mutex::new(HashMap::new()) }
    }

    async fn fetch(&self, jwks_url: &str) -> Result<Vec<Jwk>, LtiError> {
        let unavailable = |e: reqwest::Error| LtiError::PlatformUnavailable(format!("its key set ({jwks_url}): {e}"));
        let response = self.http.get(jwks_url).send().await.map_err(unavailable)?;
        let response = response.error_for_status().map_err(unavailable)?;
        let set: Value = response.json().await.map_err(unavailable)?;
        // One key of a type we do not know (or an encryption key) must not spoil the set.
        Ok(set
            .get("keys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter(|key| key.get("use").and_then(Value::as_str).is_none_or(|u| u == "sig"))
                    .filter_map(|key| serde_json::from_value::<Jwk>(key.clone()).ok())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The platform's key `kid`, from the cache while it is fresh; an unknown `kid` reads the set
    /// again once.
    pub async fn key(&self, platform: &Platform, kid: Option<&str>) -> Result<Jwk, LtiError> {
        let find = |keys: &[Jwk]| -> Option<Jwk> {
            match kid {
                Some(kid) => keys.iter().find(|key| key.common.key_id.as_deref() == Some(kid)).cloned(),
                // Without a `kid` only a set of one RSA key is unambiguous.
                None => {
                    let mut rsa = keys.iter().filter(|key| {
                        DecodingKey::from_jwk(key).is_ok_and(|k| k.family() == Algorithm::RS256.family())
                    });
                    match (rsa.next(), rsa.next()) {
                        (Some(only), None) => Some(only.clone()),
                        _ => None,
                    }
                }
            }
        };
        let mut sets = self.sets.lock().await;
        if let Some(cached) = sets.get(&platform.platform_id).filter(|c| c.jwks_url == platform.jwks_url)
            && cached.fetched.elapsed() < self.ttl
        {
            if let Some(key) = find(&cached.keys) {
                return Ok(key);
            }
            if cached.fetched.elapsed() < REFETCH_MIN {
                return Err(unknown_key(kid));
            }
        }
        let keys = self.fetch(&platform.jwks_url).await?;
        let found = find(&keys);
        tracing::info!(platform_id = %platform.platform_id, keys = keys.len(), "read the platform's key set");
        sets.insert(
            platform.platform_id,
            CachedSet { jwks_url: platform.jwks_url.clone(), keys, fetched: Instant::now() },
        );
        found.ok_or_else(|| unknown_key(kid))
    }
}

fn unknown_key(kid: Option<&str>) -> LtiError {
    LtiError::id_token(
        "lti_bad_signature",
        format!("the id_token is signed with a key the platform does not publish (kid {kid:?})"),
    )
}

/// A launch's checked claims.
#[derive(Debug, Clone)]
pub struct LaunchClaims {
    pub subject: String,
    pub message_type: String,
    pub deployment_id: String,
    pub nonce: String,
    pub expires_at: i64,
    pub name: Option<String>,
    pub email: Option<String>,
    pub target_link_uri: Option<String>,
    /// All claims, for the message-specific ones (resource link, deep-linking settings, custom).
    pub raw: serde_json::Map<String, Value>,
}

/// Checks signature, issuer, audience, times, deployment, message type and version, and that the
/// nonce is `expected_nonce`. The nonce's single use is recorded by the caller.
pub async fn verify(
    cache: &KeyCache,
    platform: &Platform,
    token: &str,
    expected_nonce: &str,
    leeway: Duration,
) -> Result<LaunchClaims, LtiError> {
    let header = jsonwebtoken::decode_header(token)
        .map_err(|_| LtiError::id_token("lti_id_token_invalid", "the id_token is not a JWT"))?;
    // LTI 1.3 (IMS Security Framework §5.1.2): RS256. Anything else — `none`, an HMAC keyed with
    // something public — is refused before a key is looked up.
    if header.alg != Algorithm::RS256 {
        return Err(LtiError::id_token(
            "lti_bad_signature",
            format!("the id_token is signed with {:?}; LTI 1.3 requires RS256", header.alg),
        ));
    }
    let jwk = cache.key(platform, header.kid.as_deref()).await?;
    let key = DecodingKey::from_jwk(&jwk)
        .map_err(|_| LtiError::id_token("lti_bad_signature", "the platform's published key is unusable"))?;
    let mut validation = Validation::new(Algorithm::RS256);
    validation.set_audience(&[platform.client_id.as_str()]);
    validation.set_issuer(&[platform.issuer.as_str()]);
    validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    validation.leeway = leeway.as_secs();
    let data = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key, &validation).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        match e.kind() {
            ErrorKind::InvalidSignature => {
                LtiError::id_token("lti_bad_signature", "the id_token's signature does not verify")
            }
            ErrorKind::ExpiredSignature => LtiError::id_token(
                "lti_token_expired",
                "the id_token has expired (check that the platform's and Lectern's clocks agree)",
            ),
            ErrorKind::InvalidAudience => LtiError::id_token(
                "lti_wrong_audience",
                format!("the id_token's aud does not include this tool's client id {:?}", platform.client_id),
            ),
            ErrorKind::InvalidIssuer => LtiError::id_token(
                "lti_wrong_issuer",
                format!("the id_token's iss is not the platform's issuer {:?}", platform.issuer),
            ),
            ErrorKind::MissingRequiredClaim(claim) => {
                LtiError::id_token("lti_id_token_invalid", format!("the id_token has no {claim} claim"))
            }
            other => LtiError::id_token("lti_id_token_invalid", format!("the id_token is not valid ({other:?})")),
        }
    })?;
    let claims = data.claims;
    let str_claim = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let leeway_seconds = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
    let iat = claims.get("iat").and_then(Value::as_i64).unwrap_or(i64::MAX);
    if iat > now.saturating_add(leeway_seconds) {
        return Err(LtiError::id_token(
            "lti_token_not_yet_valid",
            "the id_token was issued in the future (check that the platform's and Lectern's clocks agree)",
        ));
    }
    // OpenID Connect Core §3.1.3.7: with several audiences, `azp` must be present; when present
    // it must be this client.
    let several_audiences = claims.get("aud").and_then(Value::as_array).is_some_and(|aud| aud.len() > 1);
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != platform.client_id => {
            return Err(LtiError::id_token(
                "lti_wrong_audience",
                format!("the id_token's azp is {azp:?}, not this tool's client id"),
            ));
        }
        None if several_audiences => {
            return Err(LtiError::id_token("lti_wrong_audience", "the id_token has several audiences and no azp"));
        }
        _ => {}
    }
    let nonce = str_claim("nonce").unwrap_or_default();
    if nonce.is_empty() || nonce != expected_nonce {
        return Err(LtiError::id_token("lti_nonce_invalid", "the id_token's nonce is not the one this login sent"));
    }
    let version = str_claim(CLAIM_VERSION).unwrap_or_default();
    if version != "1.3.0" {
        return Err(LtiError::UnsupportedVersion(version));
    }
    let message_type = str_claim(CLAIM_MESSAGE_TYPE).unwrap_or_default();
    if message_type != RESOURCE_LINK_REQUEST && message_type != DEEP_LINKING_REQUEST {
        return Err(LtiError::UnsupportedMessage(message_type));
    }
    let deployment_id = str_claim(CLAIM_DEPLOYMENT_ID).unwrap_or_default();
    if !platform.deployment_ids.contains(&deployment_id) {
        return Err(LtiError::UnknownDeployment(deployment_id));
    }
    let subject = str_claim("sub").filter(|sub| !sub.is_empty() && sub.len() <= 255).ok_or_else(|| {
        LtiError::id_token(
            "lti_id_token_invalid",
            "the id_token has no usable sub (anonymous launches are not supported)",
        )
    })?;
    Ok(LaunchClaims {
        subject,
        message_type,
        deployment_id,
        nonce,
        expires_at: claims.get("exp").and_then(Value::as_i64).unwrap_or(now),
        name: str_claim("name"),
        email: str_claim("email"),
        target_link_uri: str_claim(CLAIM_TARGET_LINK_URI),
        raw: claims,
    })
}
