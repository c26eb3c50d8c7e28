//! CloudFront invalidations: `invalidate(paths)` asks the configured distribution to drop
//! cached copies, with a caller reference that is unique per call and kept across retries (so
//! CloudFront treats a retried request as the same invalidation), retrying throttling with
//! exponential backoff.
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

/// Where invalidations go.
#[derive(Debug, Clone)]
pub struct CloudFrontSettings {
    pub distribution_id: String,
    /// Another endpoint than AWS's (a test stand-in, a proxy).
    pub endpoint: Option<Url>,
    /// Static credentials (access key id, secret); `None` uses the AWS default chain.
    pub credentials: Option<(String, SecretString)>,
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
    max_attempts: u32,
    initial_backoff: Duration,
}

impl Invalidator {
    /// Builds the client (no request is made). CloudFront is a global service signed in
    /// `us-east-1`.
    pub async fn connect(settings: &CloudFrontSettings) -> Self {
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
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
        }
    }

    /// Changes the retry policy: `max_attempts` requests at most, waiting `initial_backoff`
    /// after the first throttled one and twice as long after each next (±20 % jitter).
    #[must_use]
    pub fn with_retries(mut self, max_attempts: u32, initial_backoff: Duration) -> Self {
        self.max_attempts = max_attempts.max(1);
        self.initial_backoff = initial_backoff;
        self
    }

    /// Invalidates `paths` (each starting with `/`; `*` at the end matches a prefix, as
    /// CloudFront defines).
    #[tracing::instrument(skip_all, fields(distribution_id = %self.distribution_id, n_paths = paths.len()))]
    pub async fn invalidate(&self, paths: &[String]) -> Result<Invalidation, InvalidationError> {
        if paths.is_empty() {
            return Err(InvalidationError::NoPaths);
        }
        if let Some(bad) = paths.iter().find(|path| !path.starts_with('/')) {
            return Err(InvalidationError::InvalidPath(bad.clone()));
        }
        let caller_reference = format!("lectern-{}", uuid::Uuid::now_v7());
        let quantity = i32::try_from(paths.len()).map_err(|_| InvalidationError::InvalidPath("too many paths".to_owned()))?;
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

/// `base` ±20 %, so replicas throttled together do not retry together.
fn jittered(base: Duration) -> Duration {
    use rand::Rng;
    base.mul_f64(rand::rng().random_range(0.8..1.2))
}
