//! The HTTP edge: the router, its layers, the error type and extractors. Only this module (and
//! the handlers it mounts) knows about JSON and status codes.

pub mod error;
pub mod extract;
pub mod middleware;
pub mod ops;

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, MatchedPath};
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::{Extension, Router};
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::cors::{AllowOrigin, Any, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::app::AppState;
use error::ApiError;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Every documented route of the API. Routes are registered through `OpenApiRouter`, so a route
/// cannot exist without appearing in `/openapi.json`.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(base_document())
        .merge(ops::router())
        .merge(crate::auth::router())
        .merge(crate::auth::api_key_router())
        .merge(crate::auth::oauth_router())
        .merge(crate::media::router())
        .merge(crate::jobs::routes::router())
        .merge(crate::playback::routes::router())
        .merge(crate::webhooks::router())
}

fn base_document() -> OpenApi {
    use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
    use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApiBuilder, Tag};
    let mut operations = Tag::new("operations");
    operations.description = Some("Health, readiness, metrics and this document".to_owned());
    let mut identity = Tag::new("identity");
    identity.description = Some("Accounts, sign-in, tokens, sessions and roles".to_owned());
    let mut assets = Tag::new("assets");
    assets.description = Some("Assets (an instructor's videos) and resumable tus uploads of their originals".to_owned());
    let mut storage = Tag::new("storage");
    storage.description =
        Some("Presigned-URL endpoints of the local storage backend; their URLs come signed from other responses".to_owned());
    let mut delivery = Tag::new("delivery");
    delivery.description = Some(
        "The local signed origin: objects behind CloudFront-style signed URLs or cookies, which come from playback responses"
            .to_owned(),
    );
    let mut playback = Tag::new("playback");
    playback.description = Some(
        "Playback sessions, grants and access settings, and the per-session manifests under /play".to_owned(),
    );
    let mut webhooks = Tag::new("webhooks");
    webhooks.description = Some("Endpoints that receive signed asset events, and their deliveries".to_owned());
    let mut document = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Lectern")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some("Media ingest and streaming delivery for course video"))
                .build(),
        )
        .tags(Some(vec![operations, identity, assets, playback, webhooks, storage, delivery]))
        // Protected operations name this scheme with `security(("bearer" = []))`.
        .components(Some(
            ComponentsBuilder::new()
                .security_scheme(
                    "bearer",
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .bearer_format("JWT")
                            .description(Some("An access token from /v1/auth/login, /register or /refresh"))
                            .build(),
                    ),
                )
                // Same header, different credential: endpoints that applications may call name
                // both schemes, so clients see which ones accept a key.
                .security_scheme(
                    "api_key",
                    SecurityScheme::Http(
                        HttpBuilder::new()
                            .scheme(HttpAuthScheme::Bearer)
                            .bearer_format("lk_…")
                            .description(Some(
                                "An API key from POST /v1/api-keys, sent as `Authorization: Bearer lk_…`; \
                                 it acts as its owner, limited to its scopes",
                            ))
                            .build(),
                    ),
                )
                // The origin's credentials: a CloudFront-style signature in the query string
                // (with Expires or Policy and Key-Pair-Id beside it), or the same as cookies.
                .security_scheme(
                    "cloudfront_signature",
                    SecurityScheme::ApiKey(ApiKey::Query(ApiKeyValue::with_description(
                        "Signature",
                        "A CloudFront-style signature; Expires or Policy, and Key-Pair-Id travel beside it",
                    ))),
                )
                .security_scheme(
                    "cloudfront_cookies",
                    SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                        "CloudFront-Signature",
                        "The same signature as cookies: CloudFront-Policy or CloudFront-Expires, CloudFront-Signature, CloudFront-Key-Pair-Id",
                    ))),
                )
                .build(),
        ))
        .build();
    document.merge(<crate::storage::local::routes::LocalStorageApi as utoipa::OpenApi>::openapi());
    document.merge(<crate::cdn::origin::CdnOriginApi as utoipa::OpenApi>::openapi());
    document.merge(<crate::media::tus::TusApi as utoipa::OpenApi>::openapi());
    document.merge(<crate::playback::routes::PlayApi as utoipa::OpenApi>::openapi());
    document
}

/// The OpenAPI document alone (for tests and `lectern openapi`).
pub fn openapi_document() -> OpenApi {
    api().into_openapi()
}

/// The whole application router with its layers. `extra` carries routes that live outside the
/// JSON API (the local storage backend's presigned-URL endpoints), which stream large bodies and
/// so get neither the JSON body limit nor the request timeout; the signed origin (`/cdn/…`) is
/// mounted the same way.
pub fn router(state: &AppState, extra: Router) -> Router {
    let (api_router, document) = api().split_for_parts();
    let document_json = serde_json::to_string(&document).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot serialise the OpenAPI document");
        "{}".to_owned()
    });
    let api_router = api_router
        .layer(Extension(Arc::new(ops::OpenApiJson(document_json))))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::request_timeout))
        .layer(DefaultBodyLimit::max(state.http.max_json_body));

    let cors = cors_layer(&state.http.cors_origins);
    Router::new()
        .merge(api_router)
        // tus PATCH bodies are gigabytes streamed to storage: outside the JSON body limit and the
        // request timeout, like the local storage routes.
        .merge(crate::media::tus::routes())
        .with_state(state.clone())
        .merge(extra)
        .merge(crate::cdn::origin::routes(state.clone()))
        // Per-session manifests: checked and rewritten per request, like the origin outside the
        // JSON API's layers.
        .merge(crate::playback::routes::play_routes(state.clone()))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::record_metrics))
        .layer(
            ServiceBuilder::new()
                .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
                .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                    let route = request.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
                    let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok());
                    tracing::info_span!("http", method = %request.method(), route, uri = %request.uri(), request_id)
                }))
                .layer(PropagateRequestIdLayer::new(REQUEST_ID))
                .option_layer(cors)
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
