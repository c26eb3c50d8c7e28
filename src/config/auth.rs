//! Identity arguments: passwords, tokens, sessions, rate limits and external sign-in.

use std::time::Duration;

use clap::Args;
use secrecy::SecretString;
use url::Url;

use super::{ConfigError, parse_duration, parse_rate, secret_value};
use crate::auth::{
    AppleSettings, Argon2Settings, AuthSettings, OAuthSettings, OidcClientSettings, PASSWORD_MAX_LENGTH,
    PasswordSettings, PlainOAuthSettings, RateLimit, RateLimitSettings,
};

/// How passwords are hashed and which passwords are accepted.
#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Memory cost of argon2id in KiB (OWASP's minimum recommendation is 19456).
    #[arg(long, env = "LECTERN_ARGON2_MEMORY_KIB", default_value_t = 19456)]
    pub argon2_memory_kib: u32,
    /// Time cost of argon2id (passes over memory).
    #[arg(long, env = "LECTERN_ARGON2_ITERATIONS", default_value_t = 2)]
    pub argon2_iterations: u32,
    /// Lanes of argon2id.
    #[arg(long, env = "LECTERN_ARGON2_PARALLELISM", default_value_t = 1)]
    pub argon2_parallelism: u32,
    /// Shortest accepted password, in characters.
    #[arg(long, env = "LECTERN_PASSWORD_MIN_LENGTH", default_value_t = 10)]
    pub password_min_length: usize,
}

impl PasswordArgs {
    pub fn resolve(&self) -> Result<PasswordSettings, ConfigError> {
        // Argon2's own floor is 8 KiB per lane; below a few MiB the hash stops being memory-hard.
        if self.argon2_memory_kib < 8 * self.argon2_parallelism.max(1) {
            return Err(ConfigError::new("LECTERN_ARGON2_MEMORY_KIB", "must be at least 8 KiB per lane"));
        }
        if self.argon2_iterations == 0 {
            return Err(ConfigError::new("LECTERN_ARGON2_ITERATIONS", "must be at least 1"));
        }
        if self.argon2_parallelism == 0 {
            return Err(ConfigError::new("LECTERN_ARGON2_PARALLELISM", "must be at least 1"));
        }
        if self.password_min_length == 0 || self.password_min_length > PASSWORD_MAX_LENGTH {
            return Err(ConfigError::new(
                "LECTERN_PASSWORD_MIN_LENGTH",
                format!("must be between 1 and {PASSWORD_MAX_LENGTH}"),
            ));
        }
        Ok(PasswordSettings {
            argon2: Argon2Settings {
                memory_kib: self.argon2_memory_kib,
                iterations: self.argon2_iterations,
                parallelism: self.argon2_parallelism,
            },
            min_length: self.password_min_length,
        })
    }
}

/// Identity: tokens, sessions and abuse limits.
#[derive(Debug, Args)]
pub struct AuthArgs {
    #[command(flatten)]
    pub passwords: PasswordArgs,
    /// Lifetime of access tokens (JWTs).
    #[arg(long, env = "LECTERN_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = parse_duration)]
    pub access_token_ttl: Duration,
    /// A session not refreshed for this long ends.
    #[arg(long, env = "LECTERN_SESSION_IDLE_TIMEOUT", default_value = "30d", value_parser = parse_duration)]
    pub session_idle_timeout: Duration,
    /// A session ends this long after sign-in, however active it is.
    #[arg(long, env = "LECTERN_SESSION_MAX_AGE", default_value = "90d", value_parser = parse_duration)]
    pub session_max_age: Duration,
    /// Registrations allowed per client address and per email, e.g. `5/min`.
    #[arg(long, env = "LECTERN_RATE_LIMIT_REGISTER", default_value = "5/min", value_parser = parse_rate)]
    pub rate_limit_register: RateLimit,
    /// Sign-in attempts allowed per client address and per email.
    #[arg(long, env = "LECTERN_RATE_LIMIT_LOGIN", default_value = "10/min", value_parser = parse_rate)]
    pub rate_limit_login: RateLimit,
    /// Token refreshes allowed per client address and per refresh token.
    #[arg(long, env = "LECTERN_RATE_LIMIT_REFRESH", default_value = "30/min", value_parser = parse_rate)]
    pub rate_limit_refresh: RateLimit,
    /// Mails that password-reset, verification and email-change requests may cause, per client
    /// address and per address or account.
    #[arg(long, env = "LECTERN_RATE_LIMIT_ACCOUNT_MAIL", default_value = "5/h", value_parser = parse_rate)]
    pub rate_limit_account_mail: RateLimit,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed, comma-separated. From
    /// any other peer the socket address is the client address.
    #[arg(long, env = "LECTERN_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<String>,
    #[command(flatten)]
    pub oauth: OAuthArgs,
    /// The issuer name authenticator apps show for two-factor sign-in entries.
    #[arg(long, env = "LECTERN_TWO_FACTOR_ISSUER", default_value = "Lectern")]
    pub two_factor_issuer: String,
    /// Require two-factor sign-in of administrators: until they turn it on, they act without the
    /// admin role (everything else works, including enrolment).
    #[arg(long, env = "LECTERN_REQUIRE_ADMIN_TWO_FACTOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub require_admin_two_factor: bool,
}

impl AuthArgs {
    pub fn resolve(&self, redis_url: Option<&str>) -> Result<AuthSettings, ConfigError> {
        if self.access_token_ttl < Duration::from_secs(10) {
            return Err(ConfigError::new("LECTERN_ACCESS_TOKEN_TTL", "must be at least 10s"));
        }
        if self.session_idle_timeout.is_zero() {
            return Err(ConfigError::new("LECTERN_SESSION_IDLE_TIMEOUT", "must be longer than zero"));
        }
        if self.session_max_age < self.access_token_ttl {
            return Err(ConfigError::new("LECTERN_SESSION_MAX_AGE", "must be at least LECTERN_ACCESS_TOKEN_TTL"));
        }
        let mut trusted_proxies = Vec::new();
        for raw in self.trusted_proxies.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            let address: std::net::IpAddr = raw
                .parse()
                .map_err(|_| ConfigError::new("LECTERN_TRUSTED_PROXIES", format!("{raw:?} is not an IP address")))?;
            trusted_proxies.push(address);
        }
        let redis_url = match secret_value("REDIS_URL", redis_url)? {
            Some(url) => {
                let parsed =
                    Url::parse(&url).map_err(|e| ConfigError::new("REDIS_URL", format!("not a valid URL ({e})")))?;
                if !matches!(parsed.scheme(), "redis" | "rediss") {
                    return Err(ConfigError::new("REDIS_URL", "must start with redis:// or rediss://"));
                }
                Some(SecretString::from(url))
            }
            None => None,
        };
        Ok(AuthSettings {
            passwords: self.passwords.resolve()?,
            access_token_ttl: self.access_token_ttl,
            session_idle_timeout: self.session_idle_timeout,
            session_max_age: self.session_max_age,
            rate_limits: RateLimitSettings {
                register: self.rate_limit_register,
                login: self.rate_limit_login,
                refresh: self.rate_limit_refresh,
                oauth_callback: self.oauth.rate_limit_oauth_callback,
                account_mail: self.rate_limit_account_mail,
            },
            trusted_proxies,
            redis_url,
            oauth: Box::new(self.oauth.resolve()?),
            two_factor_issuer: {
                let issuer = self.two_factor_issuer.trim();
                if issuer.is_empty() || issuer.contains(':') {
                    return Err(ConfigError::new("LECTERN_TWO_FACTOR_ISSUER", "must be a name without ':'"));
                }
                issuer.to_owned()
            },
            require_admin_two_factor: self.require_admin_two_factor,
        })
    }
}

/// Sign-in through external providers. A provider is enabled when its client id is set; every
/// endpoint can be pointed elsewhere (a stand-in in tests, a regional mirror).
#[derive(Debug, Args)]
pub struct OAuthArgs {
    /// Origins (scheme://host[:port]) an app may name in `return_to` when it starts a sign-in,
    /// comma-separated. Default: the origin of LECTERN_PUBLIC_URL.
    #[arg(long, env = "LECTERN_OAUTH_REDIRECT_ORIGINS", value_delimiter = ',')]
    pub oauth_redirect_origins: Vec<String>,
    /// External sign-ins started, and provider callbacks received, per client address (each
    /// counted separately).
    #[arg(long, env = "LECTERN_RATE_LIMIT_OAUTH_CALLBACK", default_value = "30/min", value_parser = parse_rate)]
    pub rate_limit_oauth_callback: RateLimit,

    /// Google: OAuth client id (enables "Sign in with Google").
    #[arg(long, env = "LECTERN_OAUTH_GOOGLE_CLIENT_ID")]
    pub oauth_google_client_id: Option<String>,
    /// Google: client secret (or a file in `LECTERN_OAUTH_GOOGLE_CLIENT_SECRET_FILE`).
    #[arg(long, env = "LECTERN_OAUTH_GOOGLE_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_google_client_secret: Option<String>,
    /// Google: OpenID issuer whose discovery document is read.
    #[arg(long, env = "LECTERN_OAUTH_GOOGLE_ISSUER", default_value = "https://accounts.google.com")]
    pub oauth_google_issuer: String,

    /// Apple: the Services ID (enables "Sign in with Apple").
    #[arg(long, env = "LECTERN_OAUTH_APPLE_CLIENT_ID")]
    pub oauth_apple_client_id: Option<String>,
    /// Apple: the developer team id (the client secret's `iss`).
    #[arg(long, env = "LECTERN_OAUTH_APPLE_TEAM_ID")]
    pub oauth_apple_team_id: Option<String>,
    /// Apple: the id of the Sign in with Apple key (the client secret's `kid`).
    #[arg(long, env = "LECTERN_OAUTH_APPLE_KEY_ID")]
    pub oauth_apple_key_id: Option<String>,
    /// Apple: the key's PKCS#8 PEM (the downloaded `.p8`), or a file in
    /// `LECTERN_OAUTH_APPLE_PRIVATE_KEY_FILE`.
    #[arg(long, env = "LECTERN_OAUTH_APPLE_PRIVATE_KEY", hide_env_values = true)]
    pub oauth_apple_private_key: Option<String>,
    /// Apple: OpenID issuer whose discovery document is read.
    #[arg(long, env = "LECTERN_OAUTH_APPLE_ISSUER", default_value = "https://appleid.apple.com")]
    pub oauth_apple_issuer: String,

    /// Yandex: application (client) id (enables "Sign in with Yandex").
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_CLIENT_ID")]
    pub oauth_yandex_client_id: Option<String>,
    /// Yandex: client secret (or `LECTERN_OAUTH_YANDEX_CLIENT_SECRET_FILE`).
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_yandex_client_secret: Option<String>,
    /// Yandex: authorization endpoint.
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_AUTHORIZE_URL", default_value = "https://oauth.yandex.ru/authorize")]
    pub oauth_yandex_authorize_url: String,
    /// Yandex: token endpoint.
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_TOKEN_URL", default_value = "https://oauth.yandex.ru/token")]
    pub oauth_yandex_token_url: String,
    /// Yandex: user-information endpoint.
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_USERINFO_URL", default_value = "https://login.yandex.ru/info?format=json")]
    pub oauth_yandex_userinfo_url: String,
    /// Yandex reports no "verified" flag. Set true to treat `default_email` as verified (Yandex
    /// mailboxes are confirmed by Yandex), which lets a Yandex sign-in join an existing account
    /// with that email. Default false: such a link must be made from a signed-in session.
    #[arg(long, env = "LECTERN_OAUTH_YANDEX_TRUST_EMAIL", default_value_t = false, action = clap::ArgAction::Set)]
    pub oauth_yandex_trust_email: bool,

    /// VK ID: application id (enables "Sign in with VK ID").
    #[arg(long, env = "LECTERN_OAUTH_VK_CLIENT_ID")]
    pub oauth_vk_client_id: Option<String>,
    /// VK ID: the application's protected key, if any (VK ID's code exchange relies on PKCE and
    /// does not need it).
    #[arg(long, env = "LECTERN_OAUTH_VK_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_vk_client_secret: Option<String>,
    /// VK ID: authorization endpoint.
    #[arg(long, env = "LECTERN_OAUTH_VK_AUTHORIZE_URL", default_value = "https://id.vk.com/authorize")]
    pub oauth_vk_authorize_url: String,
    /// VK ID: token endpoint.
    #[arg(long, env = "LECTERN_OAUTH_VK_TOKEN_URL", default_value = "https://id.vk.com/oauth2/auth")]
    pub oauth_vk_token_url: String,
    /// VK ID: user-information endpoint.
    #[arg(long, env = "LECTERN_OAUTH_VK_USERINFO_URL", default_value = "https://id.vk.com/oauth2/user_info")]
    pub oauth_vk_userinfo_url: String,

    /// Any OpenID Connect provider (Keycloak, Authentik, GitLab, …): its issuer URL.
    #[arg(long, env = "LECTERN_OAUTH_OIDC_ISSUER")]
    pub oauth_oidc_issuer: Option<String>,
    /// Generic OpenID provider: client id (enables it, together with the issuer).
    #[arg(long, env = "LECTERN_OAUTH_OIDC_CLIENT_ID")]
    pub oauth_oidc_client_id: Option<String>,
    /// Generic OpenID provider: client secret (or `LECTERN_OAUTH_OIDC_CLIENT_SECRET_FILE`).
    #[arg(long, env = "LECTERN_OAUTH_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oauth_oidc_client_secret: Option<String>,
    /// Generic OpenID provider: the name on the sign-in button.
    #[arg(long, env = "LECTERN_OAUTH_OIDC_NAME", default_value = "Single sign-on")]
    pub oauth_oidc_name: String,
}

/// A set, non-empty value.
fn present(value: Option<&String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn provider_url(setting: &'static str, raw: &str) -> Result<Url, ConfigError> {
    let url =
        Url::parse(raw.trim()).map_err(|e| ConfigError::new(setting, format!("{raw:?} is not a valid URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(setting, format!("{raw:?} must be an http:// or https:// URL with a host")));
    }
    Ok(url)
}

impl OAuthArgs {
    pub fn resolve(&self) -> Result<OAuthSettings, ConfigError> {
        let mut redirect_origins = Vec::new();
        for raw in self.oauth_redirect_origins.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            let url = provider_url("LECTERN_OAUTH_REDIRECT_ORIGINS", raw)?;
            if url.path() != "/" || url.query().is_some() {
                return Err(ConfigError::new(
                    "LECTERN_OAUTH_REDIRECT_ORIGINS",
                    format!("{raw:?} must be scheme://host[:port] with no path"),
                ));
            }
            redirect_origins.push(url.origin());
        }
        let google = match present(self.oauth_google_client_id.as_ref()) {
            Some(client_id) => Some(OidcClientSettings {
                issuer: provider_url("LECTERN_OAUTH_GOOGLE_ISSUER", &self.oauth_google_issuer)?,
                client_id,
                client_secret: secret_value(
                    "LECTERN_OAUTH_GOOGLE_CLIENT_SECRET",
                    self.oauth_google_client_secret.as_deref(),
                )?
                .map(SecretString::from),
                display_name: "Google".to_owned(),
            }),
            None => None,
        };
        let apple = match present(self.oauth_apple_client_id.as_ref()) {
            Some(client_id) => {
                let required = |setting: &'static str, value: Option<&String>| {
                    present(value)
                        .ok_or_else(|| ConfigError::new(setting, "must be set when LECTERN_OAUTH_APPLE_CLIENT_ID is"))
                };
                let private_key_pem =
                    secret_value("LECTERN_OAUTH_APPLE_PRIVATE_KEY", self.oauth_apple_private_key.as_deref())?
                        .ok_or_else(|| {
                            ConfigError::new(
                                "LECTERN_OAUTH_APPLE_PRIVATE_KEY",
                                "must be set when LECTERN_OAUTH_APPLE_CLIENT_ID is",
                            )
                        })?;
                Some(AppleSettings {
                    issuer: provider_url("LECTERN_OAUTH_APPLE_ISSUER", &self.oauth_apple_issuer)?,
                    client_id,
                    team_id: required("LECTERN_OAUTH_APPLE_TEAM_ID", self.oauth_apple_team_id.as_ref())?,
                    key_id: required("LECTERN_OAUTH_APPLE_KEY_ID", self.oauth_apple_key_id.as_ref())?,
                    private_key_pem: SecretString::from(private_key_pem),
                })
            }
            None => None,
        };
        let yandex = match present(self.oauth_yandex_client_id.as_ref()) {
            Some(client_id) => Some(PlainOAuthSettings {
                client_id,
                client_secret: secret_value(
                    "LECTERN_OAUTH_YANDEX_CLIENT_SECRET",
                    self.oauth_yandex_client_secret.as_deref(),
                )?
                .map(SecretString::from),
                authorize_url: provider_url("LECTERN_OAUTH_YANDEX_AUTHORIZE_URL", &self.oauth_yandex_authorize_url)?,
                token_url: provider_url("LECTERN_OAUTH_YANDEX_TOKEN_URL", &self.oauth_yandex_token_url)?,
                userinfo_url: provider_url("LECTERN_OAUTH_YANDEX_USERINFO_URL", &self.oauth_yandex_userinfo_url)?,
            }),
            None => None,
        };
        let vk = match present(self.oauth_vk_client_id.as_ref()) {
            Some(client_id) => Some(PlainOAuthSettings {
                client_id,
                client_secret: secret_value("LECTERN_OAUTH_VK_CLIENT_SECRET", self.oauth_vk_client_secret.as_deref())?
                    .map(SecretString::from),
                authorize_url: provider_url("LECTERN_OAUTH_VK_AUTHORIZE_URL", &self.oauth_vk_authorize_url)?,
                token_url: provider_url("LECTERN_OAUTH_VK_TOKEN_URL", &self.oauth_vk_token_url)?,
                userinfo_url: provider_url("LECTERN_OAUTH_VK_USERINFO_URL", &self.oauth_vk_userinfo_url)?,
            }),
            None => None,
        };
        let oidc = match present(self.oauth_oidc_client_id.as_ref()) {
            Some(client_id) => {
                let issuer = present(self.oauth_oidc_issuer.as_ref()).ok_or_else(|| {
                    ConfigError::new("LECTERN_OAUTH_OIDC_ISSUER", "must be set when LECTERN_OAUTH_OIDC_CLIENT_ID is")
                })?;
                Some(OidcClientSettings {
                    issuer: provider_url("LECTERN_OAUTH_OIDC_ISSUER", &issuer)?,
                    client_id,
                    client_secret: secret_value(
                        "LECTERN_OAUTH_OIDC_CLIENT_SECRET",
                        self.oauth_oidc_client_secret.as_deref(),
                    )?
                    .map(SecretString::from),
                    display_name: self.oauth_oidc_name.trim().to_owned(),
                })
            }
            None => None,
        };
        Ok(OAuthSettings {
            redirect_origins,
            google,
            apple,
            yandex,
            yandex_trust_email: self.oauth_yandex_trust_email,
            vk,
            oidc,
        })
    }
}
