//! CloudFront's URL-safe base64 and the percent-encoding of object keys in URLs.

use base64::Engine;

/// Standard base64 with the three characters that are not safe in a query string replaced as
/// CloudFront requires: `+`→`-`, `=`→`_`, `/`→`~`.
pub fn encode(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(bytes)
        .chars()
        .map(|c| match c {
            '+' => '-',
            '=' => '_',
            '/' => '~',
            other => other,
        })
        .collect()
}

/// The inverse of [`encode`]; `None` for anything that is not such a value.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    let standard: String = text
        .chars()
        .map(|c| match c {
            '-' => '+',
            '_' => '=',
            '~' => '/',
            other => other,
        })
        .collect();
    base64::engine::general_purpose::STANDARD.decode(standard).ok()
}

/// Percent-encodes what a key may hold but a URL path may not carry as is (space, `%`, `?`, `#`
/// and anything outside printable ASCII). `/` stays, so keys keep their folders.
pub fn encode_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for byte in key.bytes() {
        let safe = byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&byte);
        if safe {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes `%XX` escapes of a URL path; `None` for a broken escape or bytes that are not UTF-8.
pub fn decode_path(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = bytes.get(index + 1..index + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            index += 3;
        } else {
            out.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudfront_base64_replaces_the_three_unsafe_characters_and_round_trips() {
        // 0xfb 0xff 0xbf encodes to "+/+/" in standard base64; one byte more needs padding.
        let bytes = [0xfb, 0xff, 0xbf, 0xfb, 0xff];
        let encoded = encode(&bytes);
        assert_eq!(encoded, "-~-~-~8_");
        assert_eq!(decode(&encoded), Some(bytes.to_vec()));
        assert_eq!(decode("not base64!"), None);
    }

    #[test]
    fn paths_keep_folders_and_escape_what_urls_cannot_carry() {
        assert_eq!(encode_path("assets/a b/x%y?.m4s"), "assets/a%20b/x%25y%3F.m4s");
        assert_eq!(decode_path("assets/a%20b/x%25y%3F.m4s").as_deref(), Some("assets/a b/x%y?.m4s"));
        assert_eq!(decode_path("bad%2"), None);
        assert_eq!(decode_path("caf%C3%A9").as_deref(), Some("café"));
    }
}
