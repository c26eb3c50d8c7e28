//! Reading and writing the tus headers.

use std::collections::BTreeMap;

use axum::http::{HeaderMap, HeaderValue, header};
use base64::Engine;
use time::OffsetDateTime;

use super::writer::ExpectedChecksum;
use crate::media::MediaError;

const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

pub(super) fn check_version(headers: &HeaderMap) -> Result<(), MediaError> {
    match headers.get("tus-resumable").map(HeaderValue::as_bytes) {
        Some(b"1.0.0") => Ok(()),
        _ => Err(MediaError::TusVersion),
    }
}

/// A numeric header, `None` when absent, `invalid_upload_header` when malformed.
pub(super) fn header_u64(headers: &HeaderMap, name: &'static str) -> Result<Option<u64>, MediaError> {
    headers
        .get(name)
        .map(|value| {
            value
                .to_str()
                .ok()
                .and_then(|text| text.trim().parse::<u64>().ok())
                .ok_or_else(|| MediaError::InvalidUploadHeader(format!("{name} must be a non-negative integer")))
        })
        .transpose()
}

pub(super) fn is_offset_stream(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case(OFFSET_OCTET_STREAM))
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs (the value may be absent).
pub fn parse_metadata(raw: &str) -> Result<BTreeMap<String, String>, MediaError> {
    let invalid = |why: &str| MediaError::InvalidUploadHeader(format!("Upload-Metadata: {why}"));
    let mut metadata = BTreeMap::new();
    for pair in raw.split(',').map(str::trim).filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_graphic()) {
            return Err(invalid("keys must be non-empty ASCII without spaces"));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .map_err(|_| invalid("values must be base64"))?;
        let value = String::from_utf8(decoded).map_err(|_| invalid("values must be UTF-8 text"))?;
        if crate::http::text::has_nul(&value) {
            // Stored with the upload; PostgreSQL cannot hold it.
            return Err(MediaError::InvalidText(format!(
                "Upload-Metadata: the value of {key} contains a NUL character (U+0000), which text may not hold"
            )));
        }
        if metadata.insert(key.to_owned(), value).is_some() {
            return Err(invalid("a key appears twice"));
        }
    }
    Ok(metadata)
}

pub fn encode_metadata(metadata: &serde_json::Value) -> String {
    let Some(map) = metadata.as_object() else { return String::new() };
    map.iter()
        .map(|(key, value)| {
            let value = value.as_str().unwrap_or_default();
            if value.is_empty() {
                key.clone()
            } else {
                format!("{key} {}", base64::engine::general_purpose::STANDARD.encode(value))
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `Upload-Checksum: <algorithm> <base64 digest>`.
pub(super) fn parse_checksum(headers: &HeaderMap) -> Result<Option<ExpectedChecksum>, MediaError> {
    let Some(value) = headers.get("upload-checksum") else { return Ok(None) };
    let invalid =
        || MediaError::InvalidUploadHeader("Upload-Checksum must be `<algorithm> <base64 digest>`".to_owned());
    let text = value.to_str().map_err(|_| invalid())?.trim();
    let (algorithm, digest) = text.split_once(' ').ok_or_else(invalid)?;
    let digest = base64::engine::general_purpose::STANDARD.decode(digest.trim()).map_err(|_| invalid())?;
    match algorithm.to_ascii_lowercase().as_str() {
        "sha1" if digest.len() == 20 => Ok(Some(ExpectedChecksum::Sha1(digest))),
        "sha256" if digest.len() == 32 => Ok(Some(ExpectedChecksum::Sha256(digest))),
        "sha1" | "sha256" => Err(invalid()),
        other => Err(MediaError::UnsupportedChecksum(other.to_owned())),
    }
}

/// RFC 7231 `IMF-fixdate`, as `Upload-Expires` requires.
pub(super) fn http_date(when: OffsetDateTime) -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    when.to_offset(time::UtcOffset::UTC).format(&format).unwrap_or_default()
}

pub(super) fn header_value(text: &str) -> HeaderValue {
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_decodes_base64_values_and_keys_without_values() {
        let parsed = parse_metadata("asset_id MTIz,filename bGVjdHVyZS5tcDQ=,is_confidential").expect("valid");
        assert_eq!(parsed.get("asset_id").map(String::as_str), Some("123"));
        assert_eq!(parsed.get("filename").map(String::as_str), Some("lecture.mp4"));
        assert_eq!(parsed.get("is_confidential").map(String::as_str), Some(""));
        assert!(parse_metadata("filename !!!").is_err());
        assert!(parse_metadata("a MTIz,a MTIz").is_err());
        assert!(matches!(parse_metadata("filename YQBi"), Err(MediaError::InvalidText(_))), "a\\0b");
        let json = serde_json::to_value(&parsed).expect("json");
        assert_eq!(parse_metadata(&encode_metadata(&json)).expect("round trip"), parsed);
    }

    #[test]
    fn upload_expires_is_an_imf_fixdate() {
        let when = OffsetDateTime::from_unix_timestamp(1_403_712_000).expect("valid");
        assert_eq!(http_date(when), "Wed, 25 Jun 2014 16:00:00 GMT");
    }

    #[test]
    fn checksums_name_a_known_algorithm_and_a_digest_of_its_size() {
        let mut headers = HeaderMap::new();
        headers.insert("upload-checksum", HeaderValue::from_static("sha1 Kq5sNclPz7QV2+lfQIuc6R7oRu0="));
        assert!(matches!(parse_checksum(&headers), Ok(Some(ExpectedChecksum::Sha1(_)))));
        headers.insert("upload-checksum", HeaderValue::from_static("md5 1B2M2Y8AsgTpgAmY7PhCfg=="));
        assert!(matches!(parse_checksum(&headers), Err(MediaError::UnsupportedChecksum(_))));
        headers.insert("upload-checksum", HeaderValue::from_static("sha256 MTIz"));
        assert!(matches!(parse_checksum(&headers), Err(MediaError::InvalidUploadHeader(_))));
    }
}
