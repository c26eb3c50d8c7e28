//! TEMPORARY stub until the ingest branch is merged (not committed).
mod ingest_error;
pub use ingest_error::IngestError;
pub fn job_handlers(_ingest: &std::sync::Arc<crate::config::IngestSettings>) -> Vec<std::sync::Arc<dyn crate::jobs::JobHandler>> { Vec::new() }
