//! Resolved training settings (see `crate::config` for the variables).

use std::time::Duration;

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
}

impl Default for TrainingSettings {
    /// The documented defaults.
    fn default() -> Self {
        Self {
            max_spans_per_report: 64,
            report_grace: Duration::from_secs(600),
            sweep_interval: Duration::from_secs(60),
        }
    }
}
