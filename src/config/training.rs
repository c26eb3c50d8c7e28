//! Training arguments: limits of progress reports and the training sweep.

use std::time::Duration;

use clap::Args;

use super::{ConfigError, parse_duration};
use crate::training::TrainingSettings;

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
        Ok(TrainingSettings {
            max_spans_per_report: self.progress_max_spans,
            report_grace: self.progress_grace,
            sweep_interval: self.training_sweep_interval,
        })
    }
}
