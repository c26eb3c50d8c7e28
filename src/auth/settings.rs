//! Resolved identity settings (see `crate::config` for the variables).

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

/// `max` requests per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub period: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordSettings {
    pub argon2: Argon2Settings,
    pub min_length: usize,
}

/// Longest accepted password: long enough for any passphrase, short enough that hashing it is
/// not a denial of service.
pub const PASSWORD_MAX_LENGTH: usize = 1024;

#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub register: RateLimit,
    pub login: RateLimit,
    pub refresh: RateLimit,
    pub oauth_callback: RateLimit,
    /// Mails a request may cause (password reset, verification, email change), per client
    /// address and per address or account: each one lands in someone's inbox.
    pub account_mail: RateLimit,
}

/// An OpenID Connect client: everything else comes from the issuer's discovery document.
#[derive(Debug, Clone)]
pub struct OidcClientSettings {
    pub issuer: Url,
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub display_name: String,
}

/// Sign in with Apple: an OpenID client whose secret is a JWT signed with the team's key.
#[derive(Debug, Clone)]
pub struct AppleSettings {
    pub issuer: Url,
    pub client_id: String,
    pub team_id: String,
    pub key_id: String,
    /// PKCS#8 PEM of the P-256 key.
    pub private_key_pem: SecretString,
}

/// A plain OAuth 2.0 provider (no ID token): its endpoints and credentials.
#[derive(Debug, Clone)]
pub struct PlainOAuthSettings {
    pub client_id: String,
    pub client_secret: Option<SecretString>,
    pub authorize_url: Url,
    pub token_url: Url,
    pub userinfo_url: Url,
}

#[derive(Debug, Clone, Default)]
pub struct OAuthSettings {
    /// Allowed `return_to` origins; empty means the public URL's origin.
    pub redirect_origins: Vec<url::Origin>,
    pub google: Option<OidcClientSettings>,
    pub apple: Option<AppleSettings>,
    pub yandex: Option<PlainOAuthSettings>,
    /// Whether Yandex's `default_email` counts as verified.
    pub yandex_trust_email: bool,
    pub vk: Option<PlainOAuthSettings>,
    pub oidc: Option<OidcClientSettings>,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub passwords: PasswordSettings,
    pub access_token_ttl: Duration,
    pub session_idle_timeout: Duration,
    pub session_max_age: Duration,
    pub rate_limits: RateLimitSettings,
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Shared rate-limit counters; in-process buckets when unset.
    pub redis_url: Option<SecretString>,
    /// Boxed: it is large, and these settings travel by value through start-up futures.
    pub oauth: Box<OAuthSettings>,
    /// The issuer authenticator apps show for Lectern's TOTP entries.
    pub two_factor_issuer: String,
    /// Administrators act without their admin role until they turn two-factor sign-in on.
    pub require_admin_two_factor: bool,
}

impl Default for AuthSettings {
    /// The documented defaults, for tests and embedding.
    fn default() -> Self {
        let per_minute = |max| RateLimit { max, period: Duration::from_secs(60) };
        Self {
            passwords: PasswordSettings {
                argon2: Argon2Settings { memory_kib: 19456, iterations: 2, parallelism: 1 },
                min_length: 10,
            },
            access_token_ttl: Duration::from_secs(15 * 60),
            session_idle_timeout: Duration::from_secs(30 * 86400),
            session_max_age: Duration::from_secs(90 * 86400),
            rate_limits: RateLimitSettings {
                register: per_minute(5),
                login: per_minute(10),
                refresh: per_minute(30),
                oauth_callback: per_minute(30),
                account_mail: RateLimit { max: 5, period: Duration::from_secs(3600) },
            },
            trusted_proxies: Vec::new(),
            redis_url: None,
            oauth: Box::default(),
            two_factor_issuer: "Lectern".to_owned(),
            require_admin_two_factor: false,
        }
    }
}
