//! CloudFront invalidations (filled in below).

use url::Url;

/// Where invalidations go.
#[derive(Debug, Clone)]
pub struct CloudFrontSettings {
    pub distribution_id: String,
    /// Another endpoint than AWS's (a test stand-in, a proxy).
    pub endpoint: Option<Url>,
    /// Static credentials (access key id, secret); `None` uses the AWS default chain.
    pub credentials: Option<(String, secrecy::SecretString)>,
}
