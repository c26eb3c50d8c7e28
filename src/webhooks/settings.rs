//! Resolved webhook settings (see `crate::config` for the variables).

use std::time::Duration;

use crate::net::{AddressPolicy, FetchSettings};

#[derive(Debug, Clone)]
pub struct WebhookSettings {
    /// How sends are made: the SSRF policy, the timeout (`total_timeout`) and the cap on the
    /// answer read (`max_bytes`). Redirects are never followed.
    pub fetch: FetchSettings,
    pub allow_http: bool,
    pub max_endpoints_per_account: u32,
    pub retry_base_delay: Duration,
    pub retry_max_delay: Duration,
    pub retry_window: Duration,
    /// How often workers fan out events whose dispatch job was lost and re-enqueue overdue sends.
    pub sweep_interval: Duration,
}

impl WebhookSettings {
    /// The fetch settings of sends: no redirects, everything within `timeout`, 64 KiB of answer.
    pub fn fetch_settings(policy: AddressPolicy, timeout: Duration) -> FetchSettings {
        FetchSettings {
            policy,
            max_redirects: 0,
            connect_timeout: timeout,
            read_timeout: timeout,
            total_timeout: timeout,
            max_bytes: 64 * 1024,
        }
    }
}

impl Default for WebhookSettings {
    /// The documented defaults.
    fn default() -> Self {
        Self {
            fetch: Self::fetch_settings(AddressPolicy::default(), Duration::from_secs(10)),
            allow_http: false,
            max_endpoints_per_account: 10,
            retry_base_delay: Duration::from_secs(30),
            retry_max_delay: Duration::from_secs(3600),
            retry_window: Duration::from_secs(24 * 3600),
            sweep_interval: Duration::from_secs(60),
        }
    }
}
