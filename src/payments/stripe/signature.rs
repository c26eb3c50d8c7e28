//! `Stripe-Signature` verification, done on the raw request body before anything parses it.
//!
//! The header is `t=<unix seconds>,v1=<hex HMAC-SHA256>[,v1=…][,v0=…]`; the signed payload is
//! `"<t>.<raw body>"` under the endpoint's signing secret. Stripe sends one `v1` per active
//! secret while a secret is being rolled, and we may hold several secrets ourselves (rotation on
//! our side): the event is genuine when any `v1` matches any secret. Like the official SDKs, a
//! timestamp older than the tolerance is refused (replays), and the comparison is constant-time.
//! Elements other than `t` and `v1` (`v0`, future schemes) are ignored.

use hmac::{Hmac, KeyInit, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Why a signature was refused (the text goes to the caller; no secret is in it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    Missing,
    Malformed,
    NoV1Signature,
    TooOld,
    Mismatch,
}

impl SignatureError {
    pub fn message(self) -> &'static str {
        match self {
            Self::Missing => "no Stripe-Signature header",
            Self::Malformed => "the Stripe-Signature header has no timestamp (t=…)",
            Self::NoV1Signature => "the Stripe-Signature header has no v1 signature",
            Self::TooOld => "the signed timestamp is outside the tolerance window",
            Self::Mismatch => "no v1 signature matches the body under any configured secret",
        }
    }
}

/// Verifies `header` over `body` against `secrets` at `now` (unix seconds). Returns the signed
/// timestamp.
pub fn verify(
    body: &[u8],
    header: Option<&str>,
    secrets: &[SecretString],
    tolerance_s: i64,
    now: i64,
) -> Result<i64, SignatureError> {
    let header = header.filter(|h| !h.trim().is_empty()).ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for item in header.split(',') {
        let Some((key, value)) = item.trim().split_once('=') else { continue };
        match key {
            "t" => timestamp = value.parse::<i64>().ok(),
            "v1" => {
                if let Ok(raw) = hex::decode(value) {
                    signatures.push(raw);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }
    let matches = secrets.iter().any(|secret| {
        let mac = signed_mac(secret.expose_secret(), timestamp, body);
        signatures.iter().any(|signature| mac.clone().verify_slice(signature).is_ok())
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    // Checked after the signature, as the SDKs do, so an attacker learns nothing from the order.
    if tolerance_s > 0 && timestamp < now - tolerance_s {
        return Err(SignatureError::TooOld);
    }
    Ok(timestamp)
}

/// A header as Stripe would send it (for tests and the local stand-ins).
pub fn sign(body: &[u8], secret: &str, timestamp: i64) -> String {
    let mac = signed_mac(secret, timestamp, body);
    format!("t={timestamp},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn signed_mac(secret: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secrets(list: &[&str]) -> Vec<SecretString> {
        list.iter().map(|s| SecretString::from(*s)).collect()
    }

    #[test]
    fn a_header_signed_with_the_secret_verifies_and_anything_changed_does_not() {
        let body = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;
        let header = sign(body, "whsec_a", 1_000_000);
        assert_eq!(verify(body, Some(&header), &secrets(&["whsec_a"]), 300, 1_000_100), Ok(1_000_000));
        let tampered = br#"{"id":"evt_1","type":"checkout.session.completed" }"#;
        assert_eq!(
            verify(tampered, Some(&header), &secrets(&["whsec_a"]), 300, 1_000_100),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(verify(body, Some(&header), &secrets(&["whsec_b"]), 300, 1_000_100), Err(SignatureError::Mismatch));
        assert_eq!(verify(body, Some(&header), &secrets(&["whsec_a"]), 300, 1_000_301), Err(SignatureError::TooOld));
        assert_eq!(verify(body, None, &secrets(&["whsec_a"]), 300, 0), Err(SignatureError::Missing));
        assert_eq!(verify(body, Some("v1=00"), &secrets(&["whsec_a"]), 300, 0), Err(SignatureError::Malformed));
        assert_eq!(verify(body, Some("t=5,v0=00"), &secrets(&["whsec_a"]), 300, 0), Err(SignatureError::NoV1Signature));
    }

    #[test]
    fn any_of_several_signatures_under_any_of_several_secrets_is_enough() {
        let body = b"{}";
        let new = sign(body, "whsec_new", 50);
        let header = format!("t=50,v1={},{},v0=ff", "00".repeat(32), new.split_once(',').expect("two parts").1);
        assert_eq!(verify(body, Some(&header), &secrets(&["whsec_old", "whsec_new"]), 300, 60), Ok(50));
        assert_eq!(verify(body, Some(&header), &secrets(&["whsec_old"]), 300, 60), Err(SignatureError::Mismatch));
    }
}
