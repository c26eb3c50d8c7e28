//! Property-based fuzzing (proptest) of the parsers that take bytes from outside: tus headers
//! and `Upload-Metadata`, `Range` headers, CloudFront policy JSON and signed query strings, the
//! local backend's presigned query strings, and storage keys. Each property runs a bounded number
//! of cases (`PROPTEST_CASES`, default 256 here), so the whole file takes seconds in CI; set
//! `PROPTEST_CASES=100000` for a longer hunt. None of them may panic, and what they accept must
//! mean what it says.

use std::net::{IpAddr, Ipv4Addr};

use lectern::cdn::{Cdn, CdnSettings, Policy, SignedRequest};
use lectern::media::tus::headers::{encode_metadata, parse_metadata};
use lectern::storage::ByteRange;
use lectern::storage::ObjectKey;
use lectern::storage::local::presign::SignedQuery;
use proptest::prelude::*;

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// One CDN with a fresh key, shared by the cases (RSA key generation is slow).
fn cdn() -> &'static Cdn {
    static CDN: std::sync::OnceLock<(tempfile::TempDir, Cdn)> = std::sync::OnceLock::new();
    &CDN.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        let (keys, _) = lectern::keys::load_or_generate(&crate::helpers::key_paths(dir.path())).expect("keys");
        let public_url = url::Url::parse("http://lectern.test").expect("URL");
        let cdn = Cdn::new(CdnSettings::local(&public_url), &keys.cdn);
        (dir, cdn)
    })
    .1
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn storage_keys_that_parse_are_safe_to_join_to_a_root(raw in ".{0,64}|[a-z./\\\\]{0,40}") {
        if let Ok(key) = ObjectKey::parse(raw.clone()) {
            let text = key.as_str();
            prop_assert_eq!(text, raw.as_str());
            prop_assert!(!text.starts_with('/') && !text.ends_with('/'));
            prop_assert!(!text.contains('\\') && !text.chars().any(char::is_control));
            prop_assert!(text.split('/').all(|segment| !segment.is_empty() && !segment.starts_with('.')));
        }
    }

    #[test]
    fn range_headers_never_panic_and_what_parses_prints_back(raw in ".{0,40}|bytes=[0-9 ,-]{0,30}") {
        if let Some(range) = ByteRange::parse_header(&raw) {
            prop_assert_eq!(ByteRange::parse_header(&range.to_header()), Some(range));
        }
    }

    #[test]
    fn well_formed_ranges_parse_to_themselves(first in any::<u64>(), length in 0u64..1 << 40) {
        let last = first.saturating_add(length);
        prop_assert_eq!(ByteRange::parse_header(&format!("bytes={first}-{last}")), Some(ByteRange::Inclusive(first, last)));
        prop_assert_eq!(ByteRange::parse_header(&format!("bytes={last}-{first}")).is_some(), first == last);
    }

    #[test]
    fn tus_metadata_never_panics_and_round_trips(
        raw in ".{0,80}",
        pairs in proptest::collection::btree_map("[a-z_]{1,12}", "[^\u{0}]{0,40}", 0..6),
    ) {
        let _ = parse_metadata(&raw);
        let json = serde_json::to_value(&pairs).expect("json");
        let parsed = parse_metadata(&encode_metadata(&json)).expect("what we encode parses");
        prop_assert_eq!(parsed, pairs);
    }

    #[test]
    fn tus_metadata_values_with_a_nul_are_refused(before in "[a-z]{0,8}", after in "[a-z]{0,8}") {
        let value = format!("{before}\u{0}{after}");
        let json = serde_json::json!({"filename": value});
        prop_assert!(parse_metadata(&encode_metadata(&json)).is_err());
    }

    #[test]
    fn policy_json_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = Policy::parse(&raw);
    }

    #[test]
    fn policies_round_trip_through_their_json(
        resource in proptest::option::of("https://[a-z]{1,10}\\.test/[a-z0-9/*?_.-]{0,30}"),
        date_less_than in 0i64..4_000_000_000,
        date_greater_than in proptest::option::of(0i64..4_000_000_000),
    ) {
        let policy = Policy { resource, date_less_than, date_greater_than, ip_address: None };
        let parsed = Policy::parse(policy.to_json().as_bytes()).expect("our own JSON parses");
        prop_assert_eq!(parsed, policy);
    }

    #[test]
    fn signed_query_strings_never_panic(raw in "[ -~]{0,120}") {
        let _ = SignedQuery::parse(Some(&raw));
        let request = SignedRequest::from_url(&format!("http://lectern.test/cdn/a.m4s?{raw}"));
        let result = cdn().verifier.verify(&request, IpAddr::V4(Ipv4Addr::LOCALHOST), 1_700_000_000);
        prop_assert!(result.is_err(), "an unsigned query string verified: {raw}");
    }

    #[test]
    fn a_signed_url_changed_anywhere_is_refused(position in any::<prop::sample::Index>(), byte in 0x21u8..0x7f) {
        let cdn = cdn();
        let url = "http://lectern.test/cdn/assets/a/v1/seg_00001.m4s";
        let signed = cdn.signer.canned_url(url, 4_000_000_000).expect("signs");
        let now = 1_700_000_000;
        let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
        prop_assert!(cdn.verifier.verify(&SignedRequest::from_url(&signed), localhost, now).is_ok());
        let mut tampered = signed.clone().into_bytes();
        let at = position.index(tampered.len());
        prop_assume!(tampered[at] != byte);
        tampered[at] = byte;
        let tampered = String::from_utf8(tampered).expect("ASCII");
        let result = cdn.verifier.verify(&SignedRequest::from_url(&tampered), localhost, now);
        // Base64 variants CloudFront treats alike (`-`/`+`, `_`/`=`, `~`/`/`) may verify;
        // anything else must not.
        let alike = |a: u8, b: u8| matches!((a, b), (b'-', b'+') | (b'+', b'-') | (b'_', b'=') | (b'=', b'_') | (b'~', b'/') | (b'/', b'~'));
        if result.is_ok() {
            prop_assert!(alike(signed.as_bytes()[at], byte), "a tampered URL verified: {tampered}");
        }
    }
}
