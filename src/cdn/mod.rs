//! Delivery: CloudFront-compatible signed URLs and cookies, their verification, and CloudFront
//! invalidations (sent by the `cdn.invalidate` job). The local signed origin (`/cdn/{key…}`)
//! that verifies them is in `src/delivery/origin.rs`; this module knows no HTTP server.
//!
//! The scheme is CloudFront's own, so the same signatures work whether viewers reach Lectern's
//! local origin or a CloudFront distribution in front of the object store:
//!
//! - a [`Policy`] (one statement: a resource, `DateLessThan`, optionally `DateGreaterThan` and
//!   `IpAddress`) is written as compact JSON by [`Policy::to_json`], the only place policy JSON
//!   is written, byte for byte as botocore's `CloudFrontSigner.build_policy` writes it;
//! - the [`Signer`] signs those bytes with RSA PKCS#1 v1.5 over SHA-1 (CloudFront's default) or
//!   SHA-256 (then `Hash-Algorithm=SHA256` travels with the signature), and encodes in
//!   CloudFront's URL-safe base64 (`+`→`-`, `=`→`_`, `/`→`~`);
//! - a canned URL carries `Expires`, `Signature`, `Key-Pair-Id`; a custom policy carries
//!   `Policy`, `Signature`, `Key-Pair-Id`, as query parameters or as `CloudFront-*` cookies;
//! - the [`Verifier`] applies CloudFront's rules with the public keys it trusts, by key-pair id.
//!
//! A playback session builds one custom policy whose resource is a wildcard over one asset
//! version ([`Cdn::asset_version_policy`]), signs it once, and appends the same query string
//! ([`SignedPolicy::query`]) to every child URI of its manifests, or hands it out as cookies.

pub mod cookies;
pub mod encoding;
pub mod invalidation;
pub mod policy;
pub mod signer;
pub mod verify;

use std::time::Duration;

pub use cookies::{CookieAttributes, SignedCookies};
pub use invalidation::{CloudFrontSettings, Invalidation, InvalidationError, Invalidator};
pub use policy::{Policy, SourceIp};
pub use signer::{SignedPolicy, Signer};
pub use verify::{SignedRequest, TrustedKey, Verifier};

use crate::keys::CdnSigningKey;

/// Why a signature was refused or could not be made. Every refusal has a stable code; the local
/// origin answers all of them with 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CdnError {
    #[error("the request carries no signature (Signature, Key-Pair-Id and Expires or Policy)")]
    SignatureMissing,
    #[error("the signature or its policy is malformed or does not match")]
    SignatureInvalid,
    #[error("the signature has expired")]
    SignatureExpired,
    #[error("the signature is not valid yet")]
    SignatureNotYetValid,
    #[error("the signature does not allow this resource")]
    ResourceNotAllowed,
    #[error("the signature does not allow this client address")]
    IpNotAllowed,
    #[error("the key-pair id is not trusted")]
    UnknownKeyPair,
    #[error("an IP address condition must be an address or a CIDR block: {0}")]
    InvalidSourceIp(String),
    #[error("cannot sign the policy: {0}")]
    Signing(String),
}

impl CdnError {
    /// Stable, snake_case, part of the API.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::SignatureMissing => "signature_missing",
            Self::SignatureInvalid => "signature_invalid",
            Self::SignatureExpired => "signature_expired",
            Self::SignatureNotYetValid => "signature_not_yet_valid",
            Self::ResourceNotAllowed => "resource_not_allowed",
            Self::IpNotAllowed => "ip_not_allowed",
            Self::UnknownKeyPair => "unknown_key_pair",
            Self::InvalidSourceIp(_) => "invalid_source_ip",
            Self::Signing(_) => "internal_error",
        }
    }

    /// False only when signing itself failed (our fault).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Signing(_))
    }
}

/// The hash under the RSA signature. CloudFront assumes SHA-1 unless `Hash-Algorithm=SHA256`
/// (or the `CloudFront-Hash-Algorithm` cookie) says otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HashAlgorithm {
    #[default]
    Sha1,
    Sha256,
}

impl HashAlgorithm {
    /// The value of `Hash-Algorithm` for this hash; SHA-1 is the default and is not written.
    pub fn parameter(self) -> Option<&'static str> {
        match self {
            Self::Sha1 => None,
            Self::Sha256 => Some("SHA256"),
        }
    }

    /// Reads a `Hash-Algorithm` value; an absent one means SHA-1.
    pub fn parse_parameter(value: Option<&str>) -> Result<Self, CdnError> {
        match value {
            None | Some("SHA1") => Ok(Self::Sha1),
            Some("SHA256") => Ok(Self::Sha256),
            Some(_) => Err(CdnError::SignatureInvalid),
        }
    }
}

/// Resolved delivery settings (see `config.rs` for the variables).
#[derive(Debug, Clone)]
pub struct CdnSettings {
    /// Where signed URLs point, without a trailing slash: the local origin
    /// (`{public_url}/cdn`) by default, or a CloudFront distribution's domain.
    pub base_url: String,
    pub hash_algorithm: HashAlgorithm,
    /// How long signatures made for playback stay valid.
    pub signature_ttl: Duration,
    /// Public keys trusted besides the own key (during a rotation).
    pub trusted_keys: Vec<TrustedKey>,
    /// `max-age` of manifests served by the local origin (segments are immutable).
    pub manifest_max_age: Duration,
    /// How long a playback session lasts; its CDN policy expires with it.
    pub playback_session_ttl: Duration,
    /// CloudFront invalidations; `None` when no distribution is configured.
    pub cloudfront: Option<CloudFrontSettings>,
}

impl CdnSettings {
    /// The documented defaults for a service reachable at `public_url`: the local origin, SHA-1,
    /// signatures valid for six hours.
    pub fn local(public_url: &url::Url) -> Self {
        Self {
            base_url: format!("{}/cdn", public_url.as_str().trim_end_matches('/')),
            hash_algorithm: HashAlgorithm::Sha1,
            signature_ttl: Duration::from_secs(6 * 3600),
            trusted_keys: Vec::new(),
            manifest_max_age: Duration::from_secs(10),
            playback_session_ttl: Duration::from_secs(6 * 3600),
            cloudfront: None,
        }
    }
}

/// Delivery state shared by every request through `AppState`.
#[derive(Debug)]
pub struct Cdn {
    pub settings: CdnSettings,
    pub signer: Signer,
    pub verifier: Verifier,
}

impl Cdn {
    /// The signer uses the own CDN key; the verifier trusts its public half plus the configured
    /// extra keys.
    pub fn new(settings: CdnSettings, key: &CdnSigningKey) -> Self {
        let signer = Signer::new(&key.key_pair_id, key.private_key.clone(), settings.hash_algorithm);
        let own = TrustedKey::new(&key.key_pair_id, key.private_key.to_public_key());
        let verifier = Verifier::new(std::iter::once(own).chain(settings.trusted_keys.iter().cloned()));
        Self { settings, signer, verifier }
    }

    /// When a signature made at `now` (Unix seconds) for playback expires.
    pub fn expires_at(&self, now: i64) -> i64 {
        now.saturating_add(i64::try_from(self.settings.signature_ttl.as_secs()).unwrap_or(i64::MAX))
    }

    /// The URL of an object key under the CDN base URL. Keys are validated `ObjectKey`s, whose
    /// characters are safe in a path except for a few that are percent-encoded here.
    pub fn url_for(&self, key: &crate::storage::ObjectKey) -> String {
        format!("{}/{}", self.settings.base_url, encoding::encode_path(key.as_str()))
    }

    /// The custom policy of one playback session: every object under
    /// `assets/{asset_id}/v{version}/`, until `expires` (Unix seconds), optionally only from
    /// `ip`.
    pub fn asset_version_policy(
        &self,
        asset_id: &uuid::Uuid,
        version: u32,
        expires: i64,
        ip: Option<SourceIp>,
    ) -> Policy {
        let resource = format!("{}/assets/{asset_id}/v{version}/*", self.settings.base_url);
        let mut policy = Policy::custom(resource, expires);
        policy.ip_address = ip;
        policy
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cdn() -> Cdn {
        let pem = include_str!("../../tests/cdn/test-key-pkcs1.pem");
        let key = CdnSigningKey {
            key_pair_id: "K2JCJMDEHXQW5F".to_owned(),
            private_key: crate::keys::parse_rsa(pem).expect("the fixture parses"),
        };
        let public_url = url::Url::parse("https://lectern.example").expect("valid");
        Cdn::new(CdnSettings::local(&public_url), &key)
    }

    #[test]
    fn one_session_policy_signs_every_object_of_its_asset_version_and_nothing_else() {
        let cdn = cdn();
        let asset_id = uuid::Uuid::nil();
        let now = 1_800_000_000;
        let expires = cdn.expires_at(now);
        assert_eq!(expires, now + 6 * 3600);
        let policy = cdn.asset_version_policy(&asset_id, 3, expires, None);
        let signed = cdn.signer.sign_policy(&policy).expect("signs");
        let client: std::net::IpAddr = "203.0.113.5".parse().expect("ip");
        for key in ["master.m3u8", "720p/seg 00001.m4s", "poster.jpg"] {
            let key = crate::storage::ObjectKey::parse(format!("assets/{asset_id}/v3/{key}")).expect("valid key");
            let url = signed.sign_url(&cdn.url_for(&key));
            assert!(url.starts_with("https://lectern.example/cdn/assets/"), "{url}");
            assert_eq!(cdn.verifier.verify(&SignedRequest::from_url(&url), client, now), Ok(()), "{url}");
        }
        let other_version = crate::storage::ObjectKey::parse(format!("assets/{asset_id}/v2/master.m3u8")).expect("key");
        let url = signed.sign_url(&cdn.url_for(&other_version));
        assert_eq!(cdn.verifier.verify(&SignedRequest::from_url(&url), client, now), Err(CdnError::ResourceNotAllowed));
    }
}
