//! What can go wrong with a MediaConvert job, classified the way the job queue needs it: bad
//! input (fail the asset with a refusal code), infrastructure (retry), or configuration (fail,
//! and tell the operator — retrying cannot help until the role, queue or bucket is fixed).

use std::error::Error as StdError;

use aws_sdk_mediaconvert::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use pipelines::refusal::{Refusal, RefusalCode};

use crate::storage::StorageError;

/// How a job that ended in `ERROR` should be treated, from its MediaConvert error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobErrorClass {
    /// The source file is the problem; the same code the local engine would give.
    BadInput(RefusalCode),
    /// A passing fault inside MediaConvert or while fetching the input; a new job may succeed.
    Transient,
    /// The job's settings, role, bucket or queue are wrong; an operator has to act.
    Configuration,
}

/// Classifies MediaConvert's job error codes (documented in its user guide under "Error
/// codes"). Unknown codes count as configuration: failing loudly beats paying for retries.
pub fn classify_job_error(code: i32) -> JobErrorClass {
    match code {
        // Cannot open the input, cannot demux it, or an HLS input that breaks the rules.
        1010 | 1075 | 3400 => JobErrorClass::BadInput(RefusalCode::NotAMediaFile),
        // Opened, but no video (1020) or no audio (1021) stream where the job wanted one.
        1020 | 1021 => JobErrorClass::BadInput(RefusalCode::NoPlayableStreams),
        // Codec or container MediaConvert does not support; audio it cannot decode.
        1030 | 1092 => JobErrorClass::BadInput(RefusalCode::UnsupportedCodec),
        // Unexpected end of file while reading the source.
        1076 => JobErrorClass::BadInput(RefusalCode::TruncatedFile),
        // Disk full on the worker, acceleration faults, "unknown error", HTTP fetch hiccups.
        1050 | 1507 | 1550 | 1999 | 3408 | 3450 | 3451 | 3999 => JobErrorClass::Transient,
        // Settings (1040–1042, 1060, 1080), permissions and roles (1401, 1404, 1432–1434, 1515),
        // encryption (1091), policies (3457) and anything new.
        _ => JobErrorClass::Configuration,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MediaConvertError {
    #[error("invalid S3 location {location:?}: {reason}")]
    InvalidLocation { location: String, reason: &'static str },

    #[error("the plan has neither video nor audio to make")]
    EmptyPlan,

    /// A request to the MediaConvert API failed (after the SDK's own retries).
    #[error("MediaConvert {op} failed")]
    Api {
        op: &'static str,
        /// Throttling, 5xx, timeouts and connection failures.
        retryable: bool,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },

    #[error("MediaConvert has no job {job_id}")]
    JobNotFound { job_id: String },

    #[error("MediaConvert answered {op} without {missing}")]
    MalformedAnswer { op: &'static str, missing: &'static str },

    #[error("MediaConvert job {job_id} failed with error {code}: {message}")]
    JobFailed { job_id: String, code: i32, message: String },

    #[error("MediaConvert job {job_id} was canceled")]
    Canceled { job_id: String },

    #[error("cannot read the job's outputs")]
    Storage(#[from] StorageError),

    #[error("the playlist {key} cannot be used: {reason}")]
    Manifest { key: String, reason: String },
}

impl MediaConvertError {
    /// A stable snake_case code for job records and logs. Bad input gets the same refusal
    /// codes as the local engine (`not_a_media_file`, `unsupported_codec`, …).
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::InvalidLocation { .. } => "invalid_location",
            Self::EmptyPlan => "no_playable_streams",
            Self::Api { retryable: true, .. } | Self::MalformedAnswer { .. } => "transcoder_unavailable",
            Self::Api { retryable: false, .. } => "transcoder_rejected_request",
            Self::JobNotFound { .. } => "transcode_job_not_found",
            Self::JobFailed { code, .. } => match classify_job_error(*code) {
                JobErrorClass::BadInput(refusal) => refusal.as_str(),
                JobErrorClass::Transient => "transcoder_unavailable",
                JobErrorClass::Configuration => "transcoder_misconfigured",
            },
            Self::Canceled { .. } => "transcode_canceled",
            Self::Storage(error) => error.error_code(),
            Self::Manifest { .. } => "invalid_transcoder_output",
        }
    }

    /// True when the source file (or the caller's request) is at fault: the asset fails with
    /// [`Self::error_code`] and nothing is retried.
    pub fn is_client_error(&self) -> bool {
        match self {
            Self::InvalidLocation { .. } | Self::EmptyPlan => true,
            Self::JobFailed { code, .. } => matches!(classify_job_error(*code), JobErrorClass::BadInput(_)),
            Self::Storage(error) => error.is_client_error(),
            _ => false,
        }
    }

    /// True when another attempt may succeed without anyone changing anything.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api { retryable, .. } => *retryable,
            Self::MalformedAnswer { .. } => true,
            Self::JobFailed { code, .. } => classify_job_error(*code) == JobErrorClass::Transient,
            Self::Storage(error) => !error.is_client_error(),
            _ => false,
        }
    }

    /// The refusal to record on the asset when the input is bad, as the local engine would.
    pub fn refusal(&self) -> Option<Refusal> {
        match self {
            Self::JobFailed { code, message, .. } => match classify_job_error(*code) {
                JobErrorClass::BadInput(refusal) => Some(Refusal::new(refusal, message.clone())),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Keeps the whole SDK error as the source and decides whether a retry may help: throttling
/// (429 `TooManyRequestsException`), 5xx answers, timeouts and connection failures may; bad
/// requests, missing permissions and quota refusals may not.
pub(super) fn api_error<E>(
    op: &'static str,
    error: SdkError<E, aws_sdk_mediaconvert::config::http::HttpResponse>,
) -> MediaConvertError
where
    E: ProvideErrorMetadata + StdError + Send + Sync + 'static,
{
    tracing::debug!(op, error = %DisplayErrorContext(&error), "MediaConvert request failed");
    let status = error.raw_response().map(|response| response.status().as_u16());
    let retryable = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(_) => {
            matches!(error.code(), Some("TooManyRequestsException" | "InternalServerErrorException"))
                || status.is_some_and(|status| status == 429 || status >= 500)
        }
        _ => false,
    };
    MediaConvertError::Api { op, retryable, source: Box::new(error) }
}

/// A 404 on a job's own URL: the job id is unknown (or expired: MediaConvert keeps jobs for
/// 90 days).
pub(super) fn is_not_found<E: ProvideErrorMetadata>(
    error: &SdkError<E, aws_sdk_mediaconvert::config::http::HttpResponse>,
) -> bool {
    error.code() == Some("NotFoundException") || error.raw_response().is_some_and(|r| r.status().as_u16() == 404)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_errors_become_the_engines_refusal_codes() {
        let failed = |code| MediaConvertError::JobFailed { job_id: "j".to_owned(), code, message: "m".to_owned() };
        assert_eq!(failed(1010).error_code(), "not_a_media_file");
        assert_eq!(failed(1030).error_code(), "unsupported_codec");
        assert_eq!(failed(1076).error_code(), "truncated_file");
        assert!(failed(1010).is_client_error() && !failed(1010).is_retryable());
        assert_eq!(failed(1020).refusal().map(|r| r.code), Some(RefusalCode::NoPlayableStreams));
    }

    #[test]
    fn service_faults_retry_and_permission_problems_do_not() {
        let failed = |code| MediaConvertError::JobFailed { job_id: "j".to_owned(), code, message: "m".to_owned() };
        assert!(failed(1999).is_retryable() && !failed(1999).is_client_error());
        assert!(failed(3450).is_retryable());
        for code in [1040, 1401, 1432, 1515, 4242] {
            assert!(!failed(code).is_retryable() && !failed(code).is_client_error(), "{code}");
            assert_eq!(failed(code).error_code(), "transcoder_misconfigured");
        }
    }
}
