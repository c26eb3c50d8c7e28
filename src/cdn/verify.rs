//! Verification, by CloudFront's rules: the signing parameters come from the query string or,
//! when the URL carries none, from `CloudFront-*` cookies; the key is looked up by
//! `Key-Pair-Id`; the signature is checked over the canned policy rebuilt from the URL, or over
//! the decoded custom policy; only then are the policy's conditions applied.

use std::collections::HashMap;
use std::net::IpAddr;

use rsa::PublicKey;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier as _;

use super::policy::Policy;
use super::{CdnError, HashAlgorithm, encoding};

/// A public key the verifier accepts signatures from, under its key-pair id.
#[derive(Clone)]
pub struct TrustedKey {
    key_pair_id: String,
    sha1: VerifyingKey<sha1::Sha1>,
    sha256: VerifyingKey<sha2::Sha256>,
}

impl std::fmt::Debug for TrustedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustedKey").field("key_pair_id", &self.key_pair_id).finish_non_exhaustive()
    }
}

impl TrustedKey {
    pub fn new(key_pair_id: &str, public_key: PublicKey) -> Self {
        Self {
            key_pair_id: key_pair_id.to_owned(),
            sha1: VerifyingKey::new(public_key.clone()),
            sha256: VerifyingKey::new(public_key),
        }
    }

    pub fn key_pair_id(&self) -> &str {
        &self.key_pair_id
    }

    fn verify(&self, hash: HashAlgorithm, message: &[u8], signature: &[u8]) -> Result<(), CdnError> {
        let signature = Signature::try_from(signature).map_err(|_| CdnError::SignatureInvalid)?;
        let verified = match hash {
            HashAlgorithm::Sha1 => self.sha1.verify(message, &signature),
            HashAlgorithm::Sha256 => self.sha256.verify(message, &signature),
        };
        verified.map_err(|_| CdnError::SignatureInvalid)
    }
}

/// The public keys signatures are accepted from, by key-pair id (two or more during a rotation).
#[derive(Debug, Clone)]
pub struct Verifier {
    keys: HashMap<String, TrustedKey>,
}

impl Verifier {
    /// Later keys with an id already seen replace the earlier ones.
    pub fn new(keys: impl IntoIterator<Item = TrustedKey>) -> Self {
        Self { keys: keys.into_iter().map(|key| (key.key_pair_id.clone(), key)).collect() }
    }

    /// The trusted key-pair ids, sorted (for logs and `/readyz`-style reports).
    pub fn key_pair_ids(&self) -> Vec<&str> {
        let mut ids: Vec<&str> = self.keys.keys().map(String::as_str).collect();
        ids.sort_unstable();
        ids
    }

    /// Whether `request` may be served to `client_ip` at `now` (Unix seconds).
    pub fn verify(&self, request: &SignedRequest, client_ip: IpAddr, now: i64) -> Result<(), CdnError> {
        let params = &request.params;
        let (Some(signature), Some(key_pair_id)) = (&params.signature, &params.key_pair_id) else {
            return Err(CdnError::SignatureMissing);
        };
        if params.expires.is_none() && params.policy.is_none() {
            return Err(CdnError::SignatureMissing);
        }
        let key = self.keys.get(key_pair_id).ok_or(CdnError::UnknownKeyPair)?;
        let hash = HashAlgorithm::parse_parameter(params.hash_algorithm.as_deref())?;
        let signature = encoding::decode(signature).ok_or(CdnError::SignatureInvalid)?;

        let policy = if let Some(encoded) = &params.policy {
            let json = encoding::decode(encoded).ok_or(CdnError::SignatureInvalid)?;
            key.verify(hash, &json, &signature)?;
            Policy::parse(&json)?
        } else {
            let expires = params.expires.as_deref().unwrap_or_default();
            let expires: i64 = expires.parse().ok().filter(|e| *e >= 0).ok_or(CdnError::SignatureInvalid)?;
            let policy = Policy::canned(request.url.as_str(), expires);
            key.verify(hash, policy.to_json().as_bytes(), &signature)?;
            policy
        };

        if now >= policy.date_less_than {
            return Err(CdnError::SignatureExpired);
        }
        if policy.date_greater_than.is_some_and(|start| now < start) {
            return Err(CdnError::SignatureNotYetValid);
        }
        if !policy.covers(&request.url) {
            return Err(CdnError::ResourceNotAllowed);
        }
        if policy.ip_address.as_ref().is_some_and(|block| !block.contains(client_ip)) {
            return Err(CdnError::IpNotAllowed);
        }
        Ok(())
    }
}

/// The five parameters CloudFront reserves for signing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct SigningParams {
    expires: Option<String>,
    policy: Option<String>,
    signature: Option<String>,
    key_pair_id: Option<String>,
    hash_algorithm: Option<String>,
}

impl SigningParams {
    fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Takes `name=value` when `name` is a signing parameter (with or without the `CloudFront-`
    /// cookie prefix); returns false for any other name.
    fn take(&mut self, name: &str, value: &str) -> bool {
        let slot = match name.strip_prefix("CloudFront-").unwrap_or(name) {
            "Expires" => &mut self.expires,
            "Policy" => &mut self.policy,
            "Signature" => &mut self.signature,
            "Key-Pair-Id" => &mut self.key_pair_id,
            "Hash-Algorithm" => &mut self.hash_algorithm,
            _ => return false,
        };
        // Values are URL-safe by construction; a client that percent-encoded them anyway is
        // forgiven.
        *slot = Some(encoding::decode_path(value).unwrap_or_else(|| value.to_owned()));
        true
    }
}

/// What a request presents: the URL it asked for without the signing parameters (what a
/// resource is matched against), and those parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    url: String,
    params: SigningParams,
}

impl SignedRequest {
    /// A signed URL: the signing parameters are taken out of its query string; the other
    /// parameters stay, in their order.
    pub fn from_url(url: &str) -> Self {
        Self::from_url_and_cookies(url, std::iter::empty())
    }

    /// A request URL and the values of its `Cookie` headers. Signing parameters in the URL win;
    /// cookies are read only when the URL carries none (as CloudFront does).
    pub fn from_url_and_cookies<'a>(url: &str, cookie_headers: impl IntoIterator<Item = &'a str>) -> Self {
        let url = url.split_once('#').map_or(url, |(before, _)| before);
        let mut params = SigningParams::default();
        let (base, kept) = match url.split_once('?') {
            None => (url, Vec::new()),
            Some((base, query)) => {
                let kept = query
                    .split('&')
                    .filter(|piece| !piece.is_empty())
                    .filter(|piece| {
                        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
                        // A cookie-style name in the query is not a signing parameter.
                        name.starts_with("CloudFront-") || !params.take(name, value)
                    })
                    .collect();
                (base, kept)
            }
        };
        if params.is_empty() {
            for header in cookie_headers {
                for pair in header.split(';') {
                    if let Some((name, value)) = pair.trim().split_once('=')
                        && name.starts_with("CloudFront-")
                    {
                        params.take(name, value.trim_matches('"'));
                    }
                }
            }
        }
        let url = if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) };
        Self { url, params }
    }

    /// The URL that resources are matched against.
    pub fn url(&self) -> &str {
        &self.url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signing_parameters_are_taken_out_and_the_rest_keeps_its_order() {
        let request =
            SignedRequest::from_url("https://cdn/a.m4s?color=red&Expires=10&size=m&Signature=abc&Key-Pair-Id=K1#frag");
        assert_eq!(request.url(), "https://cdn/a.m4s?color=red&size=m");
        assert_eq!(request.params.expires.as_deref(), Some("10"));
        assert_eq!(request.params.key_pair_id.as_deref(), Some("K1"));
        let bare = SignedRequest::from_url("https://cdn/a.m4s?Expires=10&Signature=abc&Key-Pair-Id=K1");
        assert_eq!(bare.url(), "https://cdn/a.m4s");
    }

    #[test]
    fn cookies_are_read_only_when_the_url_carries_no_signature() {
        let cookies = ["theme=dark; CloudFront-Policy=cG9s; CloudFront-Signature=c2ln", "CloudFront-Key-Pair-Id=K2"];
        let request = SignedRequest::from_url_and_cookies("https://cdn/a.m4s?x=1", cookies);
        assert_eq!(request.params.policy.as_deref(), Some("cG9s"));
        assert_eq!(request.params.key_pair_id.as_deref(), Some("K2"));
        let url_wins = SignedRequest::from_url_and_cookies("https://cdn/a.m4s?Expires=5", cookies);
        assert_eq!(url_wins.params.policy, None);
        assert_eq!(url_wins.params.expires.as_deref(), Some("5"));
    }
}
