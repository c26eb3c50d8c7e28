//! Webhook arguments: which URLs endpoints may have and how deliveries are retried.

use std::time::Duration;

use clap::Args;

use super::{ConfigError, parse_duration};
use crate::webhooks::WebhookSettings;

/// Webhook endpoints and the delivery of events to them.
#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// Accept `http://` webhook URLs (for development); by default only `https://` is accepted.
    #[arg(long, env = "LECTERN_WEBHOOK_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_http: bool,
    /// Hosts and CIDR blocks webhook URLs may reach even though they are not public, comma-
    /// separated (e.g. `hooks.intranet,127.0.0.1`). Empty (the default): public unicast only.
    #[arg(long, env = "LECTERN_WEBHOOK_ALLOW_HOSTS", value_delimiter = ',', default_value = "")]
    pub webhook_allow_hosts: Vec<String>,
    /// Webhook endpoints one account may have.
    #[arg(long, env = "LECTERN_WEBHOOK_MAX_ENDPOINTS", default_value_t = 10)]
    pub webhook_max_endpoints: u32,
    /// How long one send may take (connecting, sending and reading the answer).
    #[arg(long, env = "LECTERN_WEBHOOK_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub webhook_timeout: Duration,
    /// The wait before the first retry; each further retry waits twice as long (±20 %).
    #[arg(long, env = "LECTERN_WEBHOOK_RETRY_BASE_DELAY", default_value = "30s", value_parser = parse_duration)]
    pub webhook_retry_base_delay: Duration,
    /// The longest wait between two retries.
    #[arg(long, env = "LECTERN_WEBHOOK_RETRY_MAX_DELAY", default_value = "1h", value_parser = parse_duration)]
    pub webhook_retry_max_delay: Duration,
    /// How long after its first attempt a delivery is retried before it is `failed`.
    #[arg(long, env = "LECTERN_WEBHOOK_RETRY_WINDOW", default_value = "24h", value_parser = parse_duration)]
    pub webhook_retry_window: Duration,
}

impl WebhookArgs {
    pub fn resolve(&self) -> Result<WebhookSettings, ConfigError> {
        let policy = crate::net::AddressPolicy::parse(&self.webhook_allow_hosts)
            .map_err(|message| ConfigError::new("LECTERN_WEBHOOK_ALLOW_HOSTS", message))?;
        if self.webhook_max_endpoints == 0 || self.webhook_max_endpoints > 1000 {
            return Err(ConfigError::new("LECTERN_WEBHOOK_MAX_ENDPOINTS", "must be between 1 and 1000"));
        }
        if !(Duration::from_millis(100)..=Duration::from_secs(60)).contains(&self.webhook_timeout) {
            return Err(ConfigError::new("LECTERN_WEBHOOK_TIMEOUT", "must be between 100ms and 60s"));
        }
        if self.webhook_retry_base_delay < Duration::from_millis(10) {
            return Err(ConfigError::new("LECTERN_WEBHOOK_RETRY_BASE_DELAY", "must be at least 10ms"));
        }
        if self.webhook_retry_max_delay < self.webhook_retry_base_delay {
            return Err(ConfigError::new("LECTERN_WEBHOOK_RETRY_MAX_DELAY", "must be at least the base delay"));
        }
        if self.webhook_retry_window > Duration::from_secs(30 * 86400) {
            return Err(ConfigError::new("LECTERN_WEBHOOK_RETRY_WINDOW", "must be at most 30d"));
        }
        Ok(WebhookSettings {
            fetch: WebhookSettings::fetch_settings(policy, self.webhook_timeout),
            allow_http: self.webhook_allow_http,
            max_endpoints_per_account: self.webhook_max_endpoints,
            retry_base_delay: self.webhook_retry_base_delay,
            retry_max_delay: self.webhook_retry_max_delay,
            retry_window: self.webhook_retry_window,
            sweep_interval: WebhookSettings::default().sweep_interval,
        })
    }
}
