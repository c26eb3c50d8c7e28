//! The HTTP side of the local storage backend's presigned URLs: GET streams an object (with ranges),
//! PUT streams a body into an object or a multipart part. Every request is refused with 403
//! unless its signature verifies and has not expired.
//!
//! A PUT is an upload like a tus PATCH and is held to the same bounds: it takes one of the
//! upload slots (`media::slots`, counted against the owner of the asset the key belongs to)
//! before a byte of its body is read, or is answered `429 too_many_uploads`; and its body ends
//! once it has sent nothing for `LECTERN_UPLOAD_IDLE_TIMEOUT` (`400 body_read_failed`, nothing
//! stored, and a part URL stays usable for another try).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use futures::StreamExt;

use sqlx::PgPool;

use crate::http::body::{BodyError, idle_timeout};
use crate::http::error::ApiError;
use crate::media::{UploadSettings, UploadSlot, UploadSlots};
use crate::storage::LocalStore;
use crate::storage::local::presign::{Grant, SignatureError, SignedQuery};
use crate::storage::{BodyStream, ByteRange, MultipartId, ObjectKey, ObjectStore, PutOptions, StorageError};

/// What bounds the PUTs: the upload slots they take, how long a body may send nothing, and the
/// database that says whose asset a key belongs to (without one, every PUT counts against one
/// account).
#[derive(Clone)]
pub struct UploadBounds {
    pub slots: Arc<UploadSlots>,
    pub idle_timeout: Duration,
    pub pool: Option<PgPool>,
}

impl UploadBounds {
    /// The bounds of `settings` with slots of their own (a store served without the application).
    pub fn standalone(settings: &UploadSettings) -> Self {
        Self {
            slots: UploadSlots::new(settings.max_concurrent, settings.max_concurrent_per_account),
            idle_timeout: settings.body_idle_timeout,
            pool: None,
        }
    }

    /// An upload slot for a PUT into `key`, taken before its body is read: counted against the
    /// owner of the key's asset; keys of no asset share the nil account's allowance.
    async fn slot(&self, key: &ObjectKey) -> Result<UploadSlot, ApiError> {
        let uploader = match &self.pool {
            Some(pool) => crate::media::uploader_of_key(pool, key).await?,
            None => None,
        };
        Ok(self.slots.acquire(uploader.unwrap_or(uuid::Uuid::nil()))?)
    }
}

#[derive(Clone)]
struct Routes {
    store: Arc<LocalStore>,
    bounds: UploadBounds,
}

/// The routes presigned URLs point at; mount them at the root of `public_url`.
pub fn routes(store: Arc<LocalStore>, bounds: UploadBounds) -> Router {
    Router::new()
        .route("/storage/objects/{*key}", get(get_object).put(put_object))
        .route("/storage/uploads/{upload_id}/{part_number}", put(put_part))
        // Bodies are streamed to disk, never buffered, so the default 2 MB cap only gets in
        // the way of large uploads.
        .layer(DefaultBodyLimit::disable())
        .with_state(Routes { store, bounds })
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
    State(Routes { store, .. }): State<Routes>,
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
              (status = BAD_REQUEST, description = "`body_read_failed`: the body broke off or sent nothing for the upload idle timeout; nothing was stored", body = crate::http::error::ErrorBody),
              (status = FORBIDDEN, description = "Invalid or expired signature", body = crate::http::error::ErrorBody),
              (status = TOO_MANY_REQUESTS, description = "`too_many_uploads`: the account or the server has as many uploads sending as it takes; retry after `Retry-After`", body = crate::http::error::ErrorBody)))]
async fn put_object(
    State(Routes { store, bounds }): State<Routes>,
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
        let _slot = bounds.slot(&key).await?;
        let options = PutOptions {
            content_type: Some(content_type.to_owned()).filter(|value| !value.is_empty()),
            cache_control: None,
        };
        let fault = Arc::new(OnceLock::new());
        let body = client_body(body, bounds.idle_timeout, None, Arc::clone(&fault));
        match store.put(&key, body, options).await {
            Ok(meta) => Ok::<_, ApiError>(etag_response(&meta.etag)),
            Err(error) => Err(fault.get().map_or_else(|| error.into(), ClientFault::answer)),
        }
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
              (status = BAD_REQUEST, description = "`body_read_failed`: the body broke off or sent nothing for the upload idle timeout; the part was not stored and the URL may be used again", body = crate::http::error::ErrorBody),
              (status = FORBIDDEN, description = "`invalid_signature`, `signature_expired`, or `signature_used`: a part URL is good for one successful upload", body = crate::http::error::ErrorBody),
              (status = PAYLOAD_TOO_LARGE, description = "`part_too_large`: more bytes than the URL's `max_size`", body = crate::http::error::ErrorBody),
              (status = TOO_MANY_REQUESTS, description = "`too_many_uploads`: the account or the server has as many uploads sending as it takes; retry after `Retry-After`", body = crate::http::error::ErrorBody)))]
async fn put_part(
    State(Routes { store, bounds }): State<Routes>,
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
        let _slot = bounds.slot(&key).await?;
        let upload = MultipartId(upload_id);
        if !store.claim_part_url(&key, &upload, &query.signature).await? {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "signature_used",
                "this presigned part URL was already used; ask for a new one",
            ));
        }
        let fault = Arc::new(OnceLock::new());
        let body = client_body(body, bounds.idle_timeout, Some(max_size), Arc::clone(&fault));
        match store.upload_part_stream(&key, &upload, part_number, body).await {
            Ok(part) => Ok::<_, ApiError>(etag_response(&part.etag)),
            Err(error) => {
                // The part was not stored: the same URL may be tried again.
                store.release_part_url(&key, &upload, &query.signature).await;
                Err(fault.get().map_or_else(|| error.into(), ClientFault::answer))
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

/// What the client did wrong with its body; the store sees only an I/O error, the answer says
/// which.
enum ClientFault {
    TooLarge(u64),
    Body(BodyError),
}

impl ClientFault {
    fn answer(&self) -> ApiError {
        match self {
            Self::TooLarge(max_size) => part_too_large(*max_size),
            Self::Body(error) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "body_read_failed",
                format!("the upload body could not be read: {error}; nothing was stored"),
            ),
        }
    }
}

/// The body as the store reads it: ended once it sends nothing for `idle`, and (with a
/// `max_size`) failing once more bytes than that arrived, so a part is never written past its
/// size whatever `Content-Length` claimed. Either fault is recorded in `fault` for the answer.
fn client_body(body: Body, idle: Duration, max_size: Option<u64>, fault: Arc<OnceLock<ClientFault>>) -> BodyStream {
    let mut received = 0u64;
    Box::pin(idle_timeout(body.into_data_stream(), idle).then(move |chunk| {
        let result = match chunk {
            Ok(chunk) => {
                received = received.saturating_add(chunk.len() as u64);
                match max_size {
                    Some(max_size) if received > max_size => {
                        let _ = fault.set(ClientFault::TooLarge(max_size));
                        Err(std::io::Error::other("the part is larger than its URL allows"))
                    }
                    _ => Ok(chunk),
                }
            }
            Err(error) => {
                let io_error = std::io::Error::other(error.to_string());
                let _ = fault.set(ClientFault::Body(error));
                Err(io_error)
            }
        };
        futures::future::ready(result)
    }))
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
