//! LTI 1.3 tool arguments: where a launch lands, clock leeway, state lifetime, key-set caching.

use std::time::Duration;

use clap::Args;

use super::{ConfigError, parse_duration};
use crate::lti::LtiSettings;

/// LMS integration (LTI 1.3).
#[derive(Debug, Args)]
pub struct LtiArgs {
    /// The page a launch lands on (your lesson player), with `login_code`, `course_id` and
    /// `lesson_id` added to its query; the page trades the code at `POST /v1/auth/oauth/token`.
    /// Unset: a launch answers the tokens and the target as JSON.
    #[arg(long, env = "LECTERN_LTI_LANDING_URL")]
    pub lti_landing_url: Option<String>,
    /// Clock skew tolerated on a platform's id_token (`exp`, `iat`).
    #[arg(long, env = "LECTERN_LTI_CLOCK_LEEWAY", default_value = "60s", value_parser = parse_duration)]
    pub lti_clock_leeway: Duration,
    /// How long a login initiation waits for its launch.
    #[arg(long, env = "LECTERN_LTI_STATE_TTL", default_value = "10m", value_parser = parse_duration)]
    pub lti_state_ttl: Duration,
    /// How long a platform's key set is cached (an unknown key id refetches it at once).
    #[arg(long, env = "LECTERN_LTI_JWKS_CACHE_TTL", default_value = "1h", value_parser = parse_duration)]
    pub lti_jwks_cache_ttl: Duration,
    /// How often workers look for LTI grade links whose score moved (progress changed) and queue
    /// its send to the platform.
    #[arg(long, env = "LECTERN_LTI_GRADE_SYNC_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub lti_grade_sync_interval: Duration,
}

impl LtiArgs {
    pub fn resolve(&self) -> Result<LtiSettings, ConfigError> {
        let landing_url = match self.lti_landing_url.as_deref().map(str::trim).filter(|raw| !raw.is_empty()) {
            None => None,
            Some(raw) => {
                let url = url::Url::parse(raw)
                    .map_err(|e| ConfigError::new("LECTERN_LTI_LANDING_URL", format!("not a URL ({e})")))?;
                if !matches!(url.scheme(), "http" | "https") {
                    return Err(ConfigError::new("LECTERN_LTI_LANDING_URL", "must be an http or https URL"));
                }
                Some(url)
            }
        };
        if self.lti_clock_leeway > Duration::from_secs(600) {
            return Err(ConfigError::new("LECTERN_LTI_CLOCK_LEEWAY", "must be at most 10m"));
        }
        if !(Duration::from_secs(30)..=Duration::from_secs(3600)).contains(&self.lti_state_ttl) {
            return Err(ConfigError::new("LECTERN_LTI_STATE_TTL", "must be between 30s and 1h"));
        }
        if !(Duration::from_secs(60)..=Duration::from_secs(86_400)).contains(&self.lti_jwks_cache_ttl) {
            return Err(ConfigError::new("LECTERN_LTI_JWKS_CACHE_TTL", "must be between 1m and 24h"));
        }
        if self.lti_grade_sync_interval < Duration::from_secs(1) {
            return Err(ConfigError::new("LECTERN_LTI_GRADE_SYNC_INTERVAL", "must be at least 1s"));
        }
        Ok(LtiSettings {
            grade_sync_interval: self.lti_grade_sync_interval,
            landing_url,
            clock_leeway: self.lti_clock_leeway,
            state_ttl: self.lti_state_ttl,
            jwks_cache_ttl: self.lti_jwks_cache_ttl,
        })
    }
}
