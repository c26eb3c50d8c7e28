//! Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP): HMAC-SHA1, six digits, 30 s
//! steps, the parameters every authenticator app understands. Written out here (a few dozen
//! lines over `hmac` and `sha1`, both already in the tree) rather than pulled in as a crate; the
//! tests check it against the RFC's vectors and, in `tests/api`, against PyPI `pyotp`.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// Seconds per step.
pub const STEP: u64 = 30;
pub const DIGITS: u32 = 6;
/// Steps accepted either side of now: one, so a code typed as it rolls over, or on a clock up to
/// 30 s off, still works, and no code lives longer than 90 s.
pub const WINDOW: i64 = 1;
/// 160-bit secrets, the length RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// The HOTP value of `secret` at `counter`, as `DIGITS` digits.
pub fn hotp(secret: &[u8], counter: u64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    // Dynamic truncation (RFC 4226 §5.3).
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary =
        u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:0width$}", binary % 10u32.pow(DIGITS), width = DIGITS as usize)
}

/// The step of a Unix time.
pub fn step_at(unix_seconds: u64) -> u64 {
    unix_seconds / STEP
}

/// The step within the window around `now_step` whose code is `code`, if any. Compared in
/// constant time per candidate, so timing does not reveal how many digits matched.
pub fn matching_step(secret: &[u8], code: &str, now_step: u64) -> Option<u64> {
    let code = code.trim().replace(' ', "");
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    (-WINDOW..=WINDOW)
        .filter_map(|delta| now_step.checked_add_signed(delta))
        .find(|step| constant_time_eq(hotp(secret, *step).as_bytes(), code.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding, the form authenticator apps take secrets in.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for byte in bytes {
        buffer = (buffer << 8) | u32::from(*byte);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 31) as usize]));
    }
    out
}

/// The `otpauth://` URI an authenticator app reads from the QR code
/// (<https://github.com/google/google-authenticator/wiki/Key-Uri-Format>).
pub fn otpauth_uri(issuer: &str, account: &str, secret: &[u8]) -> String {
    let mut url = url::Url::parse("otpauth://totp/").expect("a constant URL");
    url.set_path(&format!("{issuer}:{account}"));
    url.query_pairs_mut()
        .append_pair("secret", &base32(secret))
        .append_pair("issuer", issuer)
        .append_pair("algorithm", "SHA1")
        .append_pair("digits", &DIGITS.to_string())
        .append_pair("period", &STEP.to_string());
    url.into()
}

/// The URI as an SVG QR code: one path of unit squares, a four-module quiet zone, no scripts.
pub fn qr_svg(data: &str) -> Result<String, qrcode::types::QrError> {
    let code = qrcode::QrCode::with_error_correction_level(data, qrcode::EcLevel::M)?;
    let width = code.width();
    let quiet = 4;
    let size = width + 2 * quiet;
    let mut path = String::new();
    for (index, color) in code.to_colors().iter().enumerate() {
        if *color == qrcode::Color::Dark {
            let (x, y) = (index % width + quiet, index / width + quiet);
            path.push_str(&format!("M{x} {y}h1v1h-1z"));
        }
    }
    Ok(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {size} {size}\" width=\"{px}\" height=\"{px}\" \
         shape-rendering=\"crispEdges\"><rect width=\"{size}\" height=\"{size}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\"{path}\"/></svg>",
        px = size * 6
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 rows (8 digits there; the last six are ours).
    #[test]
    fn the_rfc_6238_vectors_hold() {
        let secret = b"12345678901234567890";
        for (time, eight_digits) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(hotp(secret, step_at(time)), eight_digits[2..], "at {time}");
        }
    }

    #[test]
    fn codes_match_within_one_step_only() {
        let secret = b"12345678901234567890";
        let now = step_at(1_234_567_890);
        assert_eq!(matching_step(secret, &hotp(secret, now - 1), now), Some(now - 1));
        assert_eq!(matching_step(secret, &hotp(secret, now + 1), now), Some(now + 1));
        assert_eq!(matching_step(secret, &hotp(secret, now - 2), now), None);
        assert_eq!(matching_step(secret, "12345", now), None);
        assert_eq!(matching_step(secret, "abcdef", now), None);
    }

    #[test]
    fn base32_is_rfc_4648() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn the_uri_names_issuer_account_and_secret() {
        let uri = otpauth_uri("Lectern", "ada@example.com", b"12345678901234567890");
        assert!(
            uri.starts_with(
                "otpauth://totp/Lectern:ada@example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Lectern"
            ),
            "{uri}"
        );
        let svg = qr_svg(&uri).expect("fits a QR code");
        assert!(svg.starts_with("<svg") && svg.contains("M4 4h1v1h-1z"), "the finder pattern starts at the quiet zone");
    }
}
