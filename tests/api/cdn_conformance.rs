//! Lectern's CloudFront signer against the references: botocore's `CloudFrontSigner` (byte for
//! byte: URLs, policies and cookies for the same key and inputs), the OpenSSL command line
//! (`openssl dgst -verify` accepts our signatures), and the verifier's rules, key rotation
//! included.
//!
//! The botocore cases need the virtual environment that `scripts/install-cdn-tools.sh` makes
//! (`scripts/test.sh` runs it). Without it they fail with a message saying so: a conformance
//! test that skips itself would report green for an unchecked signer.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use lectern::cdn::{
    CdnError, CookieAttributes, HashAlgorithm, Policy, SignedRequest, Signer, SourceIp, TrustedKey, Verifier,
};
use rsa::PrivateKey;
use serde_json::{Value, json};

const KEY_PAIR_ID: &str = "K2JCJMDEHXQW5F";
const ROTATION_KEY_PAIR_ID: &str = "K3ROTATEDKEY01";
/// 2026-01-01T18:00:00Z, the expiry in CloudFront's own examples.
const EXPIRES: i64 = 1_767_290_400;
const NOT_BEFORE: i64 = 1_767_200_000;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cdn").join(name)
}

fn private_key(name: &str) -> PrivateKey {
    let pem = std::fs::read_to_string(fixture(name)).expect("the key fixture exists");
    lectern::keys::parse_rsa(&pem).expect("the key fixture parses")
}

fn signer(hash: HashAlgorithm) -> Signer {
    Signer::new(KEY_PAIR_ID, private_key("test-key-pkcs1.pem"), hash)
}

fn python() -> PathBuf {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/cdn-venv/bin/python");
    let python = std::env::var_os("LECTERN_CDN_PYTHON").map_or(venv, PathBuf::from);
    assert!(
        python.exists(),
        "{} is missing: the botocore conformance test needs the Python tools; run `bash scripts/install-cdn-tools.sh` \
         (or point LECTERN_CDN_PYTHON at a python with botocore and rsa)",
        python.display()
    );
    python
}

/// One case, in the shape tests/cdn/botocore_sign.py reads.
struct Case {
    name: &'static str,
    url: &'static str,
    /// `None`: a canned policy for `url`.
    custom: Option<(&'static str, Option<i64>, Option<&'static str>)>,
    hash: HashAlgorithm,
}

const COOKIE_DOMAIN: &str = "cdn.example.com";
const COOKIE_PATH: &str = "/assets";

fn cases() -> Vec<Case> {
    use HashAlgorithm::{Sha1, Sha256};
    let canned = |name, url, hash| Case { name, url, custom: None, hash };
    let custom =
        |name, url, resource, not_before, ip, hash| Case { name, url, custom: Some((resource, not_before, ip)), hash };
    vec![
        canned("canned", "https://d111111abcdef8.cloudfront.net/image.jpg", Sha1),
        canned("canned with a query", "https://d111111abcdef8.cloudfront.net/image.jpg?color=red&size=medium", Sha1),
        canned("canned sha256", "https://d111111abcdef8.cloudfront.net/v1/seg_00001.m4s", Sha256),
        canned("canned non-ascii", "https://cdn.example.com/cours/\u{e9}t\u{e9}/\u{1f3ac}.mp4", Sha1),
        custom(
            "custom wildcard",
            "https://cdn.example.com/assets/0192/v1/720p/seg_00001.m4s",
            "https://cdn.example.com/assets/0192/v1/*",
            None,
            None,
            Sha1,
        ),
        custom(
            "custom every condition",
            "https://cdn.example.com/assets/0192/v1/master.m3u8?session=abc",
            "https://cdn.example.com/assets/0192/v1/*",
            Some(NOT_BEFORE),
            Some("192.0.2.10"),
            Sha1,
        ),
        custom(
            "custom cidr sha256",
            "https://cdn.example.com/assets/0192/v2/init.mp4",
            "http*://cdn.example.com/assets/0192/v?/*",
            Some(NOT_BEFORE),
            Some("198.51.100.0/24"),
            Sha256,
        ),
    ]
}

fn policy_of(case: &Case) -> Policy {
    match case.custom {
        None => Policy::canned(case.url, EXPIRES),
        Some((resource, not_before, ip)) => {
            let mut policy = Policy::custom(resource, EXPIRES);
            if let Some(moment) = not_before {
                policy = policy.not_before(moment);
            }
            if let Some(ip) = ip {
                policy = policy.from_ip(SourceIp::parse(ip).expect("a valid address"));
            }
            policy
        }
    }
}

/// What Lectern makes for a case: the signed URL and the Set-Cookie values.
fn lectern_signs(case: &Case) -> (String, Vec<String>) {
    let signer = signer(case.hash);
    let signed = match case.custom {
        None => signer.sign_canned(case.url, EXPIRES),
        Some(_) => signer.sign_policy(&policy_of(case)),
    }
    .expect("signing works");
    let attributes = CookieAttributes::default().domain(COOKIE_DOMAIN).path(COOKIE_PATH);
    (signed.sign_url(case.url), signed.cookies().set_cookie_headers(&attributes))
}

fn botocore_signs(cases: &[Case]) -> Vec<Value> {
    let request = json!({
        "key_file": fixture("test-key-pkcs1.pem"),
        "key_pair_id": KEY_PAIR_ID,
        "cases": cases.iter().map(|case| {
            let mut value = json!({
                "name": case.name,
                "kind": if case.custom.is_some() { "custom" } else { "canned" },
                "url": case.url,
                "expires": EXPIRES,
                "hash": if case.hash == HashAlgorithm::Sha256 { "SHA256" } else { "SHA1" },
                "cookie_domain": COOKIE_DOMAIN,
                "cookie_path": COOKIE_PATH,
            });
            if let Some((resource, not_before, ip)) = case.custom {
                value["resource"] = json!(resource);
                value["not_before"] = json!(not_before);
                value["ip"] = json!(ip);
            }
            value
        }).collect::<Vec<_>>(),
    });
    let mut child = Command::new(python())
        .arg(fixture("botocore_sign.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the Python interpreter starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin.write_all(request.to_string().as_bytes()).expect("the request is written");
    }
    let output = child.wait_with_output().expect("the script finishes");
    assert!(
        output.status.success(),
        "botocore_sign.py failed (is botocore installed? run `bash scripts/install-cdn-tools.sh`): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: Value = serde_json::from_slice(&output.stdout).expect("the script answers JSON");
    answer["results"].as_array().expect("results").clone()
}

#[test]
fn urls_policies_and_cookies_are_byte_identical_to_botocores() {
    let cases = cases();
    let references = botocore_signs(&cases);
    assert_eq!(references.len(), cases.len());
    for (case, reference) in cases.iter().zip(&references) {
        let (url, cookies) = lectern_signs(case);
        assert_eq!(reference["policy"].as_str(), Some(policy_of(case).to_json().as_str()), "policy of {}", case.name);
        assert_eq!(reference["url"].as_str(), Some(url.as_str()), "URL of {}", case.name);
        let reference_cookies: Vec<&str> =
            reference["set_cookies"].as_array().expect("cookies").iter().filter_map(Value::as_str).collect();
        assert_eq!(reference_cookies, cookies, "cookies of {}", case.name);
    }
}

#[test]
fn openssl_verifies_lecterns_signatures_with_sha1_and_sha256() {
    let directory = tempfile::tempdir().expect("temp dir");
    let key = private_key("test-key-pkcs1.pem");
    let public_pem = {
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        key.to_public_key().to_public_key_pem(LineEnding::LF).expect("encodes")
    };
    std::fs::write(directory.path().join("pub.pem"), public_pem).expect("write");
    let policy = Policy::custom("https://cdn.example.com/assets/0192/v1/*", EXPIRES)
        .from_ip(SourceIp::parse("192.0.2.0/24").expect("block"));
    std::fs::write(directory.path().join("policy.json"), policy.to_json()).expect("write");
    for (hash, digest) in [(HashAlgorithm::Sha1, "-sha1"), (HashAlgorithm::Sha256, "-sha256")] {
        let signature = signer(hash).raw_signature(policy.to_json().as_bytes()).expect("signs");
        std::fs::write(directory.path().join("sig.bin"), signature).expect("write");
        let output = Command::new("openssl")
            .current_dir(directory.path())
            .args(["dgst", digest, "-verify", "pub.pem", "-signature", "sig.bin", "policy.json"])
            .output()
            .expect("the openssl command line is installed (Debian: apt-get install openssl)");
        assert!(output.status.success(), "{digest}: {}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "Verified OK", "{digest}");
    }
}

fn own_key() -> TrustedKey {
    TrustedKey::new(KEY_PAIR_ID, private_key("test-key-pkcs1.pem").to_public_key())
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an IP address")
}

const INSIDE: i64 = EXPIRES - 60;

#[test]
fn every_signed_case_verifies_and_tampering_is_refused() {
    let verifier = Verifier::new([own_key()]);
    for case in cases() {
        let (url, _) = lectern_signs(&case);
        let client = if case.custom.is_some_and(|(_, _, ip)| ip == Some("198.51.100.0/24")) {
            "198.51.100.77"
        } else {
            "192.0.2.10"
        };
        assert_eq!(verifier.verify(&SignedRequest::from_url(&url), ip(client), INSIDE), Ok(()), "{}", case.name);
        let tampered = url.replacen("Signature=", "Signature=AAAA", 1);
        assert_eq!(
            verifier.verify(&SignedRequest::from_url(&tampered), ip(client), INSIDE),
            Err(CdnError::SignatureInvalid),
            "{}",
            case.name
        );
    }
}

#[test]
fn the_verifier_applies_cloudfronts_conditions() {
    let verifier = Verifier::new([own_key()]);
    let check = |url: &str, client: &str, now: i64| verifier.verify(&SignedRequest::from_url(url), ip(client), now);
    let base = "https://cdn.example.com/assets/a/v1";
    let sha1 = signer(HashAlgorithm::Sha1);

    let canned = sha1.canned_url(&format!("{base}/seg_1.m4s"), EXPIRES).expect("signs");
    assert_eq!(check(&canned, "192.0.2.1", EXPIRES), Err(CdnError::SignatureExpired));
    // A canned signature covers exactly its URL: another path or another query is another policy.
    let moved = canned.replace("seg_1.m4s", "seg_2.m4s");
    assert_eq!(check(&moved, "192.0.2.1", INSIDE), Err(CdnError::SignatureInvalid));
    assert_eq!(check(&format!("{base}/seg_1.m4s"), "192.0.2.1", INSIDE), Err(CdnError::SignatureMissing));

    let policy = Policy::custom(format!("{base}/*"), EXPIRES)
        .not_before(NOT_BEFORE)
        .from_ip(SourceIp::parse("192.0.2.0/24").expect("block"));
    let signed = sha1.sign_policy(&policy).expect("signs");
    let inside = signed.sign_url(&format!("{base}/720p/seg_00001.m4s"));
    assert_eq!(check(&inside, "192.0.2.200", INSIDE), Ok(()));
    assert_eq!(check(&inside, "192.0.3.1", INSIDE), Err(CdnError::IpNotAllowed));
    assert_eq!(check(&inside, "192.0.2.200", NOT_BEFORE - 1), Err(CdnError::SignatureNotYetValid));
    assert_eq!(check(&inside, "192.0.2.200", EXPIRES), Err(CdnError::SignatureExpired));
    let outside = signed.sign_url("https://cdn.example.com/assets/a/v2/720p/seg_00001.m4s");
    assert_eq!(check(&outside, "192.0.2.200", INSIDE), Err(CdnError::ResourceNotAllowed));

    // A SHA-256 signature presented as SHA-1 (the parameter stripped) does not verify.
    let sha256 = signer(HashAlgorithm::Sha256).canned_url(&format!("{base}/seg_1.m4s"), EXPIRES).expect("signs");
    assert_eq!(check(&sha256, "192.0.2.1", INSIDE), Ok(()));
    let stripped = sha256.replace("&Hash-Algorithm=SHA256", "");
    assert_eq!(check(&stripped, "192.0.2.1", INSIDE), Err(CdnError::SignatureInvalid));
    let unknown_hash = sha256.replace("SHA256", "MD5");
    assert_eq!(check(&unknown_hash, "192.0.2.1", INSIDE), Err(CdnError::SignatureInvalid));
}

#[test]
fn cookies_verify_like_urls() {
    let verifier = Verifier::new([own_key()]);
    let policy = Policy::custom("https://cdn.example.com/assets/a/v1/*", EXPIRES);
    let cookies = signer(HashAlgorithm::Sha256).sign_policy(&policy).expect("signs").cookies().cookie_header();
    let request =
        SignedRequest::from_url_and_cookies("https://cdn.example.com/assets/a/v1/720p/seg_1.m4s", [cookies.as_str()]);
    assert_eq!(verifier.verify(&request, ip("203.0.113.5"), INSIDE), Ok(()));
    let elsewhere =
        SignedRequest::from_url_and_cookies("https://cdn.example.com/assets/b/v1/seg_1.m4s", [cookies.as_str()]);
    assert_eq!(verifier.verify(&elsewhere, ip("203.0.113.5"), INSIDE), Err(CdnError::ResourceNotAllowed));
}

#[test]
fn during_a_rotation_both_keys_verify_and_an_unknown_key_pair_is_refused() {
    // The rotated key is trusted through the same file format LECTERN_CDN_TRUSTED_KEYS_FILE
    // names: KEY_PAIR_ID=PATH, the path relative to the file, a public PEM.
    let directory = tempfile::tempdir().expect("temp dir");
    let rotated = private_key("rotation-key-pkcs8.pem");
    let public_pem = {
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        rotated.to_public_key().to_public_key_pem(LineEnding::LF).expect("encodes")
    };
    std::fs::write(directory.path().join("rotated.pub.pem"), public_pem).expect("write");
    let file = directory.path().join("trusted-keys");
    std::fs::write(&file, format!("# keys being rotated out\n\n{ROTATION_KEY_PAIR_ID}=rotated.pub.pem\n"))
        .expect("write");
    let extra = lectern::keys::load_cdn_trusted_keys(&file).expect("the trusted keys file loads");
    let verifier = Verifier::new(std::iter::once(own_key()).chain(extra));
    assert_eq!(verifier.key_pair_ids(), vec![KEY_PAIR_ID, ROTATION_KEY_PAIR_ID]);

    let url = "https://cdn.example.com/assets/a/v1/master.m3u8";
    let old = signer(HashAlgorithm::Sha1).canned_url(url, EXPIRES).expect("signs");
    let new = Signer::new(ROTATION_KEY_PAIR_ID, rotated.clone(), HashAlgorithm::Sha1)
        .canned_url(url, EXPIRES)
        .expect("signs");
    let client = ip("192.0.2.1");
    assert_eq!(verifier.verify(&SignedRequest::from_url(&old), client, INSIDE), Ok(()));
    assert_eq!(verifier.verify(&SignedRequest::from_url(&new), client, INSIDE), Ok(()));

    let unknown = Signer::new("KUNKNOWN000001", rotated, HashAlgorithm::Sha1).canned_url(url, EXPIRES).expect("signs");
    assert_eq!(verifier.verify(&SignedRequest::from_url(&unknown), client, INSIDE), Err(CdnError::UnknownKeyPair));
    // A signature made with one key but presented under the other key's id does not verify.
    let swapped = new.replace(ROTATION_KEY_PAIR_ID, KEY_PAIR_ID);
    assert_eq!(verifier.verify(&SignedRequest::from_url(&swapped), client, INSIDE), Err(CdnError::SignatureInvalid));

    std::fs::write(&file, "no equals sign here\n").expect("write");
    let error = lectern::keys::load_cdn_trusted_keys(&file).expect_err("a malformed line is refused");
    assert_eq!(error.setting, "LECTERN_CDN_TRUSTED_KEYS_FILE");
}
