//! Signing: policies in, CloudFront query strings and cookies out.

use rsa::PrivateKey;
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer as _};

use super::cookies::SignedCookies;
use super::policy::Policy;
use super::{CdnError, HashAlgorithm, encoding};

/// Signs policies with one RSA key under one key-pair id.
pub struct Signer {
    key_pair_id: String,
    hash: HashAlgorithm,
    key: SigningKeyFor,
}

enum SigningKeyFor {
    Sha1(SigningKey<sha1::Sha1>),
    Sha256(SigningKey<sha2::Sha256>),
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_pair_id", &self.key_pair_id)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl Signer {
    pub fn new(key_pair_id: &str, key: PrivateKey, hash: HashAlgorithm) -> Self {
        let key = match hash {
            HashAlgorithm::Sha1 => SigningKeyFor::Sha1(SigningKey::new(key)),
            HashAlgorithm::Sha256 => SigningKeyFor::Sha256(SigningKey::new(key)),
        };
        Self { key_pair_id: key_pair_id.to_owned(), hash, key }
    }

    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    pub fn hash_algorithm(&self) -> HashAlgorithm {
        self.hash
    }

    /// The raw RSA PKCS#1 v1.5 signature of `message` (deterministic: the same bytes each time).
    pub fn raw_signature(&self, message: &[u8]) -> Result<Vec<u8>, CdnError> {
        let signature = match &self.key {
            SigningKeyFor::Sha1(key) => key.try_sign(message),
            SigningKeyFor::Sha256(key) => key.try_sign(message),
        };
        signature.map(|s| s.to_vec()).map_err(|e| CdnError::Signing(e.to_string()))
    }

    /// Signs a custom policy once; the result can be appended to any number of URLs that the
    /// policy's resource covers, or handed out as cookies.
    pub fn sign_policy(&self, policy: &Policy) -> Result<SignedPolicy, CdnError> {
        let json = policy.to_json();
        Ok(SignedPolicy {
            kind: Kind::Custom { policy: encoding::encode(json.as_bytes()) },
            signature: encoding::encode(&self.raw_signature(json.as_bytes())?),
            key_pair_id: self.key_pair_id.clone(),
            hash: self.hash,
        })
    }

    /// Signs a canned policy for exactly `url` (which may carry its own query string) until
    /// `expires` (Unix seconds).
    pub fn sign_canned(&self, url: &str, expires: i64) -> Result<SignedPolicy, CdnError> {
        let json = Policy::canned(url, expires).to_json();
        Ok(SignedPolicy {
            kind: Kind::Canned { expires },
            signature: encoding::encode(&self.raw_signature(json.as_bytes())?),
            key_pair_id: self.key_pair_id.clone(),
            hash: self.hash,
        })
    }

    /// `url` signed with a canned policy: `Expires`, `Signature`, `Key-Pair-Id` appended.
    pub fn canned_url(&self, url: &str, expires: i64) -> Result<String, CdnError> {
        Ok(self.sign_canned(url, expires)?.sign_url(url))
    }
}

/// A signature ready to travel: its parameters in CloudFront's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedPolicy {
    kind: Kind,
    /// CloudFront base64 of the RSA signature.
    signature: String,
    key_pair_id: String,
    hash: HashAlgorithm,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Canned {
        expires: i64,
    },
    /// CloudFront base64 of the policy JSON.
    Custom {
        policy: String,
    },
}

impl SignedPolicy {
    /// `Expires=…` or `Policy=…`, then `Signature=…&Key-Pair-Id=…`, then `Hash-Algorithm=SHA256`
    /// when not SHA-1. Every value is already query-safe.
    pub fn query(&self) -> String {
        let mut query = match &self.kind {
            Kind::Canned { expires } => format!("Expires={expires}"),
            Kind::Custom { policy } => format!("Policy={policy}"),
        };
        query.push_str(&format!("&Signature={}&Key-Pair-Id={}", self.signature, self.key_pair_id));
        if let Some(hash) = self.hash.parameter() {
            query.push_str(&format!("&Hash-Algorithm={hash}"));
        }
        query
    }

    /// `url` with the signature appended, after `&` when it already has a query string.
    pub fn sign_url(&self, url: &str) -> String {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}{}", self.query())
    }

    /// The same signature as `CloudFront-*` cookies.
    pub fn cookies(&self) -> SignedCookies {
        let mut pairs = match &self.kind {
            Kind::Canned { expires } => vec![("CloudFront-Expires", expires.to_string())],
            Kind::Custom { policy } => vec![("CloudFront-Policy", policy.clone())],
        };
        pairs.push(("CloudFront-Signature", self.signature.clone()));
        pairs.push(("CloudFront-Key-Pair-Id", self.key_pair_id.clone()));
        if let Some(hash) = self.hash.parameter() {
            pairs.push(("CloudFront-Hash-Algorithm", hash.to_owned()));
        }
        SignedCookies { pairs }
    }
}
