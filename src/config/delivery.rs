//! Delivery arguments: where signed URLs point, how they are signed, how long sessions last,
//! and the CloudFront distribution to invalidate.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use secrecy::SecretString;

use super::{ConfigError, parse_base_url, parse_duration};
use crate::http::HttpSettings;

/// Delivery: where signed URLs point, how they are signed, which keys the signed origin trusts,
/// and the CloudFront distribution to invalidate.
#[derive(Debug, Args)]
pub struct CdnArgs {
    #[command(flatten)]
    pub distribution: DistributionArgs,
    /// Hash under the RSA signature: `sha1` (CloudFront's default) or `sha256` (URLs then carry
    /// `Hash-Algorithm=SHA256`).
    #[arg(long, env = "LECTERN_CDN_HASH_ALGORITHM", value_enum, default_value_t = crate::cdn::HashAlgorithm::Sha1)]
    pub cdn_hash_algorithm: crate::cdn::HashAlgorithm,
    /// How long playback signatures stay valid.
    #[arg(long, env = "LECTERN_CDN_SIGNATURE_TTL", default_value = "6h", value_parser = parse_duration)]
    pub cdn_signature_ttl: Duration,
    /// Extra public keys the signed origin trusts while keys are rotated: a file of
    /// `KEY_PAIR_ID=PATH` lines, each PATH a PEM public key (relative to the file). The own key
    /// is always trusted.
    #[arg(long, env = "LECTERN_CDN_TRUSTED_KEYS_FILE")]
    pub cdn_trusted_keys_file: Option<PathBuf>,
    /// How long browsers and caches keep manifests from the signed origin (segments, init
    /// segments and images are immutable and kept for a year).
    #[arg(long, env = "LECTERN_CDN_MANIFEST_MAX_AGE", default_value = "10s", value_parser = parse_duration)]
    pub cdn_manifest_max_age: Duration,
    /// How long a playback session (and the CDN policy of its manifests) stays valid.
    #[arg(long, env = "LECTERN_PLAYBACK_SESSION_TTL", default_value = "6h", value_parser = parse_duration)]
    pub playback_session_ttl: Duration,
}

impl CdnArgs {
    /// `LECTERN_CDN_TRUSTED_KEYS_FILE`, when set: the start-up loads the keys it lists
    /// (`crate::keys::load_cdn_trusted_keys`) into [`crate::cdn::CdnSettings::trusted_keys`].
    pub fn trusted_keys_file(&self) -> Option<&Path> {
        self.cdn_trusted_keys_file.as_deref().filter(|path| !path.as_os_str().is_empty())
    }

    /// Resolves the settings; `aws_keys` are the static AWS credentials, if any, that the
    /// CloudFront client shares with S3 (otherwise the AWS default chain applies).
    pub fn resolve(
        &self,
        http: &HttpSettings,
        aws_keys: Option<(String, SecretString)>,
    ) -> Result<crate::cdn::CdnSettings, ConfigError> {
        let mut settings = crate::cdn::CdnSettings::local(&http.public_url);
        if let Some(base_url) = self.distribution.base_url()? {
            settings.base_url = base_url;
        }
        if self.cdn_signature_ttl < Duration::from_secs(10) {
            return Err(ConfigError::new("LECTERN_CDN_SIGNATURE_TTL", "must be at least 10s"));
        }
        settings.hash_algorithm = self.cdn_hash_algorithm;
        settings.signature_ttl = self.cdn_signature_ttl;
        settings.manifest_max_age = self.cdn_manifest_max_age;
        if self.playback_session_ttl < Duration::from_secs(60) {
            return Err(ConfigError::new("LECTERN_PLAYBACK_SESSION_TTL", "must be at least 60s"));
        }
        settings.playback_session_ttl = self.playback_session_ttl;
        settings.cloudfront = self.distribution.cloudfront(aws_keys)?;
        Ok(settings)
    }
}

/// Where viewers fetch objects, and the CloudFront distribution to invalidate. Workers read
/// these too: they publish new versions and run the `cdn.invalidate` jobs.
#[derive(Debug, Args)]
pub struct DistributionArgs {
    /// Base URL of signed playback URLs: a CloudFront distribution (`https://d111.cloudfront.net`)
    /// or another CDN in front of the object store. Default: this service's own signed origin,
    /// `<LECTERN_PUBLIC_URL>/cdn`. Its path, if any, prefixes every invalidated path.
    #[arg(long, env = "LECTERN_CDN_BASE_URL")]
    pub cdn_base_url: Option<String>,
    /// CloudFront distribution whose cache is invalidated when an asset is deleted or a version
    /// superseded. Unset: no invalidations.
    #[arg(long, env = "LECTERN_CLOUDFRONT_DISTRIBUTION_ID")]
    pub cloudfront_distribution_id: Option<String>,
    /// Another endpoint for the CloudFront API (a proxy or a test stand-in); unset for AWS.
    #[arg(long, env = "LECTERN_CLOUDFRONT_ENDPOINT")]
    pub cloudfront_endpoint: Option<String>,
}

impl DistributionArgs {
    /// `LECTERN_CDN_BASE_URL` without its trailing slash, when set.
    fn base_url(&self) -> Result<Option<String>, ConfigError> {
        self.cdn_base_url
            .as_deref()
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| Ok(parse_base_url("LECTERN_CDN_BASE_URL", raw)?.as_str().trim_end_matches('/').to_owned()))
            .transpose()
    }

    /// The distribution to invalidate, when one is configured; `aws_keys` as in
    /// [`CdnArgs::resolve`].
    fn cloudfront(
        &self,
        aws_keys: Option<(String, SecretString)>,
    ) -> Result<Option<crate::cdn::CloudFrontSettings>, ConfigError> {
        let Some(distribution_id) =
            self.cloudfront_distribution_id.as_deref().map(str::trim).filter(|id| !id.is_empty())
        else {
            return Ok(None);
        };
        let endpoint = self
            .cloudfront_endpoint
            .as_deref()
            .filter(|e| !e.trim().is_empty())
            .map(|e| parse_base_url("LECTERN_CLOUDFRONT_ENDPOINT", e))
            .transpose()?;
        Ok(Some(crate::cdn::CloudFrontSettings {
            endpoint,
            credentials: aws_keys,
            ..crate::cdn::CloudFrontSettings::new(distribution_id)
        }))
    }

    /// What a worker process needs: the distribution and the base URL its paths hang under.
    /// A worker has no public URL to default the base URL from, so with a distribution it
    /// needs `LECTERN_CDN_BASE_URL` set.
    pub fn resolve_for_worker(
        &self,
        aws_keys: Option<(String, SecretString)>,
    ) -> Result<Option<(crate::cdn::CloudFrontSettings, String)>, ConfigError> {
        let Some(cloudfront) = self.cloudfront(aws_keys)? else {
            return Ok(None);
        };
        let base_url = self.base_url()?.ok_or_else(|| {
            ConfigError::new(
                "LECTERN_CDN_BASE_URL",
                "a worker invalidating a CloudFront distribution needs the base URL viewers use (the API's default, <public URL>/cdn, is unknown to a worker)",
            )
        })?;
        Ok(Some((cloudfront, base_url)))
    }
}
