//! Logging: pretty for people, JSON for collectors; `RUST_LOG` syntax for the filter.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Installs the global subscriber. Logs go to standard error so standard output stays clean for
/// commands that print results (`lectern keys generate`, later `lectern probe`).
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("warning: RUST_LOG {filter:?} is not a valid filter ({error}); using \"info\"");
        EnvFilter::new("info")
    });
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(std::io::stderr))
            .try_init(),
    };
    // Only fails when a subscriber is already installed (tests), which is fine.
    drop(result);
}
