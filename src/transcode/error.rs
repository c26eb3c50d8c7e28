//! One error type for every backend, classified like the rest of the codebase.

use crate::engine::RunError;
use crate::storage::StorageError;

use super::mediaconvert::MediaConvertError;

#[derive(Debug, thiserror::Error)]
pub enum TranscodeError {
    #[error(transparent)]
    MediaConvert(#[from] MediaConvertError),

    #[error(transparent)]
    Engine(#[from] RunError),

    #[error("moving the package through storage failed")]
    Storage(#[from] StorageError),

    #[error("local file work failed during {op}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("the transcode was cancelled")]
    Cancelled,
}

impl TranscodeError {
    pub(super) fn io(op: &'static str, source: std::io::Error) -> Self {
        Self::Io { op, source }
    }

    /// A stable snake_case code: the refusal codes for bad input, whichever backend found it.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::MediaConvert(error) => error.error_code(),
            Self::Engine(RunError::Refused(refusal)) => refusal.code.as_str(),
            Self::Engine(RunError::TimedOut(_)) => "transcode_timed_out",
            Self::Engine(_) => "transcode_failed",
            Self::Storage(error) => error.error_code(),
            Self::Io { .. } => "transcode_failed",
            Self::Cancelled => "transcode_canceled",
        }
    }

    /// True when the source is at fault: fail the asset now with [`Self::error_code`].
    pub fn is_client_error(&self) -> bool {
        match self {
            Self::MediaConvert(error) => error.is_client_error(),
            Self::Engine(error) => matches!(error, RunError::Refused(_)),
            Self::Storage(error) => error.is_client_error(),
            Self::Io { .. } | Self::Cancelled => false,
        }
    }

    /// True when another attempt may succeed. An engine crash or timeout counts: the job's
    /// attempt limit bounds what a hostile file can cost.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::MediaConvert(error) => error.is_retryable(),
            Self::Engine(error) => !matches!(error, RunError::Refused(_)),
            Self::Storage(error) => !error.is_client_error(),
            Self::Io { .. } => true,
            Self::Cancelled => false,
        }
    }
}
