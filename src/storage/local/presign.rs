//! Presigned URLs for the local backend: signing and verifying (`src/delivery/storage.rs` serves them).
//!
//! A URL carries `expires` (unix seconds) and `signature`, the hex HMAC-SHA256 of a message
//! naming what it allows: the method, the object (or the upload part) and the expiry; for a PUT
//! also the content type, so an uploader cannot store something else than what was approved; for
//! a multipart part also the most bytes it may carry (`max_size`), so a part URL cannot fill the
//! disk. A part URL is also single-use (see `LocalStore::claim_part_url`).
//! The message uses the decoded key rather than the URL path, so percent-encoding variants of
//! the same key all verify.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;

use super::LocalStore;
use crate::storage::{MultipartId, ObjectKey, StorageError};

type HmacSha256 = Hmac<Sha256>;

/// Bumped if the message layout ever changes, so old URLs stop verifying instead of meaning
/// something else.
const SIGNATURE_VERSION: &str = "lectern-presign-v1";

/// What a signature authorises.
pub enum Grant<'a> {
    Object { method: &'a str, key: &'a str, content_type: &'a str },
    Part { key: &'a str, upload_id: &'a str, part_number: u32, max_size: u64 },
}

impl Grant<'_> {
    /// Fields joined by newlines, which neither keys, upload ids nor header values can contain.
    fn message(&self, expires: u64) -> String {
        match self {
            Self::Object { method, key, content_type } => {
                format!("{SIGNATURE_VERSION}\n{method}\nobjects/{key}\n{expires}\n{content_type}")
            }
            Self::Part { key, upload_id, part_number, max_size } => {
                format!("{SIGNATURE_VERSION}\nPUT\nuploads/{upload_id}/{part_number}\n{key}\n{expires}\n{max_size}")
            }
        }
    }
}

impl LocalStore {
    fn mac(&self, grant: &Grant<'_>, expires: u64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(self.presign_secret.expose_secret().as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(grant.message(expires).as_bytes());
        mac
    }

    fn sign(&self, grant: &Grant<'_>, expires: u64) -> String {
        hex::encode(self.mac(grant, expires).finalize().into_bytes())
    }

    /// Checks the signature first (so a tampered expiry reads as tampering), then the expiry.
    pub fn verify(&self, grant: &Grant<'_>, query: &SignedQuery) -> Result<(), SignatureError> {
        let signature = hex::decode(&query.signature).map_err(|_| SignatureError::Invalid)?;
        // `verify_slice` compares in constant time.
        self.mac(grant, query.expires).verify_slice(&signature).map_err(|_| SignatureError::Invalid)?;
        if unix_now() > query.expires {
            return Err(SignatureError::Expired);
        }
        Ok(())
    }

    /// `{public_url}/storage/{segments…}` with the given query pairs, each segment percent-encoded.
    fn storage_url<'a>(
        &self,
        segments: impl IntoIterator<Item = &'a str>,
        query: &[(&str, &str)],
    ) -> Result<String, StorageError> {
        let mut url = self.public_url.clone();
        url.path_segments_mut()
            .map_err(|()| StorageError::backend("presign", "the public URL cannot be a base URL"))?
            .pop_if_empty()
            .push("storage")
            .extend(segments);
        url.query_pairs_mut().extend_pairs(query);
        Ok(url.into())
    }

    pub(super) fn presign_object(
        &self,
        method: &str,
        key: &ObjectKey,
        content_type: &str,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let expires = expiry(expires_in);
        let signature = self.sign(&Grant::Object { method, key: key.as_str(), content_type }, expires);
        let expires = expires.to_string();
        let segments = ["objects"].into_iter().chain(key.segments());
        self.storage_url(segments, &[("expires", &expires), ("signature", &signature)])
    }

    pub(super) fn presign_upload_part(
        &self,
        key: &ObjectKey,
        upload: &MultipartId,
        part_number: u32,
        max_size: u64,
        expires_in: Duration,
    ) -> Result<String, StorageError> {
        let expires = expiry(expires_in);
        let grant = Grant::Part { key: key.as_str(), upload_id: &upload.0, part_number, max_size };
        let signature = self.sign(&grant, expires);
        let (expires, part, max_size) = (expires.to_string(), part_number.to_string(), max_size.to_string());
        self.storage_url(
            ["uploads", &upload.0, &part],
            &[("key", key.as_str()), ("max_size", &max_size), ("expires", &expires), ("signature", &signature)],
        )
    }
}

/// Why a presigned request is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// Missing, malformed or not matching what was asked for (including a changed expiry).
    Invalid,
    /// Genuine but past its expiry.
    Expired,
}

pub struct SignedQuery {
    pub expires: u64,
    pub signature: String,
    /// The object key, for part uploads (whose path names only the upload).
    pub key: Option<String>,
    /// The most bytes a part may carry, for part uploads.
    pub max_size: Option<u64>,
}

impl SignedQuery {
    pub fn parse(query: Option<&str>) -> Result<Self, SignatureError> {
        let (mut expires, mut signature, mut key, mut max_size) = (None, None, None, None);
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*name {
                "expires" => expires = value.parse::<u64>().ok(),
                "signature" => signature = Some(value.into_owned()),
                "key" => key = Some(value.into_owned()),
                "max_size" => max_size = value.parse::<u64>().ok(),
                _ => {}
            }
        }
        match (expires, signature) {
            (Some(expires), Some(signature)) => Ok(Self { expires, signature, key, max_size }),
            _ => Err(SignatureError::Invalid),
        }
    }
}

fn expiry(expires_in: Duration) -> u64 {
    // Rounded up, so a sub-second lifetime still yields a URL that works right away.
    let seconds = expires_in.as_secs() + u64::from(expires_in.subsec_nanos() > 0);
    unix_now().saturating_add(seconds)
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |since| since.as_secs())
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;

    fn store() -> LocalStore {
        LocalStore {
            root: std::path::PathBuf::from("/nonexistent"),
            public_url: url::Url::parse("http://lectern.test/base/").expect("valid URL"),
            presign_secret: SecretString::from("secret"),
            append_writers: Default::default(),
        }
    }

    fn signed(store: &LocalStore, grant: &Grant<'_>, expires: u64) -> SignedQuery {
        SignedQuery { expires, signature: store.sign(grant, expires), key: None, max_size: None }
    }

    #[test]
    fn a_signature_only_verifies_for_what_it_granted() {
        let store = store();
        let expires = unix_now() + 60;
        let grant = Grant::Object { method: "PUT", key: "a/b.mp4", content_type: "video/mp4" };
        let query = signed(&store, &grant, expires);
        assert_eq!(store.verify(&grant, &query), Ok(()));
        for other in [
            Grant::Object { method: "GET", key: "a/b.mp4", content_type: "video/mp4" },
            Grant::Object { method: "PUT", key: "a/c.mp4", content_type: "video/mp4" },
            Grant::Object { method: "PUT", key: "a/b.mp4", content_type: "text/html" },
            Grant::Part { key: "a/b.mp4", upload_id: "x", part_number: 1, max_size: 10 },
        ] {
            assert_eq!(store.verify(&other, &query), Err(SignatureError::Invalid));
        }
        let stretched = SignedQuery { expires: expires + 3600, ..signed(&store, &grant, expires) };
        assert_eq!(store.verify(&grant, &stretched), Err(SignatureError::Invalid));
    }

    #[test]
    fn a_genuine_but_old_signature_is_expired() {
        let store = store();
        let grant = Grant::Object { method: "GET", key: "a", content_type: "" };
        let query = signed(&store, &grant, unix_now() - 1);
        assert_eq!(store.verify(&grant, &query), Err(SignatureError::Expired));
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_each_key_segment() {
        let key = ObjectKey::parse("a b/c?d#e%.mp4").expect("valid key");
        let url = store().presign_object("GET", &key, "", Duration::from_secs(60)).expect("presign");
        assert!(url.starts_with("http://lectern.test/base/storage/objects/a%20b/c%3Fd%23e%25.mp4?expires="), "{url}");
    }
}
