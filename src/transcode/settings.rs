//! Resolved settings of the transcoding backend (see `crate::config` for the variables).

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

#[derive(Debug, Clone)]
pub enum TranscoderSettings {
    Local,
    MediaConvert(Box<MediaConvertSettings>),
}

#[derive(Debug, Clone)]
pub struct MediaConvertSettings {
    /// `None` for AWS's regional endpoint; set for tests and private endpoints.
    pub endpoint: Option<Url>,
    pub region: String,
    /// The role jobs run as (`iam:PassRole` for it is needed by Lectern's own credentials).
    pub role_arn: String,
    /// `None` submits to the `Default` queue.
    pub queue_arn: Option<String>,
    pub poll_interval: Duration,
    /// The storage bucket: sources are read from it and packages written to it.
    pub bucket: String,
    /// Static credentials (the S3 backend's `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`); when
    /// absent the AWS default provider chain is used.
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
}
