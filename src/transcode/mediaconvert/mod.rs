//! The AWS Elemental MediaConvert backend: the same plan the local engine executes, run as a
//! MediaConvert job that reads the source from S3 and writes a CMAF package back to S3.
//!
//! The flow is [`MediaConvertTranscoder::submit`] (CreateJob with the configured role and
//! queue, tagged with the asset id and version), [`MediaConvertTranscoder::status`] (GetJob)
//! until the job is `COMPLETE`, `ERROR` or `CANCELED`, then [`outputs::read_outputs`] on the
//! destination prefix. [`MediaConvertTranscoder::run_to_completion`] does all three, reporting
//! progress and cancelling the job when asked to stop.

mod errors;
pub mod job;
pub mod outputs;

use std::fmt;

use aws_sdk_mediaconvert::Client;
use aws_sdk_mediaconvert::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_mediaconvert::types::JobStatus as SdkJobStatus;
use pipelines::plan::Plan;
use pipelines::source::SourceInfo;
use secrecy::ExposeSecret;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use errors::{JobErrorClass, MediaConvertError, classify_job_error};
pub use job::job_settings;

use crate::storage::{KeyPrefix, ObjectStore};
use crate::transcode::MediaConvertSettings;
use crate::transcode::TranscodeOutput;

/// Consecutive failed status polls (each already retried by the SDK) tolerated before giving
/// up. The job keeps running in AWS meanwhile, so a short outage should not cost a new job.
const MAX_FAILED_POLLS: u32 = 10;

/// `s3://bucket/key`: where MediaConvert reads the source and writes the package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// The object key, or a prefix ending with `/` for a destination; may be empty.
    pub key: String,
}

impl S3Location {
    pub fn new(bucket: impl Into<String>, key: impl Into<String>) -> Self {
        Self { bucket: bucket.into(), key: key.into() }
    }

    pub fn parse(uri: &str) -> Result<Self, MediaConvertError> {
        let invalid = |reason| MediaConvertError::InvalidLocation { location: uri.to_owned(), reason };
        let rest = uri.strip_prefix("s3://").ok_or_else(|| invalid("must start with s3://"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("names no bucket"));
        }
        Ok(Self::new(bucket, key))
    }

    /// The key as a storage prefix, for listing what a job wrote.
    pub fn key_prefix(&self) -> Result<KeyPrefix, MediaConvertError> {
        Ok(KeyPrefix::parse(self.key.clone())?)
    }
}

impl fmt::Display for S3Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// MediaConvert's id of a job, e.g. `1515368087458-qnoxtd`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JobId(pub String);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a job stands, as GetJob reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// `SUBMITTED` (queued, `percent` 0) or `PROGRESSING` (with `jobPercentComplete` once the
    /// transcoding phase has started).
    Progress {
        percent: Option<u8>,
    },
    Complete,
    Error {
        code: i32,
        message: String,
    },
    Canceled,
}

/// What to transcode and where to put it.
#[derive(Debug, Clone)]
pub struct MediaConvertJob<'a> {
    pub asset_id: Uuid,
    pub version: u32,
    pub source: &'a SourceInfo,
    pub plan: &'a Plan,
    pub input: S3Location,
    /// A prefix ending with `/`; the package lands directly under it.
    pub destination: S3Location,
}

/// Runs plans as MediaConvert jobs.
#[derive(Debug, Clone)]
pub struct MediaConvertTranscoder {
    client: Client,
    settings: MediaConvertSettings,
}

impl MediaConvertTranscoder {
    /// Builds the client like the S3 backend does: static keys when configured, else the AWS
    /// default credential chain; the endpoint override serves tests and private endpoints.
    pub async fn connect(settings: MediaConvertSettings) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(settings.region.clone()));
        if let (Some(access_key_id), Some(secret)) = (&settings.access_key_id, &settings.secret_access_key) {
            let credentials = Credentials::new(access_key_id, secret.expose_secret(), None, None, "lectern-settings");
            loader = loader.credentials_provider(credentials);
        }
        let shared = loader.load().await;
        let mut config = aws_sdk_mediaconvert::config::Builder::from(&shared);
        if let Some(endpoint) = &settings.endpoint {
            config = config.endpoint_url(endpoint.as_str().trim_end_matches('/'));
        }
        Self { client: Client::from_conf(config.build()), settings }
    }

    /// The underlying client, for operations this module does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Submits the job (CreateJob). The SDK gives each call a fresh client request token and
    /// keeps it across its own retries, so a throttled or timed-out CreateJob that did reach
    /// MediaConvert is not paid for twice. The token is deliberately not derived from the asset:
    /// MediaConvert would answer a repeat within a minute with the first job, and a job attempt
    /// retried soon after a fast `ERROR` would then get the failed job back.
    pub async fn submit(&self, job: &MediaConvertJob<'_>) -> Result<JobId, MediaConvertError> {
        let settings = job_settings(job.plan, job.source, &job.input, &job.destination)?;
        let output = self
            .client
            .create_job()
            .role(&self.settings.role_arn)
            .set_queue(self.settings.queue_arn.clone())
            .settings(settings)
            .user_metadata("asset_id", job.asset_id.to_string())
            .user_metadata("version", job.version.to_string())
            .send()
            .await
            .map_err(|error| errors::api_error("CreateJob", error))?;
        let id = output
            .job()
            .and_then(|job| job.id())
            .ok_or(MediaConvertError::MalformedAnswer { op: "CreateJob", missing: "a job id" })?;
        tracing::info!(job_id = id, asset_id = %job.asset_id, version = job.version, "MediaConvert job submitted");
        Ok(JobId(id.to_owned()))
    }

    /// The job's status (GetJob).
    pub async fn status(&self, job_id: &JobId) -> Result<JobStatus, MediaConvertError> {
        let output = match self.client.get_job().id(&job_id.0).send().await {
            Ok(output) => output,
            Err(error) if errors::is_not_found(&error) => {
                return Err(MediaConvertError::JobNotFound { job_id: job_id.0.clone() });
            }
            Err(error) => return Err(errors::api_error("GetJob", error)),
        };
        let job = output.job().ok_or(MediaConvertError::MalformedAnswer { op: "GetJob", missing: "the job" })?;
        let status = job.status().ok_or(MediaConvertError::MalformedAnswer { op: "GetJob", missing: "a status" })?;
        Ok(match status {
            SdkJobStatus::Complete => JobStatus::Complete,
            SdkJobStatus::Canceled => JobStatus::Canceled,
            SdkJobStatus::Error => JobStatus::Error {
                code: job.error_code().unwrap_or(0),
                message: job.error_message().unwrap_or("no message").to_owned(),
            },
            SdkJobStatus::Submitted => JobStatus::Progress { percent: Some(0) },
            // PROGRESSING, and any status added after this SDK version: keep waiting.
            _ => JobStatus::Progress { percent: job.job_percent_complete().map(|percent| percent.clamp(0, 100) as u8) },
        })
    }

    /// Asks MediaConvert to cancel the job (CancelJob). Cancelling a job that already finished
    /// (a 409 conflict) or does not exist succeeds: either way nothing is running any more.
    pub async fn cancel(&self, job_id: &JobId) -> Result<(), MediaConvertError> {
        match self.client.cancel_job().id(&job_id.0).send().await {
            Ok(_) => Ok(()),
            Err(error)
                if errors::is_not_found(&error)
                    || aws_sdk_mediaconvert::error::ProvideErrorMetadata::code(&error) == Some("ConflictException") =>
            {
                Ok(())
            }
            Err(error) => Err(errors::api_error("CancelJob", error)),
        }
    }

    /// Submits the job, polls it every `poll_interval` (reporting progress as a fraction), and
    /// on `COMPLETE` reads the package back from `store`. On `cancellation` the MediaConvert job
    /// is cancelled too, so nobody pays for output that will never be used.
    pub async fn run_to_completion(
        &self,
        job: &MediaConvertJob<'_>,
        store: &dyn ObjectStore,
        on_progress: &mut (dyn FnMut(f64) + Send),
        cancellation: &CancellationToken,
    ) -> Result<TranscodeOutput, MediaConvertError> {
        let prefix = job.destination.key_prefix()?;
        let job_id = self.submit(job).await?;
        let mut failed_polls = 0;
        loop {
            tokio::select! {
                () = cancellation.cancelled() => {
                    tracing::info!(%job_id, "cancelling the MediaConvert job");
                    self.cancel(&job_id).await?;
                    return Err(MediaConvertError::Canceled { job_id: job_id.0 });
                }
                () = tokio::time::sleep(self.settings.poll_interval) => {}
            }
            let status = match self.status(&job_id).await {
                Ok(status) => {
                    failed_polls = 0;
                    status
                }
                Err(error) if error.is_retryable() && failed_polls < MAX_FAILED_POLLS => {
                    failed_polls += 1;
                    tracing::warn!(%job_id, error = %crate::error_chain(&error), "cannot poll the MediaConvert job; will try again");
                    continue;
                }
                Err(error) => return Err(error),
            };
            match status {
                JobStatus::Progress { percent } => on_progress(f64::from(percent.unwrap_or(0)) / 100.0),
                JobStatus::Complete => {
                    on_progress(1.0);
                    return outputs::read_outputs(store, &prefix).await;
                }
                JobStatus::Error { code, message } => {
                    return Err(MediaConvertError::JobFailed { job_id: job_id.0, code, message });
                }
                JobStatus::Canceled => return Err(MediaConvertError::Canceled { job_id: job_id.0 }),
            }
        }
    }
}

#[async_trait::async_trait]
impl crate::transcode::Transcoder for MediaConvertTranscoder {
    fn backend(&self) -> &'static str {
        "mediaconvert"
    }

    /// The request's keys are read and written in the configured bucket (the storage bucket).
    async fn transcode(
        &self,
        request: &crate::transcode::TranscodeRequest<'_>,
        store: &dyn ObjectStore,
        on_progress: &mut (dyn FnMut(f64) + Send),
        cancellation: &CancellationToken,
    ) -> Result<TranscodeOutput, crate::transcode::TranscodeError> {
        let job = MediaConvertJob {
            asset_id: request.asset_id,
            version: request.version,
            source: request.source,
            plan: request.plan,
            input: S3Location::new(&self.settings.bucket, request.input.as_str()),
            destination: S3Location::new(&self.settings.bucket, request.destination.as_str()),
        };
        Ok(self.run_to_completion(&job, store, on_progress, cancellation).await?)
    }
}
