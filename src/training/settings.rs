//! Resolved training settings (see `crate::config` for the variables).

use std::sync::Arc;
use std::time::Duration;

use super::progress::ProgressCache;

/// Streams whose state a process keeps between their reports (about 1 KiB each).
pub const DEFAULT_PROGRESS_CACHE_SESSIONS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct TrainingSettings {
    /// Spans one progress report may carry.
    pub max_spans_per_report: usize,
    /// How long after its playback session expires a session's reports are still taken (the
    /// last report of a lesson left open, sent from `sendBeacon` as the page closes).
    pub report_grace: Duration,
    /// How often workers expire enrolments whose end date passed and refresh lesson durations
    /// from newly published versions.
    pub sweep_interval: Duration,
    /// The limits of the read-only GraphQL endpoint.
    pub graphql: GraphQlSettings,
    /// The state of recently reporting streams, shared by this process's requests (not a
    /// setting, but built from one: `LECTERN_PROGRESS_CACHE_SESSIONS`).
    pub progress_cache: Arc<ProgressCache>,
}

impl Default for TrainingSettings {
    /// The documented defaults.
    fn default() -> Self {
        Self {
            max_spans_per_report: 64,
            report_grace: Duration::from_secs(600),
            sweep_interval: Duration::from_secs(60),
            graphql: GraphQlSettings::default(),
            progress_cache: Arc::new(ProgressCache::new(DEFAULT_PROGRESS_CACHE_SESSIONS)),
        }
    }
}

/// What one GraphQL query may cost (`POST`/`GET /graphql`). Both limits are checked before
/// anything runs, and introspection counts like any other field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GraphQlSettings {
    /// The deepest nesting of fields (`course { sections { lessons { progress { gaps } } } }`
    /// is 5; the standard introspection query of GraphiQL and graphql-js is 13).
    pub max_depth: usize,
    /// The highest complexity score: 1 per field, plus 25 for each field that reads the database,
    /// and a page's selection counted `first` times.
    pub max_complexity: usize,
}

impl Default for GraphQlSettings {
    /// The documented defaults.
    fn default() -> Self {
        Self { max_depth: 15, max_complexity: 1000 }
    }
}
