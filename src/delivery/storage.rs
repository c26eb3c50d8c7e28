//! The HTTP side of the local storage backend's presigned URLs: GET streams an object (with ranges),
//! PUT streams a body into an object or a multipart part. Every request is refused with 403
//! unless its signature verifies and has not expired.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use futures::TryStreamExt;

use crate::http::error::ApiError;
use crate::storage::LocalStore;
use crate::storage::local::presign::{Grant, SignatureError, SignedQuery};
use crate::storage::{BodyStream, ByteRange, MultipartId, ObjectKey, ObjectStore, PutOptions, StorageError};

/// The routes presigned URLs point at; mount them at the root of `public_url`.
pub fn routes(store: Arc<LocalStore>) -> Router {
    Router::new()
        .route("/storage/objects/{*key}", get(get_object).put(put_object))
        .route("/storage/uploads/{upload_id}/{part_number}", put(put_part))
        // Bodies are streamed to disk, never buffered, so the default 2 MB cap only gets in
        // the way of large uploads.
        .layer(DefaultBodyLimit::disable())
        .with_state(store)
}

/// Downloads an object through a presigned GET URL (local storage backend only).
#[utoipa::path(get, path = "/storage/objects/{key}", tag = "storage",
    params(("key" = String, Path, description = "Object key"),
           ("expires" = u64, Query, description = "Unix expiry time"),
           ("signature" = String, Query, description = "HMAC-SHA256 signature")),
    responses((status = OK, description = "The object"), (status = PARTIAL_CONTENT, description = "A byte range"),
              (status = FORBIDDEN, description = "Invalid or expired signature", body = crate::http::error::ErrorBody),
              (status = RANGE_NOT_SATISFIABLE, description = "Range outside the object", body = crate::http::error::ErrorBody)))]
async fn get_object(
    State(store): State<Arc<LocalStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let query = SignedQuery::parse(query.as_deref())?;
        store.verify(&Grant::Object { method: "GET", key: &key, content_type: "" }, &query)?;
        let key = ObjectKey::parse(key)?;
        let range = headers.get(header::RANGE).and_then(|value| value.to_str().ok()).and_then(ByteRange::parse_header);
        let body = match store.get(&key, range).await {
            Err(StorageError::RangeNotSatisfiable) => {
                let size = store.head(&key).await?.map_or(0, |meta| meta.size);
                let mut response = ApiError::from(StorageError::RangeNotSatisfiable).into_response();
                response.headers_mut().insert(header::CONTENT_RANGE, header_value(&format!("bytes */{size}")));
                return Ok(response);
            }
            other => other?,
        };
        let meta = &body.meta;
        let (status, length) = match body.range {
            Some((first, last)) => (StatusCode::PARTIAL_CONTENT, last - first + 1),
            None => (StatusCode::OK, meta.size),
        };
        let mut response = Response::builder()
            .status(status)
            .header(header::CONTENT_LENGTH, length)
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::ETAG, header_value(&meta.etag))
            .header(
                header::CONTENT_TYPE,
                header_value(meta.content_type.as_deref().unwrap_or("application/octet-stream")),
            );
        if let Some((first, last)) = body.range {
            response = response.header(header::CONTENT_RANGE, format!("bytes {first}-{last}/{}", meta.size));
        }
        response.body(Body::from_stream(body.stream)).map_err(|error| ApiError::internal(&error))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Uploads an object through a presigned PUT URL (local storage backend only). The
/// `Content-Type` must be the one the URL was signed for.
#[utoipa::path(put, path = "/storage/objects/{key}", tag = "storage",
    params(("key" = String, Path, description = "Object key"),
           ("expires" = u64, Query, description = "Unix expiry time"),
           ("signature" = String, Query, description = "HMAC-SHA256 signature")),
    responses((status = OK, description = "Stored; the ETag header identifies the content"),
              (status = FORBIDDEN, description = "Invalid or expired signature", body = crate::http::error::ErrorBody)))]
async fn put_object(
    State(store): State<Arc<LocalStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let query = SignedQuery::parse(query.as_deref())?;
        let content_type = headers.get(header::CONTENT_TYPE).and_then(|value| value.to_str().ok()).unwrap_or("");
        store.verify(&Grant::Object { method: "PUT", key: &key, content_type }, &query)?;
        let key = ObjectKey::parse(key)?;
        let options = PutOptions {
            content_type: Some(content_type.to_owned()).filter(|value| !value.is_empty()),
            cache_control: None,
        };
        let meta = store.put(&key, body_stream(body), options).await?;
        Ok::<_, ApiError>(etag_response(&meta.etag))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// Uploads one part of a multipart upload through a presigned URL (local storage backend only).
#[utoipa::path(put, path = "/storage/uploads/{upload_id}/{part_number}", tag = "storage",
    params(("upload_id" = String, Path, description = "Multipart upload id"),
           ("part_number" = u32, Path, description = "1-based part number"),
           ("key" = String, Query, description = "Object key of the upload"),
           ("max_size" = u64, Query, description = "The most bytes the part may carry (signed)"),
           ("expires" = u64, Query, description = "Unix expiry time"),
           ("signature" = String, Query, description = "HMAC-SHA256 signature")),
    responses((status = OK, description = "Stored; the ETag header identifies the part"),
              (status = FORBIDDEN, description = "`invalid_signature`, `signature_expired`, or `signature_used`: a part URL is good for one successful upload", body = crate::http::error::ErrorBody),
              (status = PAYLOAD_TOO_LARGE, description = "`part_too_large`: more bytes than the URL's `max_size`", body = crate::http::error::ErrorBody)))]
async fn put_part(
    State(store): State<Arc<LocalStore>>,
    Path((upload_id, part_number)): Path<(String, u32)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let query = SignedQuery::parse(query.as_deref())?;
        let key = query.key.clone().ok_or(SignatureError::Invalid)?;
        let max_size = query.max_size.ok_or(SignatureError::Invalid)?;
        store.verify(&Grant::Part { key: &key, upload_id: &upload_id, part_number, max_size }, &query)?;
        let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
        if declared.is_some_and(|length: u64| length > max_size) {
            return Err(part_too_large(max_size));
        }
        let key = ObjectKey::parse(key)?;
        let upload = MultipartId(upload_id);
        if !store.claim_part_url(&key, &upload, &query.signature).await? {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "signature_used",
                "this presigned part URL was already used; ask for a new one",
            ));
        }
        let exceeded = Arc::new(AtomicBool::new(false));
        let body = limited_stream(body, max_size, Arc::clone(&exceeded));
        match store.upload_part_stream(&key, &upload, part_number, body).await {
            Ok(part) => Ok::<_, ApiError>(etag_response(&part.etag)),
            Err(error) => {
                // The part was not stored: the same URL may be tried again.
                store.release_part_url(&key, &upload, &query.signature).await;
                if exceeded.load(Ordering::Relaxed) { Err(part_too_large(max_size)) } else { Err(error.into()) }
            }
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

fn part_too_large(max_size: u64) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "part_too_large",
        format!("this part URL accepts at most {max_size} bytes"),
    )
}

/// The body, failing once more than `max_size` bytes arrived (and saying so in `exceeded`), so
/// a part is never written past its size whatever `Content-Length` claimed.
fn limited_stream(body: Body, max_size: u64, exceeded: Arc<AtomicBool>) -> BodyStream {
    let mut received = 0u64;
    Box::pin(body.into_data_stream().map_err(std::io::Error::other).and_then(move |chunk| {
        received = received.saturating_add(chunk.len() as u64);
        let over = received > max_size;
        if over {
            exceeded.store(true, Ordering::Relaxed);
        }
        futures::future::ready(if over {
            Err(std::io::Error::other("the part is larger than its URL allows"))
        } else {
            Ok(chunk)
        })
    }))
}

fn body_stream(body: Body) -> BodyStream {
    Box::pin(body.into_data_stream().map_err(std::io::Error::other))
}

/// S3 answers uploads with the ETag in a header; browser uploaders read it from there (the
/// CORS layer must expose `ETag`).
fn etag_response(etag: &str) -> Response {
    (StatusCode::OK, [(header::ETAG, header_value(etag))]).into_response()
}

fn header_value(value: &str) -> HeaderValue {
    // Every value passed here (ETags, media types) is ASCII we produced or already accepted.
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

impl From<SignatureError> for ApiError {
    fn from(error: SignatureError) -> Self {
        match error {
            SignatureError::Invalid => Self::new(
                StatusCode::FORBIDDEN,
                "invalid_signature",
                "the presigned URL signature is missing or does not match",
            ),
            SignatureError::Expired => {
                Self::new(StatusCode::FORBIDDEN, "expired_signature", "the presigned URL has expired")
            }
        }
    }
}

/// The OpenAPI description of these routes. They are not part of the JSON API (clients get
/// their URLs from other responses, signed), but they exist, so they are documented.
#[derive(utoipa::OpenApi)]
#[openapi(paths(get_object, put_object, put_part))]
pub struct LocalStorageApi;
