//! Resolved LTI settings (see `crate::config` for the variables).

use std::time::Duration;

use url::Url;

#[derive(Debug, Clone)]
pub struct LtiSettings {
    /// Where a launch sends the browser, with `login_code`, `course_id` and (for a lesson)
    /// `lesson_id` added to the query: the player page of the deployment, which trades the code
    /// for tokens at `POST /v1/auth/oauth/token`. `None`: the launch answers the token pair and the
    /// target as JSON (for apps that drive the launch themselves).
    pub landing_url: Option<Url>,
    /// Clock skew tolerated on an id_token's `exp` and `iat`.
    pub clock_leeway: Duration,
    /// How long a login initiation's state waits for its launch.
    pub state_ttl: Duration,
    /// How long a platform's key set is trusted before it is read again. An unknown `kid` reads it
    /// again at once (no more than once per two seconds per platform).
    pub jwks_cache_ttl: Duration,
    /// How often workers look for grade links whose score moved and queue its send.
    pub grade_sync_interval: Duration,
}

impl Default for LtiSettings {
    /// The documented defaults.
    fn default() -> Self {
        Self {
            landing_url: None,
            clock_leeway: Duration::from_secs(60),
            state_ttl: Duration::from_secs(600),
            jwks_cache_ttl: Duration::from_secs(3600),
            grade_sync_interval: Duration::from_secs(60),
        }
    }
}
