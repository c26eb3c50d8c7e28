//! Signing keys: loaded from PEM files, and generated on first start in embedded mode.
//!
//! These secrets exist: an RSA-2048 key that signs CloudFront-style playback URLs, an Ed25519 key
//! that signs access tokens, another Ed25519 key that signs course-completion certificates, an
//! HMAC secret for the local storage backend's presigned URLs, the LTI tool's RSA key, and a
//! 256-bit key that encrypts webhook signing secrets at rest (with earlier ones that still
//! decrypt after a rotation). The two Ed25519 keys are kept apart
//! (loading refuses one key in both roles): a token key's compromise is handled by rotating it
//! within minutes, while a certificate key vouches for records for years; and a key that signs both
//! could be made to sign a token that parses as a certificate or the other way round.
//! Keys at their default paths (under the data directory) are generated when missing, with file
//! mode 0600; a path set explicitly must exist and parse, so a typo never silently mints a new
//! key that no CDN knows.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use rsa::PrivateKey as RsaPrivateKey;
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::config::ConfigError;

/// Paths of the signing keys, and whether each may be generated when missing.
#[derive(Debug, Clone)]
pub struct KeyPaths {
    pub cdn_key: KeyPath,
    pub cdn_key_pair_id: Option<String>,
    pub token_key: KeyPath,
    /// Verification-only token keys from before a rotation; each must exist.
    pub token_previous_keys: Vec<PathBuf>,
    pub storage_secret: KeyPath,
    pub certificate_key: KeyPath,
    /// Verification-only certificate keys from before a rotation; each must exist.
    pub certificate_previous_keys: Vec<PathBuf>,
    /// The RSA key of the LTI 1.3 tool (signs deep-linking responses and grade-service
    /// assertions; published at `/lti/jwks`).
    pub lti_key: KeyPath,
    /// The key that encrypts webhook signing secrets at rest.
    pub webhook_key: KeyPath,
    /// Webhook keys from before a rotation: they still decrypt (secrets sealed with them are
    /// sealed again with the current key at start-up); each must exist.
    pub webhook_previous_keys: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct KeyPath {
    pub path: PathBuf,
    /// The variable that can point elsewhere, for error messages.
    pub setting: &'static str,
    /// True for the default location, where a missing key is generated.
    pub generate_if_missing: bool,
}

/// The RSA key that signs playback URLs, with the id CDNs know its public half by.
#[derive(Clone)]
pub struct CdnSigningKey {
    pub key_pair_id: String,
    pub private_key: RsaPrivateKey,
}

impl std::fmt::Debug for CdnSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CdnSigningKey").field("key_pair_id", &self.key_pair_id).finish_non_exhaustive()
    }
}

/// The Ed25519 key that signs access tokens, as PKCS#8 DER, with its raw public half.
#[derive(Clone)]
pub struct TokenSigningKey {
    pub key_id: String,
    pub pkcs8_der: Vec<u8>,
    pub public_key: Vec<u8>,
}

/// An Ed25519 public key that verifies tokens signed before a rotation. It never signs.
#[derive(Debug, Clone)]
pub struct TokenVerifyingKey {
    pub key_id: String,
    /// The raw 32-byte public key.
    pub public_key: Vec<u8>,
}

impl std::fmt::Debug for TokenSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigningKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// The Ed25519 key that signs course-completion certificates, as PKCS#8 DER, with its raw public
/// half. A type of its own, so a token key cannot be handed to the certificate signer.
#[derive(Clone)]
pub struct CertificateSigningKey {
    pub key_id: String,
    pub pkcs8_der: Vec<u8>,
    pub public_key: Vec<u8>,
}

impl std::fmt::Debug for CertificateSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateSigningKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// An Ed25519 public key that verifies certificates signed before a rotation. It never signs.
/// The RSA key the LTI tool signs with (RS256, which LTI 1.3 requires), as PKCS#1 DER, with its
/// JWK parameters. Kept apart from the CDN key: an LMS that learns this public key must not be
/// able to check (or be tricked into accepting) playback signatures, and either can be rotated
/// alone.
#[derive(Clone)]
pub struct LtiSigningKey {
    pub key_id: String,
    pub pkcs1_der: Vec<u8>,
    /// Modulus and exponent, base64url without padding (the JWK's `n` and `e`).
    pub modulus: String,
    pub exponent: String,
}

impl std::fmt::Debug for LtiSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LtiSigningKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

#[derive(Debug, Clone)]
pub struct CertificateVerifyingKey {
    pub key_id: String,
    /// The raw 32-byte public key.
    pub public_key: Vec<u8>,
}

/// A 256-bit key that encrypts webhook signing secrets (AES-256-GCM), with the id stored beside
/// every ciphertext it made, so rows sealed before a rotation still find their key.
#[derive(Clone)]
pub struct WebhookSecretKey {
    pub key_id: String,
    pub bytes: [u8; 32],
}

impl std::fmt::Debug for WebhookSecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSecretKey").field("key_id", &self.key_id).finish_non_exhaustive()
    }
}

/// The webhook key that seals, and the earlier ones that only open.
#[derive(Debug, Clone)]
pub struct WebhookSecretKeys {
    pub current: WebhookSecretKey,
    pub previous: Vec<WebhookSecretKey>,
}

#[derive(Debug, Clone)]
pub struct Keys {
    pub cdn: CdnSigningKey,
    pub token: TokenSigningKey,
    /// Verification-only keys from `LECTERN_TOKEN_PREVIOUS_KEY_FILES`.
    pub token_previous: Vec<TokenVerifyingKey>,
    pub storage_secret: SecretString,
    pub certificate: CertificateSigningKey,
    /// Verification-only keys from `LECTERN_CERTIFICATE_PREVIOUS_KEY_FILES`.
    pub certificate_previous: Vec<CertificateVerifyingKey>,
    pub lti: LtiSigningKey,
    pub webhook_secrets: WebhookSecretKeys,
}

/// Which keys were created by this call, for the log and `lectern keys generate`.
#[derive(Debug, Default)]
pub struct Generated(pub Vec<String>);

/// Loads every key, generating the missing ones that live at their default paths.
pub fn load_or_generate(paths: &KeyPaths) -> Result<(Keys, Generated), ConfigError> {
    let mut generated = Generated::default();
    let cdn_pem = read_or_create(&paths.cdn_key, &mut generated, generate_rsa_pem)?;
    let private_key = parse_rsa(&cdn_pem).map_err(|message| ConfigError::new(paths.cdn_key.setting, message))?;
    let key_pair_id = match &paths.cdn_key_pair_id {
        Some(id) => id.clone(),
        None => {
            derived_key_pair_id(&private_key).map_err(|message| ConfigError::new(paths.cdn_key.setting, message))?
        }
    };

    let token = load_ed25519(&paths.token_key, &paths.token_previous_keys, TOKEN_PREVIOUS_SETTING, &mut generated)?;
    let certificate = load_ed25519(
        &paths.certificate_key,
        &paths.certificate_previous_keys,
        CERTIFICATE_PREVIOUS_SETTING,
        &mut generated,
    )?;
    let token_public_keys: Vec<&[u8]> = token.public_keys().collect();
    if let Some(shared) = certificate.public_keys().find(|key| token_public_keys.contains(key)) {
        let setting = if shared == certificate.public_key.as_slice() {
            paths.certificate_key.setting
        } else {
            CERTIFICATE_PREVIOUS_SETTING
        };
        return Err(ConfigError::new(
            setting,
            format!(
                "key {} is also a token key; certificates need an Ed25519 key of their own",
                derive_ed25519_key_id(shared)
            ),
        ));
    }

    let secret = read_or_create(&paths.storage_secret, &mut generated, generate_secret)?;
    let secret = secret.trim().to_owned();
    if secret.len() < 32 {
        return Err(ConfigError::new(paths.storage_secret.setting, "secret must be at least 32 characters"));
    }

    let lti_pem = read_or_create(&paths.lti_key, &mut generated, generate_rsa_pem)?;
    let lti_private = parse_rsa(&lti_pem).map_err(|message| ConfigError::new(paths.lti_key.setting, message))?;
    if lti_private.n_bytes() == private_key.n_bytes() {
        return Err(ConfigError::new(
            paths.lti_key.setting,
            "the LTI tool needs an RSA key of its own, not the CDN key",
        ));
    }
    let lti = lti_signing_key(&lti_private).map_err(|message| ConfigError::new(paths.lti_key.setting, message))?;

    let webhook_secrets = load_webhook_keys(paths, &mut generated)?;

    let keys = Keys {
        lti,
        webhook_secrets,
        cdn: CdnSigningKey { key_pair_id, private_key },
        token: TokenSigningKey { key_id: token.key_id, pkcs8_der: token.pkcs8_der, public_key: token.public_key },
        token_previous: token
            .previous
            .into_iter()
            .map(|(key_id, public_key)| TokenVerifyingKey { key_id, public_key })
            .collect(),
        storage_secret: SecretString::from(secret),
        certificate: CertificateSigningKey {
            key_id: certificate.key_id,
            pkcs8_der: certificate.pkcs8_der,
            public_key: certificate.public_key,
        },
        certificate_previous: certificate
            .previous
            .into_iter()
            .map(|(key_id, public_key)| CertificateVerifyingKey { key_id, public_key })
            .collect(),
    };
    Ok((keys, generated))
}

const WEBHOOK_PREVIOUS_SETTING: &str = "LECTERN_WEBHOOK_PREVIOUS_KEY_FILES";

/// The current webhook key (generated at its default path when missing) and the previous ones.
fn load_webhook_keys(paths: &KeyPaths, generated: &mut Generated) -> Result<WebhookSecretKeys, ConfigError> {
    let text = read_or_create(&paths.webhook_key, generated, generate_secret)?;
    let current = parse_webhook_key(&text).map_err(|message| ConfigError::new(paths.webhook_key.setting, message))?;
    let mut previous: Vec<WebhookSecretKey> = Vec::new();
    for path in &paths.webhook_previous_keys {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(WEBHOOK_PREVIOUS_SETTING, format!("cannot read {} ({e})", path.display())))?;
        let key = parse_webhook_key(&text)
            .map_err(|message| ConfigError::new(WEBHOOK_PREVIOUS_SETTING, format!("{}: {message}", path.display())))?;
        if key.key_id != current.key_id && !previous.iter().any(|known| known.key_id == key.key_id) {
            previous.push(key);
        }
    }
    Ok(WebhookSecretKeys { current, previous })
}

/// 32 bytes as 64 hexadecimal digits (what `generate_secret` writes; `openssl rand -hex 32`
/// makes one too). The id is derived from the key, so it is the same wherever the file is.
fn parse_webhook_key(text: &str) -> Result<WebhookSecretKey, String> {
    let bytes = hex::decode(text.trim()).map_err(|_| "must be 64 hexadecimal digits (32 bytes)".to_owned())?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| "must be 64 hexadecimal digits (32 bytes)".to_owned())?;
    let mut digest = Sha256::new();
    digest.update(b"lectern webhook secret key id\n");
    digest.update(bytes);
    Ok(WebhookSecretKey { key_id: format!("whk-{}", &hex::encode(digest.finalize())[..16]), bytes })
}

const TOKEN_PREVIOUS_SETTING: &str = "LECTERN_TOKEN_PREVIOUS_KEY_FILES";
const CERTIFICATE_PREVIOUS_SETTING: &str = "LECTERN_CERTIFICATE_PREVIOUS_KEY_FILES";

/// An Ed25519 signing key with its id, and the verification-only keys of earlier rotations.
struct LoadedEd25519 {
    key_id: String,
    pkcs8_der: Vec<u8>,
    public_key: Vec<u8>,
    /// `(key_id, raw public key)`, without the current key.
    previous: Vec<(String, Vec<u8>)>,
}

impl LoadedEd25519 {
    fn public_keys(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(self.public_key.as_slice()).chain(self.previous.iter().map(|(_, key)| key.as_slice()))
    }
}

/// Loads (or generates) an Ed25519 signing key and reads its previous keys, each of which must
/// exist.
fn load_ed25519(
    key: &KeyPath,
    previous_paths: &[PathBuf],
    previous_setting: &'static str,
    generated: &mut Generated,
) -> Result<LoadedEd25519, ConfigError> {
    let pem = read_or_create(key, generated, generate_ed25519_pem)?;
    let pkcs8_der = pem_body(&pem, "PRIVATE KEY").map_err(|message| ConfigError::new(key.setting, message))?;
    let public_key = ed25519_public_key(&pkcs8_der).map_err(|message| ConfigError::new(key.setting, message))?;
    let mut previous = Vec::new();
    for path in previous_paths {
        let pem = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(previous_setting, format!("cannot read {} ({e})", path.display())))?;
        let previous_key = parse_ed25519_public(&pem)
            .map_err(|message| ConfigError::new(previous_setting, format!("{}: {message}", path.display())))?;
        // The current key is already published; listing it twice would only confuse clients.
        if previous_key != public_key {
            previous.push((derive_ed25519_key_id(&previous_key), previous_key));
        }
    }
    Ok(LoadedEd25519 { key_id: derive_ed25519_key_id(&public_key), pkcs8_der, public_key, previous })
}

/// The key id published in the JWKS and in token headers (or beside a certificate): derived from
/// the public key alone, so a previous key given as a public key keeps the id it had while it was
/// signing.
fn derive_ed25519_key_id(public_key: &[u8]) -> String {
    format!("ed25519-{}", &hex::encode(Sha256::digest(public_key))[..16])
}

fn ed25519_public_key(pkcs8_der: &[u8]) -> Result<Vec<u8>, String> {
    use aws_lc_rs::signature::KeyPair;
    let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(pkcs8_der)
        .map_err(|e| format!("not an Ed25519 PKCS#8 private key ({e})"))?;
    Ok(pair.public_key().as_ref().to_vec())
}

/// The DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): the algorithm identifier
/// 1.3.101.112 and a 33-byte bit string; the 32 key bytes follow.
const ED25519_SPKI_PREFIX: [u8; 12] = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];

/// Accepts `BEGIN PUBLIC KEY` (what `openssl pkey -pubout` writes) or a PKCS#8 private key, of
/// which only the public half is kept.
fn parse_ed25519_public(pem: &str) -> Result<Vec<u8>, String> {
    if pem.contains("BEGIN PUBLIC KEY") {
        let der = pem_body(pem, "PUBLIC KEY")?;
        match der.strip_prefix(ED25519_SPKI_PREFIX.as_slice()) {
            Some(key) if key.len() == 32 => Ok(key.to_vec()),
            _ => Err("not an Ed25519 public key".to_owned()),
        }
    } else {
        ed25519_public_key(&pem_body(pem, "PRIVATE KEY")?)
    }
}

/// The public half of an Ed25519 key as SPKI PEM (for rotation: keep it as a previous key).
pub fn ed25519_public_key_pem(public_key: &[u8]) -> String {
    let mut der = ED25519_SPKI_PREFIX.to_vec();
    der.extend_from_slice(public_key);
    pem_encode("PUBLIC KEY", &der)
}

fn read_or_create(
    key: &KeyPath,
    generated: &mut Generated,
    generate: fn() -> Result<String, String>,
) -> Result<String, ConfigError> {
    match std::fs::read_to_string(&key.path) {
        Ok(contents) => Ok(contents),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && key.generate_if_missing => {
            let contents = generate().map_err(|message| ConfigError::new(key.setting, message))?;
            write_private(&key.path, &contents)
                .map_err(|e| ConfigError::new(key.setting, format!("cannot write {} ({e})", key.path.display())))?;
            generated.0.push(key.path.display().to_string());
            Ok(contents)
        }
        Err(e) => Err(ConfigError::new(key.setting, format!("cannot read {} ({e})", key.path.display()))),
    }
}

/// Writes a secret file readable by its owner only, atomically: a crash never leaves half a key.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let temp =
        dir.join(format!(".{}.tmp", path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()));
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&temp)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temp, path)
}

fn lti_signing_key(key: &RsaPrivateKey) -> Result<LtiSigningKey, String> {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let modulus = key.n_bytes();
    let exponent = key.e_bytes();
    let pkcs1_der = key.to_pkcs1_der().map_err(|e| format!("cannot encode the RSA key ({e})"))?.as_bytes().to_vec();
    Ok(LtiSigningKey {
        key_id: format!("rsa-{}", &hex::encode(Sha256::digest(&modulus))[..16]),
        pkcs1_der,
        modulus: b64.encode(&modulus),
        exponent: b64.encode(&exponent),
    })
}

fn generate_rsa_pem() -> Result<String, String> {
    let mut rng = getrandom::SysRng;
    let key = RsaPrivateKey::new(&mut rng, 2048).map_err(|e| format!("cannot generate an RSA key ({e})"))?;
    let pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| format!("cannot encode the RSA key ({e})"))?;
    Ok(pem.to_string())
}

fn generate_ed25519_pem() -> Result<String, String> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let document = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
        .map_err(|e| format!("cannot generate an Ed25519 key ({e})"))?;
    Ok(pem_encode("PRIVATE KEY", document.as_ref()))
}

fn generate_secret() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no system randomness ({e})"))?;
    Ok(format!("{}\n", hex::encode(bytes)))
}

/// Accepts both PKCS#8 (`BEGIN PRIVATE KEY`, what OpenSSL 3 `genrsa` writes) and PKCS#1
/// (`BEGIN RSA PRIVATE KEY`, what CloudFront's documentation and older tools write).
pub fn parse_rsa(pem: &str) -> Result<RsaPrivateKey, String> {
    let key = if pem.contains("BEGIN RSA PRIVATE KEY") {
        RsaPrivateKey::from_pkcs1_pem(pem).map_err(|e| format!("not a valid PKCS#1 RSA private key ({e})"))?
    } else {
        RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| format!("not a valid PKCS#8 RSA private key ({e})"))?
    };
    if key.size() < 256 {
        return Err("RSA key must be at least 2048 bits".to_owned());
    }
    Ok(key)
}

const TRUSTED_KEYS_SETTING: &str = "LECTERN_CDN_TRUSTED_KEYS_FILE";

/// Reads the extra public keys the signed origin trusts during a key rotation: one
/// `KEY_PAIR_ID=PATH` a line (blank lines and `#` comments ignored), each PATH a PEM public key
/// (`BEGIN PUBLIC KEY` or `BEGIN RSA PUBLIC KEY`) or a private key of which only the public half
/// is kept, relative paths being relative to the file.
pub fn load_cdn_trusted_keys(path: &Path) -> Result<Vec<crate::cdn::TrustedKey>, ConfigError> {
    let error = |message: String| ConfigError::new(TRUSTED_KEYS_SETTING, format!("{}: {message}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| error(format!("cannot read ({e})")))?;
    let directory = path.parent().unwrap_or(Path::new("."));
    let mut keys = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line_error = |message: String| error(format!("line {}: {message}", number + 1));
        let (id, pem_path) = line
            .split_once('=')
            .map(|(id, pem_path)| (id.trim(), pem_path.trim()))
            .filter(|(id, pem_path)| !id.is_empty() && !pem_path.is_empty())
            .ok_or_else(|| line_error("expected KEY_PAIR_ID=PATH".to_owned()))?;
        let pem_path = directory.join(pem_path);
        let pem = std::fs::read_to_string(&pem_path)
            .map_err(|e| line_error(format!("cannot read {} ({e})", pem_path.display())))?;
        let public_key =
            parse_rsa_public(&pem).map_err(|message| line_error(format!("{}: {message}", pem_path.display())))?;
        keys.push(crate::cdn::TrustedKey::new(id, public_key));
    }
    Ok(keys)
}

/// An RSA public key from PEM: SubjectPublicKeyInfo, PKCS#1, or a private key (PKCS#1 or
/// PKCS#8) of which the public half is kept.
pub fn parse_rsa_public(pem: &str) -> Result<rsa::PublicKey, String> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    let key = if pem.contains("BEGIN PUBLIC KEY") {
        rsa::PublicKey::from_public_key_pem(pem).map_err(|e| format!("not an RSA public key ({e})"))?
    } else if pem.contains("BEGIN RSA PUBLIC KEY") {
        rsa::PublicKey::from_pkcs1_pem(pem).map_err(|e| format!("not a PKCS#1 RSA public key ({e})"))?
    } else {
        parse_rsa(pem)?.to_public_key()
    };
    if key.size() < 256 {
        return Err("RSA key must be at least 2048 bits".to_owned());
    }
    Ok(key)
}

/// A stable id for a generated key, shaped like CloudFront's (`K` + 13 upper-case characters).
fn derived_key_pair_id(key: &RsaPrivateKey) -> Result<String, String> {
    let public_der =
        key.to_public_key().to_public_key_der().map_err(|e| format!("cannot encode the public key ({e})"))?;
    let digest = hex::encode_upper(Sha256::digest(public_der.as_bytes()));
    Ok(format!("K{}", &digest[..13]))
}

/// The public half of the CDN key as PEM, for uploading to CloudFront.
pub fn cdn_public_key_pem(key: &CdnSigningKey) -> Result<String, String> {
    key.private_key
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| format!("cannot encode the public key ({e})"))
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

pub(crate) fn pem_body(pem: &str, label: &str) -> Result<Vec<u8>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin).ok_or_else(|| format!("no {begin} line"))? + begin.len();
    let stop = pem[start..].find(&end).ok_or_else(|| format!("no {end} line"))? + start;
    let body: String = pem[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(body).map_err(|e| format!("bad base64 in PEM ({e})"))
}

/// Exposes the storage secret's bytes for HMAC keys.
pub fn secret_bytes(secret: &SecretString) -> &[u8] {
    secret.expose_secret().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn default_paths(dir: &Path) -> KeyPaths {
        let key = |name: &str, setting| KeyPath { path: dir.join(name), setting, generate_if_missing: true };
        KeyPaths {
            cdn_key: key("cdn.pem", "LECTERN_CDN_KEY_FILE"),
            cdn_key_pair_id: None,
            token_key: key("token.pem", "LECTERN_TOKEN_KEY_FILE"),
            token_previous_keys: Vec::new(),
            storage_secret: key("secret", "LECTERN_STORAGE_SECRET_FILE"),
            certificate_key: key("certificate.pem", "LECTERN_CERTIFICATE_KEY_FILE"),
            certificate_previous_keys: Vec::new(),
            lti_key: key("lti.pem", "LECTERN_LTI_KEY_FILE"),
            webhook_key: key("webhook-secret-key", "LECTERN_WEBHOOK_KEY_FILE"),
            webhook_previous_keys: Vec::new(),
        }
    }

    #[test]
    fn a_previous_webhook_key_keeps_its_id_and_a_bad_one_names_its_setting() {
        let old_dir = tempfile::tempdir().expect("temp dir");
        let (old, _) = load_or_generate(&default_paths(old_dir.path())).expect("generated");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut paths = default_paths(dir.path());
        paths.webhook_previous_keys = vec![old_dir.path().join("webhook-secret-key"), paths.webhook_key.path.clone()];
        let (keys, _) = load_or_generate(&paths).expect("loaded");
        assert_ne!(keys.webhook_secrets.current.key_id, old.webhook_secrets.current.key_id);
        // The current key listed again is not a previous one.
        assert_eq!(keys.webhook_secrets.previous.len(), 1);
        assert_eq!(keys.webhook_secrets.previous[0].key_id, old.webhook_secrets.current.key_id);
        assert_eq!(keys.webhook_secrets.previous[0].bytes, old.webhook_secrets.current.bytes);

        std::fs::write(dir.path().join("short"), "abcd").expect("write");
        paths.webhook_previous_keys = vec![dir.path().join("short")];
        assert_eq!(load_or_generate(&paths).expect_err("too short").setting, "LECTERN_WEBHOOK_PREVIOUS_KEY_FILES");
    }

    #[test]
    fn missing_default_keys_are_generated_private_and_then_reused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = default_paths(&dir.path().join("keys"));
        let (first, generated) = load_or_generate(&paths).expect("generated");
        assert_eq!(generated.0.len(), 6);
        for path in [
            &paths.cdn_key.path,
            &paths.token_key.path,
            &paths.storage_secret.path,
            &paths.certificate_key.path,
            &paths.lti_key.path,
            &paths.webhook_key.path,
        ] {
            let mode = std::fs::metadata(path).expect("exists").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", path.display());
        }
        let (second, generated) = load_or_generate(&paths).expect("loaded");
        assert!(generated.0.is_empty());
        assert_eq!(first.cdn.key_pair_id, second.cdn.key_pair_id);
        assert_eq!(first.token.pkcs8_der, second.token.pkcs8_der);
        assert_eq!(first.certificate.pkcs8_der, second.certificate.pkcs8_der);
        assert_ne!(first.certificate.public_key, first.token.public_key);
        assert_ne!(first.certificate.key_id, first.token.key_id);
        assert!(first.cdn.key_pair_id.starts_with('K') && first.cdn.key_pair_id.len() == 14);
        assert_eq!(first.lti.pkcs1_der, second.lti.pkcs1_der);
        assert_eq!(first.lti.key_id, second.lti.key_id);
        assert_eq!(first.webhook_secrets.current.bytes, second.webhook_secrets.current.bytes);
        assert_eq!(first.webhook_secrets.current.key_id, second.webhook_secrets.current.key_id);
    }

    #[test]
    fn the_lti_key_cannot_be_the_cdn_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut paths = default_paths(dir.path());
        load_or_generate(&paths).expect("generated");
        paths.lti_key.path = paths.cdn_key.path.clone();
        let error = load_or_generate(&paths).expect_err("one key in both roles");
        assert!(error.to_string().contains("LECTERN_LTI_KEY_FILE"), "{error}");
    }

    #[test]
    fn an_explicit_key_path_that_does_not_exist_is_an_error_naming_the_setting() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut paths = default_paths(dir.path());
        paths.cdn_key.generate_if_missing = false;
        let error = load_or_generate(&paths).expect_err("must not generate");
        assert_eq!(error.setting, "LECTERN_CDN_KEY_FILE");
    }

    #[test]
    fn a_previous_token_key_keeps_its_key_id_whether_given_as_public_or_private_pem() {
        let old_dir = tempfile::tempdir().expect("temp dir");
        let (old, _) = load_or_generate(&default_paths(old_dir.path())).expect("generated");
        let public_pem = old_dir.path().join("old-public.pem");
        std::fs::write(&public_pem, ed25519_public_key_pem(&old.token.public_key)).expect("write");

        let dir = tempfile::tempdir().expect("temp dir");
        let mut paths = default_paths(dir.path());
        paths.token_previous_keys = vec![public_pem, old_dir.path().join("token.pem")];
        let (keys, _) = load_or_generate(&paths).expect("loaded");
        assert_eq!(keys.token_previous.len(), 2);
        for previous in &keys.token_previous {
            assert_eq!(previous.key_id, old.token.key_id);
            assert_eq!(previous.public_key, old.token.public_key);
        }
        assert_ne!(keys.token.key_id, old.token.key_id);
    }

    #[test]
    fn a_garbage_key_file_is_an_error_naming_the_setting() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = default_paths(dir.path());
        std::fs::write(&paths.token_key.path, "not a key").expect("write");
        let error = load_or_generate(&paths).expect_err("garbage");
        assert_eq!(error.setting, "LECTERN_TOKEN_KEY_FILE");
    }

    #[test]
    fn the_token_key_is_refused_as_a_certificate_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (keys, _) = load_or_generate(&default_paths(dir.path())).expect("generated");
        let mut paths = default_paths(dir.path());
        paths.certificate_key = KeyPath {
            path: paths.token_key.path.clone(),
            setting: "LECTERN_CERTIFICATE_KEY_FILE",
            generate_if_missing: false,
        };
        let error = load_or_generate(&paths).expect_err("one key in two roles");
        assert_eq!(error.setting, "LECTERN_CERTIFICATE_KEY_FILE");
        assert!(error.to_string().contains(&keys.token.key_id), "{error}");

        // Nor may a previous certificate key be a token key.
        let mut paths = default_paths(dir.path());
        paths.certificate_previous_keys = vec![paths.token_key.path.clone()];
        let error = load_or_generate(&paths).expect_err("a token key trusted for certificates");
        assert_eq!(error.setting, "LECTERN_CERTIFICATE_PREVIOUS_KEY_FILES");
    }

    #[test]
    fn a_previous_certificate_key_keeps_its_key_id() {
        let old_dir = tempfile::tempdir().expect("temp dir");
        let (old, _) = load_or_generate(&default_paths(old_dir.path())).expect("generated");
        let public_pem = old_dir.path().join("old-certificate-public.pem");
        std::fs::write(&public_pem, ed25519_public_key_pem(&old.certificate.public_key)).expect("write");

        let dir = tempfile::tempdir().expect("temp dir");
        let mut paths = default_paths(dir.path());
        paths.certificate_previous_keys = vec![public_pem];
        let (keys, _) = load_or_generate(&paths).expect("loaded");
        assert_eq!(keys.certificate_previous.len(), 1);
        assert_eq!(keys.certificate_previous[0].key_id, old.certificate.key_id);
        assert!(keys.token_previous.is_empty());
    }
}
