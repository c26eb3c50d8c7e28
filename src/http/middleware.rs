//! Request-scoped layers with state of their own (the metrics registry, the timeout).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::metrics::{HttpLabels, Metrics};

/// Counts requests and observes their latency by route template and status.
pub async fn record_metrics(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method()).to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let response = next.run(request).await;
    let labels = HttpLabels { method, route, status: response.status().as_u16() };
    metrics.http_requests.get_or_create(&labels).inc();
    metrics.http_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
    response
}

/// The method as a metric label: the standard methods by name, anything else (extension
/// methods, which a client may make up at any length) as `other`, so no request can add a label
/// value of its own choosing. Routes are templates or `unmatched`, and statuses are the server's.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    KNOWN.iter().find(|(known, _)| known == method).map_or("other", |(_, name)| name)
}

/// Answers requests that take longer than the configured timeout with 408 in the API's error
/// format (tower-http's timeout layer answers with an empty body).
pub async fn request_timeout(State(limit): State<Duration>, request: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request took longer than {} s", limit.as_secs_f64()),
        )
        .into_response(),
    }
}

/// The largest framework rejection text kept as the error's message (axum's are a line or two).
const MAX_REJECTION_TEXT: usize = 4096;

/// Rewrites the framework's own refusals — axum's extractor and path rejections, which answer in
/// plain text — into the API's error body, so a client meets one error format on every route.
/// Answers that already are JSON (every `ApiError`) or are not errors pass untouched; the status
/// is kept and the code follows from it, with the framework's text as the message.
pub async fn json_rejections(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let json = content_type.starts_with("application/json") || content_type.contains("+json");
    if json || !(content_type.is_empty() || content_type.starts_with("text/plain")) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REJECTION_TEXT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(_) => String::new(),
    };
    let code = rejection_code(status, &text);
    let message = if text.is_empty() || status.is_server_error() {
        status.canonical_reason().unwrap_or("the request was refused").to_owned()
    } else {
        text
    };
    let mut rewritten = ApiError::new(status, code, message).into_response();
    // Keep what the original answer said besides its body (Allow, Retry-After, challenges…).
    for (name, value) in &parts.headers {
        if name != axum::http::header::CONTENT_TYPE && name != axum::http::header::CONTENT_LENGTH {
            rewritten.headers_mut().insert(name.clone(), value.clone());
        }
    }
    rewritten
}

/// The stable code of a framework rejection, from its status (and, for a 400, which part of the
/// request axum could not read).
fn rejection_code(status: axum::http::StatusCode, text: &str) -> &'static str {
    use axum::http::StatusCode as S;
    match status {
        S::BAD_REQUEST if text.starts_with("Failed to deserialize query string") => "invalid_query",
        S::BAD_REQUEST if text.starts_with("Invalid URL") || text.contains("path") => "invalid_path",
        S::BAD_REQUEST => "bad_request",
        S::UNAUTHORIZED => "unauthorized",
        S::FORBIDDEN => "forbidden",
        S::NOT_FOUND => "not_found",
        S::METHOD_NOT_ALLOWED => "method_not_allowed",
        S::REQUEST_TIMEOUT => "request_timeout",
        S::LENGTH_REQUIRED => "length_required",
        S::PAYLOAD_TOO_LARGE => "payload_too_large",
        S::URI_TOO_LONG => "uri_too_long",
        S::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        S::UNPROCESSABLE_ENTITY => "invalid_request",
        S::TOO_MANY_REQUESTS => "rate_limited",
        S::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        S::SERVICE_UNAVAILABLE => "unavailable",
        status if status.is_server_error() => "internal_error",
        _ => "bad_request",
    }
}
