//! Why Lectern refuses a source file. The codes are stable: the CLI prints them, the API returns
//! them on an errored asset, and webhooks carry them.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefusalCode {
    /// Zero bytes.
    EmptyFile,
    /// No demuxer recognises it (random bytes, a text file).
    NotAMediaFile,
    /// Recognised, but holds no audio or moving-picture stream (a still image, subtitles only).
    NoPlayableStreams,
    /// Holds streams, but of a codec the engine cannot decode.
    UnsupportedCodec,
    /// Cut short: the index (`moov`) is missing or the data ends before the declared length.
    TruncatedFile,
    /// Longer than the configured maximum duration.
    DurationTooLong,
    /// Picture larger than the configured maximum (area-equivalent) or frame rate too high.
    ResolutionTooLarge,
    /// More bytes than the configured maximum.
    FileTooLarge,
}

impl RefusalCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EmptyFile => "empty_file",
            Self::NotAMediaFile => "not_a_media_file",
            Self::NoPlayableStreams => "no_playable_streams",
            Self::UnsupportedCodec => "unsupported_codec",
            Self::TruncatedFile => "truncated_file",
            Self::DurationTooLong => "duration_too_long",
            Self::ResolutionTooLarge => "resolution_too_large",
            Self::FileTooLarge => "file_too_large",
        }
    }
}

impl std::fmt::Display for RefusalCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A refusal: the stable code and a message for a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{code}: {message}")]
pub struct Refusal {
    pub code: RefusalCode,
    pub message: String,
}

impl Refusal {
    pub fn new(code: RefusalCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }
}
