//! CloudFront invalidations: `invalidate(paths)` asks the configured distribution to drop
//! cached copies, with a caller reference that is unique per call and kept across retries (so
//! CloudFront treats a retried request as the same invalidation), retrying throttling with
//! exponential backoff. [`Invalidator::paths_under`] maps a storage prefix to the URL paths
//! viewers fetch it under (the CDN base URL may carry a path of its own); the durable
//! `cdn.invalidate` job (`crate::jobs::cdn_jobs`) is the only caller in the application.
//!
//! The SDK's own retries are turned off: the retry policy lives here, where it can be seen and
//! tested, instead of being split between two layers.

use std::time::Duration;

use aws_sdk_cloudfront::Client;
use aws_sdk_cloudfront::config::retry::RetryConfig;
use aws_sdk_cloudfront::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_cloudfront::error::ProvideErrorMetadata;
use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use crate::storage::KeyPrefix;

/// Where invalidations go.
#[derive(Debug, Clone)]
pub struct CloudFrontSettings {
    pub distribution_id: String,
    /// Another endpoint than AWS's (a test stand-in, a proxy).
    pub endpoint: Option<Url>,
    /// Static credentials (access key id, secret); `None` uses the AWS default chain.
    pub credentials: Option<(String, SecretString)>,
    /// Requests per invalidation while CloudFront throttles (then the caller gives up, and a
    /// job retries later), and the wait after the first throttled one (doubling).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
}

impl CloudFrontSettings {
    /// A distribution reached with the AWS defaults: the public endpoint, the default
    /// credential chain, five requests starting 500 ms apart.
    pub fn new(distribution_id: impl Into<String>) -> Self {
        Self {
            distribution_id: distribution_id.into(),
            endpoint: None,
            credentials: None,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
        }
    }
}

/// Error codes CloudFront answers when a request should simply be tried again later.
const RETRYABLE_CODES: [&str; 4] =
    ["Throttling", "ThrottlingException", "TooManyInvalidationsInProgress", "ServiceUnavailable"];

#[derive(Debug, thiserror::Error)]
pub enum InvalidationError {
    #[error("an invalidation needs at least one path")]
    NoPaths,
    #[error("invalidation paths must start with '/': {0:?}")]
    InvalidPath(String),
    #[error("CloudFront is still throttling after {attempts} attempts")]
    Throttled { attempts: u32 },
    #[error("CloudFront refused the invalidation: {code}: {message}")]
    Refused { code: String, message: String },
    #[error("cannot reach CloudFront")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl InvalidationError {
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::NoPaths | Self::InvalidPath(_) => "invalid_invalidation_paths",
            Self::Throttled { .. } => "cdn_throttled",
            Self::Refused { .. } => "cdn_refused",
            Self::Unavailable(_) => "cdn_unavailable",
        }
    }

    /// Only bad paths are the caller's fault; everything else is the CDN's or the network's.
    pub fn is_client_error(&self) -> bool {
        matches!(self, Self::NoPaths | Self::InvalidPath(_))
    }
}

/// An invalidation CloudFront accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalidation {
    pub id: String,
    pub status: String,
    pub caller_reference: String,
    /// How many requests it took (1 without throttling).
    pub attempts: u32,
}

/// The CloudFront client for one distribution.
#[derive(Debug, Clone)]
pub struct Invalidator {
    client: Client,
    distribution_id: String,
    /// The path of the CDN base URL without its trailing slash (`""` or e.g. `/media`): object
    /// key `k` is fetched, and cached, as `{path_prefix}/k`.
    path_prefix: String,
    max_attempts: u32,
    initial_backoff: Duration,
}

impl Invalidator {
    /// Builds the client (no request is made) for a distribution that serves object keys under
    /// `base_url` (`LECTERN_CDN_BASE_URL`). CloudFront is a global service signed in
    /// `us-east-1`.
    pub async fn connect(settings: &CloudFrontSettings, base_url: &str) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .retry_config(RetryConfig::disabled());
        if let Some((access_key_id, secret)) = &settings.credentials {
            let credentials = Credentials::new(access_key_id, secret.expose_secret(), None, None, "lectern-settings");
            loader = loader.credentials_provider(credentials);
        }
        if let Some(endpoint) = &settings.endpoint {
            loader = loader.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        }
        let shared = loader.load().await;
        Self {
            client: Client::new(&shared),
            distribution_id: settings.distribution_id.clone(),
            path_prefix: url_path_prefix(base_url),
            max_attempts: settings.max_attempts.max(1),
            initial_backoff: settings.initial_backoff,
        }
    }

    pub fn distribution_id(&self) -> &str {
        &self.distribution_id
    }

    /// The invalidation path covering every object under `prefix`, as viewers request them:
    /// the base URL's path, the prefix percent-encoded as in signed URLs
    /// (`crate::cdn::Cdn::url_for`), and CloudFront's trailing wildcard.
    pub fn paths_under(&self, prefix: &KeyPrefix) -> String {
        format!("{}/{}*", self.path_prefix, super::encoding::encode_path(prefix.as_str()))
    }

    /// Invalidates `paths` (each starting with `/`; `*` at the end matches a prefix, as
    /// CloudFront defines).
    pub async fn invalidate(&self, paths: &[String]) -> Result<Invalidation, InvalidationError> {
        self.invalidate_as(paths, &format!("lectern-{}", uuid::Uuid::now_v7())).await
    }

    /// [`Invalidator::invalidate`] with the caller's own reference: a durable job passes one
    /// derived from its id, so an attempt that reached CloudFront but lost the answer is, when
    /// retried, the same invalidation rather than a second one (CloudFront answers a repeated
    /// reference with the invalidation it already made).
    #[tracing::instrument(skip_all, fields(distribution_id = %self.distribution_id, n_paths = paths.len()))]
    pub async fn invalidate_as(
        &self,
        paths: &[String],
        caller_reference: &str,
    ) -> Result<Invalidation, InvalidationError> {
        if paths.is_empty() {
            return Err(InvalidationError::NoPaths);
        }
        if let Some(bad) = paths.iter().find(|path| !path.starts_with('/')) {
            return Err(InvalidationError::InvalidPath(bad.clone()));
        }
        let caller_reference = caller_reference.to_owned();
        let quantity =
            i32::try_from(paths.len()).map_err(|_| InvalidationError::InvalidPath("too many paths".to_owned()))?;
        let batch = Paths::builder()
            .quantity(quantity)
            .set_items(Some(paths.to_vec()))
            .build()
            .and_then(|paths| InvalidationBatch::builder().paths(paths).caller_reference(&caller_reference).build())
            .map_err(|error| InvalidationError::Unavailable(Box::new(error)))?;

        let mut backoff = self.initial_backoff;
        for attempt in 1..=self.max_attempts {
            let result = self
                .client
                .create_invalidation()
                .distribution_id(&self.distribution_id)
                .invalidation_batch(batch.clone())
                .send()
                .await;
            let error = match result {
                Ok(output) => {
                    let invalidation = output.invalidation();
                    return Ok(Invalidation {
                        id: invalidation.map(|i| i.id().to_owned()).unwrap_or_default(),
                        status: invalidation.map(|i| i.status().to_owned()).unwrap_or_default(),
                        caller_reference,
                        attempts: attempt,
                    });
                }
                Err(error) => error,
            };
            let code = error.code().unwrap_or_default().to_owned();
            let status = error.raw_response().map(|response| response.status().as_u16());
            let retryable = RETRYABLE_CODES.contains(&code.as_str()) || matches!(status, Some(429 | 503));
            if !retryable {
                if code.is_empty() {
                    return Err(InvalidationError::Unavailable(Box::new(error)));
                }
                let message = error.message().unwrap_or_default().to_owned();
                return Err(InvalidationError::Refused { code, message });
            }
            if attempt < self.max_attempts {
                tracing::warn!(attempt, code, "CloudFront throttled an invalidation; retrying");
                tokio::time::sleep(jittered(backoff)).await;
                backoff = backoff.saturating_mul(2);
            }
        }
        Err(InvalidationError::Throttled { attempts: self.max_attempts })
    }
}

/// The path of a base URL without the trailing slash; `""` for a bare host.
fn url_path_prefix(base_url: &str) -> String {
    Url::parse(base_url).map(|url| url.path().trim_end_matches('/').to_owned()).unwrap_or_default()
}

/// `base` ±20 %, so replicas throttled together do not retry together.
fn jittered(base: Duration) -> Duration {
    use rand::Rng;
    base.mul_f64(rand::rng().random_range(0.8..1.2))
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn invalidator(base_url: &str) -> Invalidator {
        let mut settings = CloudFrontSettings::new("E2QWRUHEXAMPLE");
        settings.credentials = Some(("AKID".to_owned(), SecretString::from("secret")));
        Invalidator::connect(&settings, base_url).await
    }

    #[tokio::test]
    async fn paths_follow_the_base_url_and_the_signed_url_encoding() {
        let prefix = KeyPrefix::parse("assets/0192c1d2-0000-7000-8000-000000000001/v2/").expect("prefix");
        for (base_url, expected) in [
            ("https://d111111abcdef8.cloudfront.net", "/assets/0192c1d2-0000-7000-8000-000000000001/v2/*"),
            ("https://d111111abcdef8.cloudfront.net/", "/assets/0192c1d2-0000-7000-8000-000000000001/v2/*"),
            ("https://cdn.example/media/lectern", "/media/lectern/assets/0192c1d2-0000-7000-8000-000000000001/v2/*"),
            ("http://127.0.0.1:8080/cdn", "/cdn/assets/0192c1d2-0000-7000-8000-000000000001/v2/*"),
        ] {
            assert_eq!(invalidator(base_url).await.paths_under(&prefix), expected, "{base_url}");
        }
        let odd = KeyPrefix::parse("assets/a b%/").expect("prefix");
        assert_eq!(invalidator("https://cdn.example").await.paths_under(&odd), "/assets/a%20b%25/*");
    }
}
