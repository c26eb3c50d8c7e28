//! The local signed origin: `GET`/`HEAD /cdn/{key…}` verifies a CloudFront-style signature
//! (query parameters or cookies) and only then streams the object from the `ObjectStore`, with
//! ranges, validators, media types, cache headers and CORS that players need.
//!
//! Every refusal is a 403 with a stable code and says nothing about whether the object exists:
//! the signature is verified before storage is touched. A valid signature for a missing object
//! is a 404. Like the local storage backend's `/storage/…` routes, these routes live outside the
//! JSON API: they stream large bodies, so they get neither the JSON body limit nor the request
//! timeout.

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use time::OffsetDateTime;

use crate::app::AppState;
use crate::auth::ClientInfo;
use crate::cdn::{SignedRequest, encoding};
use crate::http::error::ApiError;
use crate::storage::{ByteRange, ObjectKey, ObjectMeta, StorageError, content_type_for};

/// The path prefix of the origin; `{public_url}/cdn` is the default CDN base URL.
pub const PREFIX: &str = "/cdn/";

/// Cache lifetime of immutable objects (segments, init segments, images): a year.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Headers a player's script must be able to read on a cross-origin response.
const EXPOSED: &str = "Content-Range, Content-Length, ETag, Accept-Ranges";

pub fn routes(state: AppState) -> Router {
    Router::new().route("/cdn/{*key}", get(get_object).head(head_object).options(preflight)).with_state(state)
}

/// Streams an object to a viewer holding a CloudFront-style signature.
#[utoipa::path(get, path = "/cdn/{key}", tag = "delivery",
    params(("key" = String, Path, description = "Object key, e.g. assets/{asset_id}/v1/720p/seg_00001.m4s"),
           ("Expires" = Option<i64>, Query, description = "Canned policy: Unix expiry time"),
           ("Policy" = Option<String>, Query, description = "Custom policy: the policy JSON in CloudFront base64"),
           ("Signature" = Option<String>, Query, description = "RSA signature of the policy in CloudFront base64"),
           ("Key-Pair-Id" = Option<String>, Query, description = "Id of the key that signed"),
           ("Hash-Algorithm" = Option<String>, Query, description = "SHA256 when the signature is over SHA-256; SHA-1 otherwise"),
           ("Range" = Option<String>, Header, description = "One byte range, e.g. bytes=0-1023"),
           ("If-None-Match" = Option<String>, Header, description = "ETag(s) the client holds"),
           ("If-Range" = Option<String>, Header, description = "Apply Range only if the ETag still matches")),
    security(("cloudfront_signature" = []), ("cloudfront_cookies" = [])),
    responses((status = OK, description = "The object"),
              (status = PARTIAL_CONTENT, description = "A byte range of the object"),
              (status = NOT_MODIFIED, description = "The client's copy is current"),
              (status = FORBIDDEN, description = "Missing, invalid or expired signature, or a resource, client address or key the signature does not allow", body = crate::http::error::ErrorBody),
              (status = NOT_FOUND, description = "Validly signed, but no such object", body = crate::http::error::ErrorBody),
              (status = RANGE_NOT_SATISFIABLE, description = "The range selects nothing; Content-Range says the size", body = crate::http::error::ErrorBody)))]
async fn get_object(State(state): State<AppState>, client: ClientInfo, uri: Uri, headers: HeaderMap) -> Response {
    let response = serve(&state, &client, &uri, &headers, &Method::GET).await;
    with_cors(response.unwrap_or_else(IntoResponse::into_response), &state, &headers)
}

/// The headers `GET` would answer with, without the body.
#[utoipa::path(head, path = "/cdn/{key}", tag = "delivery",
    params(("key" = String, Path, description = "Object key")),
    security(("cloudfront_signature" = []), ("cloudfront_cookies" = [])),
    responses((status = OK, description = "The object's headers"),
              (status = NOT_MODIFIED, description = "The client's copy is current"),
              (status = FORBIDDEN, description = "Refused signature"),
              (status = NOT_FOUND, description = "Validly signed, but no such object")))]
async fn head_object(State(state): State<AppState>, client: ClientInfo, uri: Uri, headers: HeaderMap) -> Response {
    let response = serve(&state, &client, &uri, &headers, &Method::HEAD).await;
    with_cors(response.unwrap_or_else(IntoResponse::into_response), &state, &headers)
}

/// CORS preflight. It carries no credentials (browsers never send cookies or our query string
/// with it), so it is answered without a signature.
async fn preflight(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let response_headers = response.headers_mut();
    response_headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static("GET, HEAD, OPTIONS"));
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .cloned()
        .unwrap_or_else(|| HeaderValue::from_static("Range, If-None-Match, If-Range"));
    response_headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, requested);
    response_headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("86400"));
    with_cors(response, &state, &headers)
}

async fn serve(
    state: &AppState,
    client: &ClientInfo,
    uri: &Uri,
    headers: &HeaderMap,
    method: &Method,
) -> Result<Response, ApiError> {
    // 1. Verify, before anything touches storage.
    let raw_key = uri.path().strip_prefix(PREFIX).unwrap_or_default();
    let base = &state.cdn.settings.base_url;
    let url = match uri.query() {
        Some(query) => format!("{base}/{raw_key}?{query}"),
        None => format!("{base}/{raw_key}"),
    };
    let cookies = headers.get_all(header::COOKIE).iter().filter_map(|value| value.to_str().ok());
    let request = SignedRequest::from_url_and_cookies(&url, cookies);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    if let Err(error) = state.cdn.verifier.verify(&request, client.ip, now) {
        tracing::debug!(code = error.error_code(), ip = %client.ip, url = request.url(), "refused a CDN request");
        return Err(error.into());
    }

    // 2. Only a validly signed request learns whether the object exists.
    let not_found = || ApiError::not_found("no such object");
    let key = encoding::decode_path(raw_key).ok_or_else(not_found)?;
    let key = ObjectKey::parse(key).map_err(|_| not_found())?;
    let storage = &state.storage;

    let if_none_match = header_text(headers, header::IF_NONE_MATCH);
    let if_range = header_text(headers, header::IF_RANGE);
    let known = if *method == Method::HEAD || if_none_match.is_some() || if_range.is_some() {
        Some(storage.head(&key).await?.ok_or_else(not_found)?)
    } else {
        None
    };
    if let (Some(meta), Some(tags)) = (&known, if_none_match)
        && etag_matches(tags, &meta.etag)
    {
        let response = Response::builder().status(StatusCode::NOT_MODIFIED);
        return finish(object_headers(response, state, &key, meta), Body::empty());
    }
    if *method == Method::HEAD {
        let meta = known.ok_or_else(not_found)?;
        let response = Response::builder().status(StatusCode::OK).header(header::CONTENT_LENGTH, meta.size);
        return finish(object_headers(response, state, &key, &meta), Body::empty());
    }

    let mut range = header_text(headers, header::RANGE).and_then(ByteRange::parse_header);
    if let (Some(meta), Some(validator)) = (&known, if_range)
        && !if_range_holds(validator, meta)
    {
        // The client's partial copy is stale: send the whole object instead of a piece.
        range = None;
    }
    let body = match storage.get(&key, range).await {
        Ok(body) => body,
        Err(StorageError::RangeNotSatisfiable) => {
            let size = match known {
                Some(meta) => meta.size,
                None => storage.head(&key).await?.map_or(0, |meta| meta.size),
            };
            let mut response = ApiError::from(StorageError::RangeNotSatisfiable).into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{size}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            response.headers_mut().insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return Ok(response);
        }
        Err(StorageError::NotFound) => return Err(not_found()),
        Err(other) => return Err(other.into()),
    };
    let meta = &body.meta;
    let mut response = match body.range {
        Some((first, last)) => Response::builder()
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_LENGTH, last - first + 1)
            .header(header::CONTENT_RANGE, format!("bytes {first}-{last}/{}", meta.size)),
        None => Response::builder().status(StatusCode::OK).header(header::CONTENT_LENGTH, meta.size),
    };
    response = object_headers(response, state, &key, meta);
    finish(response, Body::from_stream(body.stream))
}

fn finish(builder: axum::http::response::Builder, body: Body) -> Result<Response, ApiError> {
    builder.body(body).map_err(|error| ApiError::internal(&error))
}

/// Validators, media type and caching, the same for 200, 206, 304 and HEAD.
fn object_headers(
    mut response: axum::http::response::Builder,
    state: &AppState,
    key: &ObjectKey,
    meta: &ObjectMeta,
) -> axum::http::response::Builder {
    let derived = content_type_for(key);
    let content_type = match (derived, meta.content_type.as_deref()) {
        ("application/octet-stream", Some(stored)) => stored,
        (derived, _) => derived,
    };
    response = response
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, cache_control(key, state.cdn.settings.manifest_max_age));
    if let Ok(etag) = HeaderValue::from_str(&meta.etag) {
        response = response.header(header::ETAG, etag);
    }
    if let Some(modified) = meta.last_modified.and_then(http_date) {
        response = response.header(header::LAST_MODIFIED, modified);
    }
    response
}

/// Segments, init segments, images and text tracks live under a versioned path and never
/// change; manifests (and anything unknown) are cached briefly.
fn cache_control(key: &ObjectKey, manifest_max_age: std::time::Duration) -> String {
    let extension = key.file_name().rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    match extension.as_str() {
        "m4s" | "mp4" | "m4a" | "jpg" | "jpeg" | "webp" | "vtt" => IMMUTABLE.to_owned(),
        _ => format!("public, max-age={}", manifest_max_age.as_secs()),
    }
}

/// `Access-Control-Allow-Origin` from the configured origins, or `*` when none are configured:
/// media is fetched by players embedded anywhere, and the signature is the access control.
pub(crate) fn with_cors(mut response: Response, state: &AppState, request_headers: &HeaderMap) -> Response {
    let origins = &state.http.cors_origins;
    let allow = if origins.is_empty() || origins.iter().any(|o| o == "*") {
        Some(HeaderValue::from_static("*"))
    } else {
        request_headers
            .get(header::ORIGIN)
            .filter(|origin| origins.iter().any(|allowed| allowed.as_bytes() == origin.as_bytes()))
            .cloned()
    };
    let headers = response.headers_mut();
    if let Some(allow) = allow {
        if allow != "*" {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow);
        headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSED));
    }
    response
}

fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// `If-None-Match`: `*` or a list of tags, compared weakly (a `W/` prefix is ignored).
fn etag_matches(list: &str, etag: &str) -> bool {
    let strip = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    list.trim() == "*" || list.split(',').any(|tag| strip(tag) == strip(etag))
}

/// `If-Range` holds when it is the current (strong) ETag or the exact `Last-Modified` date.
fn if_range_holds(validator: &str, meta: &ObjectMeta) -> bool {
    let validator = validator.trim();
    if validator.starts_with('"') {
        return validator == meta.etag;
    }
    meta.last_modified.and_then(http_date).is_some_and(|date| date == validator)
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn http_date(moment: OffsetDateTime) -> Option<String> {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    moment.to_offset(time::UtcOffset::UTC).format(format).ok()
}

/// The OpenAPI description of the origin. It is not part of the JSON API (viewers get its URLs
/// signed, from playback responses), but it exists, so it is documented.
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_object, head_object))]
pub struct CdnOriginApi;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn etags_match_weakly_and_by_list() {
        assert!(etag_matches("\"abc\"", "\"abc\""));
        assert!(etag_matches("W/\"abc\", \"def\"", "\"abc\""));
        assert!(etag_matches("*", "\"abc\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
    }

    #[test]
    fn segments_are_immutable_and_manifests_short_lived() {
        let ten = std::time::Duration::from_secs(10);
        let key = |k: &str| ObjectKey::parse(k).expect("valid key");
        assert_eq!(cache_control(&key("a/v1/720p/seg_00001.m4s"), ten), IMMUTABLE);
        assert_eq!(cache_control(&key("a/v1/poster.JPG"), ten), IMMUTABLE);
        assert_eq!(cache_control(&key("a/v1/master.m3u8"), ten), "public, max-age=10");
        assert_eq!(cache_control(&key("a/v1/manifest.mpd"), ten), "public, max-age=10");
    }

    #[test]
    fn http_dates_are_imf_fixdates() {
        let moment = OffsetDateTime::from_unix_timestamp(784_111_777).expect("valid");
        assert_eq!(http_date(moment).as_deref(), Some("Sun, 06 Nov 1994 08:49:37 GMT"));
    }
}
