use std::error::Error as StdError;

/// Why a storage operation failed. Client errors (bad key, missing object, bad range) are told
/// apart from infrastructure errors, which callers may retry.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid object key {key:?}: {reason}")]
    InvalidKey { key: String, reason: &'static str },

    #[error("object not found")]
    NotFound,

    #[error("requested range is not satisfiable")]
    RangeNotSatisfiable,

    #[error("multipart upload not found")]
    UploadNotFound,

    #[error("invalid multipart request: {0}")]
    InvalidMultipart(String),

    #[error("storage IO failed during {op}")]
    Io {
        op: &'static str,
        #[source]
        source: std::io::Error,
    },

    #[error("storage backend failed during {op}")]
    Backend {
        op: &'static str,
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl StorageError {
    /// A stable snake_case code for API errors and logs.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::InvalidKey { .. } => "invalid_object_key",
            Self::NotFound => "object_not_found",
            Self::RangeNotSatisfiable => "range_not_satisfiable",
            Self::UploadNotFound => "upload_not_found",
            Self::InvalidMultipart(_) => "invalid_multipart_request",
            Self::Io { .. } | Self::Backend { .. } => "storage_unavailable",
        }
    }

    /// True when the caller asked for something wrong; false when the store misbehaved and a
    /// retry may succeed.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, Self::Io { .. } | Self::Backend { .. })
    }

    pub fn backend(op: &'static str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self::Backend { op, source: source.into() }
    }

    pub fn io(op: &'static str, source: std::io::Error) -> Self {
        Self::Io { op, source }
    }
}
