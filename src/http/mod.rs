//! The HTTP edge: the error type and the trait every domain error implements for it,
//! extractors, and the layers around the router. It names no domain: the composition root
//! (`app/router.rs`) mounts the domains' routers and wraps them with [`api_layers`] and
//! [`edge_layers`].

pub mod body;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
mod settings;
pub mod text;

pub use error::{ApiError, ErrorBody, HttpError};
pub use settings::HttpSettings;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::metrics::Metrics;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest `X-Request-Id` kept from a client; a UUID is 36 characters, and proxies' ids
/// (AWS's `Root=1-…`, nginx's 32 hex digits) fit too.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// A client's `X-Request-Id` is echoed in the response and written into every log line of the
/// request, so one that is over-long or carries anything but visible ASCII is dropped, and the
/// request gets a fresh UUID in its place.
fn drop_unfit_request_id<B>(mut request: Request<B>) -> Request<B> {
    let fit = |value: &HeaderValue| {
        let bytes = value.as_bytes();
        !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_LEN && bytes.iter().all(u8::is_ascii_graphic)
    };
    let values = request.headers().get_all(REQUEST_ID);
    let keep = values.iter().count() == 1 && values.iter().all(fit);
    if !keep {
        request.headers_mut().remove(REQUEST_ID);
    }
    request
}

/// The layers of the JSON API only: the request timeout (answered in the API's error format),
/// the JSON body limit, and the refusal of NUL characters in query strings and JSON bodies.
/// Routes that stream large bodies (tus, the origin, presigned storage URLs) are mounted beside
/// the API, outside these.
pub fn api_layers<S: Clone + Send + Sync + 'static>(router: Router<S>, settings: &HttpSettings) -> Router<S> {
    router
        .layer(axum::middleware::from_fn_with_state(settings.max_json_body, text::reject_nul_text))
        .layer(axum::middleware::from_fn_with_state(settings.request_timeout, middleware::request_timeout))
        .layer(DefaultBodyLimit::max(settings.max_json_body))
}

/// The layers around everything: the API's own 404/405 answers, request metrics, request ids,
/// the trace span, CORS and compression of text.
pub fn edge_layers(router: Router, settings: &HttpSettings, metrics: Arc<Metrics>) -> Router {
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(middleware::json_rejections))
        .layer(axum::middleware::from_fn_with_state(metrics, middleware::record_metrics))
        .layer(
            ServiceBuilder::new()
                .map_request(drop_unfit_request_id)
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
                    let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok());
                    let span =
                        tracing::info_span!("http", method = %request.method(), route, uri = %request.uri(), request_id);
                    // A caller's W3C trace context is continued (issue 19).
                    if let Some(traceparent) = request.headers().get("traceparent").and_then(|v| v.to_str().ok()) {
                        crate::telemetry::continue_trace(&span, traceparent);
                    }
                    span
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .option_layer(cors_layer(&settings.cors_origins))
                .layer(CompressionLayer::new().compress_when(compressible)),
        )
}

/// Compress what is text (JSON, manifests, metrics); never media, which is already compressed.
fn compressible(
    _status: StatusCode,
    _version: axum::http::Version,
    headers: &axum::http::HeaderMap,
    _extensions: &axum::http::Extensions,
) -> bool {
    let content_type = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let small = headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|length| length < 256);
    !small
        && (content_type.starts_with("application/json")
            || content_type.starts_with("text/")
            || content_type.starts_with("application/vnd.apple.mpegurl")
            || content_type.starts_with("application/dash+xml"))
}

/// Response headers scripts in a browser may read.
const EXPOSED_HEADERS: [&str; 18] = [
    "location",
    "upload-offset",
    "upload-length",
    "upload-defer-length",
    "upload-expires",
    "upload-metadata",
    "tus-resumable",
    "tus-version",
    "tus-extension",
    "tus-max-size",
    "tus-checksum-algorithm",
    "x-request-id",
    "retry-after",
    "www-authenticate",
    "content-range",
    "content-length",
    "accept-ranges",
    "etag",
];

fn cors_layer(origins: &[String]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::PATCH, Method::DELETE])
        .allow_headers(Any)
        // Browsers hide response headers from scripts unless listed; tus clients (tus-js-client)
        // must read these to resume.
        .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
        .max_age(std::time::Duration::from_secs(3600));
    if origins.iter().any(|o| o == "*") {
        return Some(layer.allow_origin(Any));
    }
    let values: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    Some(layer.allow_origin(AllowOrigin::list(values)))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not accept that method")
}
