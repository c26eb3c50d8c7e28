//! Storage housekeeping jobs.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{JobContext, JobError, JobHandler};
use crate::storage::KeyPrefix;

/// Deletes every object under a prefix, e.g. a deleted asset's outputs or a failed attempt's
/// leftovers. Run as a job so a slow store never blocks an API request, and so the deletion
/// survives a crash halfway.
pub struct DeletePrefix;

#[derive(Debug, Serialize, Deserialize)]
pub struct DeletePrefixPayload {
    pub prefix: String,
}

impl DeletePrefix {
    pub const KIND: &'static str = "storage.delete_prefix";
}

#[async_trait]
impl JobHandler for DeletePrefix {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    async fn run(&self, context: JobContext, payload: serde_json::Value) -> Result<(), JobError> {
        let payload: DeletePrefixPayload =
            serde_json::from_value(payload).map_err(|e| JobError::abort("invalid_payload", e.to_string()))?;
        // An empty prefix would delete the whole store; no caller means that.
        if payload.prefix.is_empty() || !payload.prefix.ends_with('/') {
            return Err(JobError::abort("invalid_payload", "prefix must be non-empty and end with '/'"));
        }
        let prefix = KeyPrefix::parse(payload.prefix).map_err(|e| JobError::abort("invalid_payload", e.to_string()))?;
        let removed = context.storage.delete_prefix(&prefix).await.map_err(|error| {
            if error.is_client_error() {
                JobError::abort(error.error_code(), error.to_string())
            } else {
                JobError::retry(crate::error_chain(&error))
            }
        })?;
        tracing::info!(prefix = prefix.as_str(), removed, "deleted objects");
        Ok(())
    }
}
