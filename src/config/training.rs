//! Training arguments: limits of progress reports, the training sweep and the GraphQL endpoint.

use std::time::Duration;

use clap::Args;

use super::{ConfigError, parse_duration};
use crate::training::{GraphQlSettings, TrainingSettings};

/// Courses, enrolments and watch progress.
#[derive(Debug, Args)]
pub struct TrainingArgs {
    /// Spans one progress report may carry (`POST /v1/playback/{id}/progress`).
    #[arg(long, env = "LECTERN_PROGRESS_MAX_SPANS", default_value_t = 64)]
    pub progress_max_spans: usize,
    /// How long after a playback session expires its progress reports are still taken.
    #[arg(long, env = "LECTERN_PROGRESS_GRACE", default_value = "10m", value_parser = parse_duration)]
    pub progress_grace: Duration,
    /// How often workers expire enrolments past their end date and refresh lesson durations.
    #[arg(long, env = "LECTERN_TRAINING_SWEEP_INTERVAL", default_value = "60s", value_parser = parse_duration)]
    pub training_sweep_interval: Duration,
    /// Playback streams whose progress state this process keeps between their reports, so the
    /// common report is one statement instead of two (about 1 KiB each; 0 turns it off).
    #[arg(long, env = "LECTERN_PROGRESS_CACHE_SESSIONS", default_value_t = crate::training::DEFAULT_PROGRESS_CACHE_SESSIONS)]
    pub progress_cache_sessions: usize,
    /// The deepest nesting of fields a GraphQL query may have (`/graphql`).
    #[arg(long, env = "LECTERN_GRAPHQL_MAX_DEPTH", default_value_t = 15)]
    pub graphql_max_depth: usize,
    /// The highest complexity a GraphQL query may have: 1 per field, 25 more per field that reads
    /// the database, a page's selection counted `first` times.
    #[arg(long, env = "LECTERN_GRAPHQL_MAX_COMPLEXITY", default_value_t = 1000)]
    pub graphql_max_complexity: usize,
}

impl TrainingArgs {
    pub fn resolve(&self) -> Result<TrainingSettings, ConfigError> {
        if !(1..=1000).contains(&self.progress_max_spans) {
            return Err(ConfigError::new("LECTERN_PROGRESS_MAX_SPANS", "must be between 1 and 1000"));
        }
        if self.progress_grace > Duration::from_secs(86_400) {
            return Err(ConfigError::new("LECTERN_PROGRESS_GRACE", "must be at most 24h"));
        }
        if self.training_sweep_interval < Duration::from_secs(1) {
            return Err(ConfigError::new("LECTERN_TRAINING_SWEEP_INTERVAL", "must be at least 1s"));
        }
        // Below 5 the course outline with progress cannot be asked for; the parser refuses
        // nesting past 32 whatever this says.
        if !(5..=30).contains(&self.graphql_max_depth) {
            return Err(ConfigError::new("LECTERN_GRAPHQL_MAX_DEPTH", "must be between 5 and 30"));
        }
        if !(100..=100_000).contains(&self.graphql_max_complexity) {
            return Err(ConfigError::new("LECTERN_GRAPHQL_MAX_COMPLEXITY", "must be between 100 and 100000"));
        }
        if self.progress_cache_sessions > 1_000_000 {
            return Err(ConfigError::new("LECTERN_PROGRESS_CACHE_SESSIONS", "must be at most 1000000"));
        }
        Ok(TrainingSettings {
            max_spans_per_report: self.progress_max_spans,
            report_grace: self.progress_grace,
            sweep_interval: self.training_sweep_interval,
            graphql: GraphQlSettings { max_depth: self.graphql_max_depth, max_complexity: self.graphql_max_complexity },
            progress_cache: std::sync::Arc::new(crate::training::progress::ProgressCache::new(
                self.progress_cache_sessions,
            )),
        })
    }
}
