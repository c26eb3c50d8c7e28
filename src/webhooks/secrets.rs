//! Webhook signing secrets at rest: sealed (AES-256-GCM) with the webhook key from the key
//! directory, never stored in clear.
//!
//! A sealed secret is stored as the id of the key that sealed it and `nonce ‖ ciphertext ‖ tag`;
//! the endpoint's id is the associated data, so a ciphertext copied onto another row does not
//! open. Keys rotate the way the token keys do: the new key seals, earlier keys
//! (`LECTERN_WEBHOOK_PREVIOUS_KEY_FILES`) still open, and [`super::endpoints::reseal_all`] seals
//! every row again with the current key at start-up, after which an earlier key can go. Rows
//! written before secrets were sealed hold their secret in clear in `secret`; they sign as they
//! are and are sealed by the same start-up pass.
//!
//! An endpoint has one current secret and, for an overlap after a rotation, the previous one:
//! every send is signed with both until the previous one expires (see [`signing_secrets`]).

use std::collections::HashMap;

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::keys::WebhookSecretKeys;

/// Why a stored secret cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "the secret was sealed with the webhook key {0}, which is not configured (LECTERN_WEBHOOK_PREVIOUS_KEY_FILES)"
    )]
    UnknownKey(String),
    #[error("the sealed secret does not open with its key (damaged, or copied from another endpoint)")]
    Damaged,
    #[error("the endpoint has no secret")]
    Missing,
    #[error("cannot seal the secret")]
    Seal,
}

/// A secret as stored: the id of the key that sealed it, and `nonce ‖ ciphertext ‖ tag`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

/// A row's secret columns, as [`super::endpoints`] and [`super::deliveries`] read them.
#[derive(Debug, Clone, Copy)]
pub struct StoredSecrets<'a> {
    pub endpoint_id: Uuid,
    /// A secret written before secrets were sealed (in clear), until the start-up pass seals it.
    pub clear: Option<&'a str>,
    pub key_id: Option<&'a str>,
    pub sealed: Option<&'a [u8]>,
    pub previous_key_id: Option<&'a str>,
    pub previous_sealed: Option<&'a [u8]>,
    /// Until when the previous secret still signs.
    pub previous_expires_at: Option<OffsetDateTime>,
}

/// Seals with the current webhook key and opens with it or an earlier one.
pub struct SecretSealer {
    current_key_id: String,
    keys: HashMap<String, RandomizedNonceKey>,
}

impl std::fmt::Debug for SecretSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretSealer").field("current_key_id", &self.current_key_id).finish_non_exhaustive()
    }
}

impl SecretSealer {
    pub fn new(keys: &WebhookSecretKeys) -> Self {
        let keys_by_id = std::iter::once(&keys.current)
            .chain(&keys.previous)
            .map(|key| {
                let aead =
                    RandomizedNonceKey::new(&AES_256_GCM, &key.bytes).expect("AES-256-GCM takes any 32-byte key");
                (key.key_id.clone(), aead)
            })
            .collect();
        Self { current_key_id: keys.current.key_id.clone(), keys: keys_by_id }
    }

    /// The id of the key that seals.
    pub fn current_key_id(&self) -> &str {
        &self.current_key_id
    }

    /// `secret` sealed with the current key for the endpoint `endpoint_id`.
    pub fn seal(&self, endpoint_id: Uuid, secret: &str) -> Result<Sealed, SecretError> {
        let key = &self.keys[&self.current_key_id];
        let mut in_out = secret.as_bytes().to_vec();
        let nonce = key
            .seal_in_place_append_tag(Aad::from(endpoint_id.as_bytes()), &mut in_out)
            .map_err(|_| SecretError::Seal)?;
        let mut bytes = Vec::with_capacity(NONCE_LEN + in_out.len());
        bytes.extend_from_slice(nonce.as_ref());
        bytes.extend_from_slice(&in_out);
        Ok(Sealed { key_id: self.current_key_id.clone(), bytes })
    }

    /// The secret that `key_id` sealed as `bytes` for the endpoint `endpoint_id`.
    pub fn open(&self, endpoint_id: Uuid, key_id: &str, bytes: &[u8]) -> Result<String, SecretError> {
        let key = self.keys.get(key_id).ok_or_else(|| SecretError::UnknownKey(key_id.to_owned()))?;
        let (nonce, sealed) = bytes.split_at_checked(NONCE_LEN).ok_or(SecretError::Damaged)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Damaged)?;
        let mut in_out = sealed.to_vec();
        let plain = key
            .open_in_place(nonce, Aad::from(endpoint_id.as_bytes()), &mut in_out)
            .map_err(|_| SecretError::Damaged)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SecretError::Damaged)
    }

    /// The endpoint's current secret (sealed, or a row's clear one from before sealing).
    pub fn current(&self, stored: &StoredSecrets<'_>) -> Result<String, SecretError> {
        match (stored.key_id, stored.sealed, stored.clear) {
            (Some(key_id), Some(bytes), _) => self.open(stored.endpoint_id, key_id, bytes),
            (_, _, Some(clear)) => Ok(clear.to_owned()),
            _ => Err(SecretError::Missing),
        }
    }

    /// The previous secret while it still signs (before `previous_expires_at`).
    pub fn previous(&self, stored: &StoredSecrets<'_>, now: OffsetDateTime) -> Result<Option<String>, SecretError> {
        match (stored.previous_key_id, stored.previous_sealed, stored.previous_expires_at) {
            (Some(key_id), Some(bytes), Some(until)) if until > now => {
                self.open(stored.endpoint_id, key_id, bytes).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Every secret a send made at `now` is signed with: the current one first, then the
    /// previous one during its overlap.
    pub fn signing_secrets(&self, stored: &StoredSecrets<'_>, now: OffsetDateTime) -> Result<Vec<String>, SecretError> {
        let mut secrets = vec![self.current(stored)?];
        secrets.extend(self.previous(stored, now)?);
        Ok(secrets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::WebhookSecretKey;

    fn key(id: &str, byte: u8) -> WebhookSecretKey {
        WebhookSecretKey { key_id: id.to_owned(), bytes: [byte; 32] }
    }

    fn stored<'a>(endpoint_id: Uuid, sealed: &'a Sealed) -> StoredSecrets<'a> {
        StoredSecrets {
            endpoint_id,
            clear: None,
            key_id: Some(&sealed.key_id),
            sealed: Some(&sealed.bytes),
            previous_key_id: None,
            previous_sealed: None,
            previous_expires_at: None,
        }
    }

    #[test]
    fn a_sealed_secret_opens_only_for_its_endpoint_and_shows_nothing_of_itself() {
        let sealer = SecretSealer::new(&WebhookSecretKeys { current: key("whk-a", 1), previous: Vec::new() });
        let endpoint = Uuid::new_v4();
        let sealed = sealer.seal(endpoint, "whsec_abc").expect("sealed");
        assert_eq!(sealed.key_id, "whk-a");
        assert!(!sealed.bytes.windows(9).any(|window| window == b"whsec_abc"));
        assert_ne!(sealer.seal(endpoint, "whsec_abc").expect("sealed").bytes, sealed.bytes, "a fresh nonce each time");
        assert_eq!(sealer.open(endpoint, "whk-a", &sealed.bytes).expect("opens"), "whsec_abc");
        assert!(matches!(sealer.open(Uuid::new_v4(), "whk-a", &sealed.bytes), Err(SecretError::Damaged)));
        assert!(matches!(sealer.open(endpoint, "whk-a", &sealed.bytes[..5]), Err(SecretError::Damaged)));
        let mut tampered = sealed.bytes;
        *tampered.last_mut().expect("bytes") ^= 1;
        assert!(matches!(sealer.open(endpoint, "whk-a", &tampered), Err(SecretError::Damaged)));
    }

    #[test]
    fn after_a_key_rotation_old_rows_open_and_new_ones_use_the_new_key() {
        let old = SecretSealer::new(&WebhookSecretKeys { current: key("whk-old", 1), previous: Vec::new() });
        let endpoint = Uuid::new_v4();
        let sealed_before = old.seal(endpoint, "whsec_old").expect("sealed");
        let rotated =
            SecretSealer::new(&WebhookSecretKeys { current: key("whk-new", 2), previous: vec![key("whk-old", 1)] });
        assert_eq!(rotated.current(&stored(endpoint, &sealed_before)).expect("opens"), "whsec_old");
        assert_eq!(rotated.seal(endpoint, "whsec_x").expect("sealed").key_id, "whk-new");
        let forgotten = SecretSealer::new(&WebhookSecretKeys { current: key("whk-new", 2), previous: Vec::new() });
        assert!(
            matches!(forgotten.current(&stored(endpoint, &sealed_before)), Err(SecretError::UnknownKey(id)) if id == "whk-old")
        );
    }

    #[test]
    fn the_previous_secret_signs_only_until_its_overlap_ends() {
        let sealer = SecretSealer::new(&WebhookSecretKeys { current: key("whk-a", 1), previous: Vec::new() });
        let endpoint = Uuid::new_v4();
        let current = sealer.seal(endpoint, "whsec_new").expect("sealed");
        let previous = sealer.seal(endpoint, "whsec_old").expect("sealed");
        let now = OffsetDateTime::now_utc();
        let during = StoredSecrets {
            previous_key_id: Some(&previous.key_id),
            previous_sealed: Some(&previous.bytes),
            previous_expires_at: Some(now + time::Duration::hours(1)),
            ..stored(endpoint, &current)
        };
        assert_eq!(sealer.signing_secrets(&during, now).expect("open"), ["whsec_new", "whsec_old"]);
        let after = now + time::Duration::hours(2);
        assert_eq!(sealer.signing_secrets(&during, after).expect("open"), ["whsec_new"]);
        let legacy = StoredSecrets { clear: Some("whsec_clear"), key_id: None, sealed: None, ..during };
        assert_eq!(sealer.current(&legacy).expect("clear"), "whsec_clear");
    }
}
