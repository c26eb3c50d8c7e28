//! The certificate key in use: signs with the current Ed25519 key, verifies with it and with the
//! keys of earlier rotations, and publishes all of them as a JWKS. Built once at start-up from
//! `crate::keys` and held in `AppState`; it never sees the token key.

use std::collections::HashMap;

use aws_lc_rs::signature::{ED25519, Ed25519KeyPair, UnparsedPublicKey};
use base64::Engine;

use crate::keys::{CertificateSigningKey, CertificateVerifyingKey};

/// The JWS algorithm name of the signatures (RFC 8037), as the JWKS and the API state it.
pub const ALGORITHM: &str = "EdDSA";

pub struct CertificateSigner {
    key_pair: Ed25519KeyPair,
    key_id: String,
    /// Raw 32-byte public keys by key id: the current key and every previous one.
    verifying: HashMap<String, Vec<u8>>,
    jwks: serde_json::Value,
}

impl std::fmt::Debug for CertificateSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateSigner").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

impl CertificateSigner {
    /// Fails only for a key that is not Ed25519 PKCS#8, which `crate::keys` already refuses.
    pub fn new(
        current: &CertificateSigningKey,
        previous: &[CertificateVerifyingKey],
    ) -> Result<Self, aws_lc_rs::error::KeyRejected> {
        let key_pair = Ed25519KeyPair::from_pkcs8(&current.pkcs8_der)?;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut verifying = HashMap::new();
        let mut published = Vec::new();
        let keys = std::iter::once((&current.key_id, &current.public_key))
            .chain(previous.iter().map(|key| (&key.key_id, &key.public_key)));
        for (key_id, public_key) in keys {
            if verifying.insert(key_id.clone(), public_key.clone()).is_none() {
                published.push(serde_json::json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": b64.encode(public_key),
                    "kid": key_id,
                    "use": "sig",
                    "alg": ALGORITHM,
                }));
            }
        }
        Ok(Self { key_pair, key_id: current.key_id.clone(), verifying, jwks: serde_json::json!({ "keys": published }) })
    }

    /// The id of the key that signs new certificates.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The 64-byte Ed25519 signature of `message` (pure Ed25519: the message itself is signed,
    /// not a hash of it).
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.key_pair.sign(message).as_ref().to_vec()
    }

    /// Whether `signature` is the signature of `message` by the published key `key_id`. False for
    /// an unknown key id.
    pub fn verify(&self, key_id: &str, message: &[u8], signature: &[u8]) -> bool {
        self.verifying
            .get(key_id)
            .is_some_and(|public_key| UnparsedPublicKey::new(&ED25519, public_key).verify(message, signature).is_ok())
    }

    pub fn knows(&self, key_id: &str) -> bool {
        self.verifying.contains_key(key_id)
    }

    /// The JSON Web Key Set to publish: the signing key and every verification-only key.
    pub fn jwks(&self) -> &serde_json::Value {
        &self.jwks
    }
}
