//! Logging and tracing: pretty logs for people, JSON for collectors, `RUST_LOG` syntax for the
//! filter; optionally, spans exported over OTLP/HTTP (protobuf) to a collector (an ADOT or
//! OpenTelemetry Collector sidecar, Jaeger, Tempo).
//!
//! Trace context crosses three boundaries: into an HTTP request (a `traceparent` header is
//! continued), from a request into the jobs it queues (the queue stores [`current_traceparent`]
//! on the job row and the worker's job span continues it, see `jobs::worker`), and from a job
//! into the engine child (the `TRACEPARENT` environment variable). All three use the W3C Trace
//! Context format.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

/// Where spans go (`LECTERN_OTLP_ENDPOINT`) and under which service name.
#[derive(Debug, Clone)]
pub struct OtlpSettings {
    /// The collector's base URL, e.g. `http://127.0.0.1:4318`; spans are POSTed to its
    /// `/v1/traces`.
    pub endpoint: url::Url,
    pub service_name: String,
}

/// Installs the global subscriber. Logs go to standard error so standard output stays clean for
/// commands that print results (`lectern keys generate`, later `lectern probe`).
pub fn init(format: LogFormat, filter: &str) {
    drop(init_with_export(format, filter, None));
}

/// Keeps the span exporter of [`init_with_export`]; [`Telemetry::shutdown`] sends what is still
/// buffered.
#[must_use = "dropping it without shutdown loses the spans still buffered"]
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Flushes and stops the exporter. It blocks (the exporter's HTTP client is synchronous),
    /// so it runs off the async worker threads.
    pub async fn shutdown(self) {
        let Some(provider) = self.provider else { return };
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
        match stopped {
            Ok(Ok(())) => {}
            Ok(Err(error)) => eprintln!("warning: cannot flush the last spans: {error}"),
            Err(error) => eprintln!("warning: the span exporter's shutdown failed: {error}"),
        }
    }
}

/// [`init`], plus span export over OTLP/HTTP when `otlp` is set. A collector that is down does
/// not stop Lectern: the exporter drops spans it cannot send (and says so on standard error).
pub fn init_with_export(format: LogFormat, filter: &str, otlp: Option<&OtlpSettings>) -> Telemetry {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("warning: RUST_LOG {filter:?} is not a valid filter ({error}); using \"info\"");
        EnvFilter::new("info")
    });
    let provider = otlp.and_then(|settings| match tracer_provider(settings) {
        Ok(provider) => Some(provider),
        Err(error) => {
            eprintln!("warning: spans will not be exported: {error}");
            None
        }
    });
    let export =
        provider.as_ref().map(|provider| tracing_opentelemetry::layer().with_tracer(provider.tracer("lectern")));
    let registry = tracing_subscriber::registry().with(filter).with(export);
    let result = match format {
        LogFormat::Pretty => registry.with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr)).try_init(),
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().flatten_event(true).with_writer(std::io::stderr))
            .try_init(),
    };
    // Only fails when a subscriber is already installed (tests), which is fine.
    drop(result);
    Telemetry { provider }
}

fn tracer_provider(settings: &OtlpSettings) -> Result<SdkTracerProvider, opentelemetry_otlp::ExporterBuildError> {
    let endpoint = format!("{}/v1/traces", settings.endpoint.as_str().trim_end_matches('/'));
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(opentelemetry_otlp::Protocol::HttpBinary)
        .with_endpoint(endpoint)
        .with_timeout(std::time::Duration::from_secs(10))
        .build()?;
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(settings.service_name.clone()).build();
    Ok(SdkTracerProvider::builder().with_batch_exporter(exporter).with_resource(resource).build())
}

/// The W3C `traceparent` of the current span, when spans are exported and one is open.
pub fn current_traceparent() -> Option<String> {
    let context = tracing::Span::current().context();
    if !context.span().span_context().is_valid() {
        return None;
    }
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&context, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` a child of the remote span a `traceparent` names (a job's enqueuer, a caller's
/// request). A malformed value is ignored: the span then starts a trace of its own.
pub fn continue_trace(span: &tracing::Span, traceparent: &str) {
    let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
    let context = TraceContextPropagator::new().extract(&carrier);
    if context.span().span_context().is_valid() {
        // Fails only when spans are not exported (no OpenTelemetry layer): nothing to continue.
        let _ = span.set_parent(context);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_export_there_is_no_traceparent_to_carry() {
        let span = tracing::info_span!("outside");
        let _entered = span.enter();
        assert_eq!(current_traceparent(), None);
    }
}
