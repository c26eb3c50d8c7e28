//! Resolved settings of the HTTP edge (see `crate::config` for the variables).

use std::net::SocketAddr;
use std::time::Duration;

use url::Url;

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub listen: SocketAddr,
    pub public_url: Url,
    /// Empty: no CORS. `["*"]`: any origin.
    pub cors_origins: Vec<String>,
    pub request_timeout: Duration,
    pub max_json_body: usize,
}
