//! The HTTP side of the local backend's presigned URLs: GET streams an object (with ranges),
//! PUT streams a body into an object or a multipart part. Every request is refused with 403
//! unless its signature verifies and has not expired.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use futures::TryStreamExt;

use super::LocalStore;
use super::presign::{Grant, SignatureError, SignedQuery};
use crate::storage::{
    BodyStream, ByteRange, MultipartId, ObjectKey, ObjectStore, PutOptions, StorageError,
};

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

async fn get_object(
    State(store): State<Arc<LocalStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let result = async {
        let query = SignedQuery::parse(query.as_deref())?;
        store.verify(
            &Grant::Object {
                method: "GET",
                key: &key,
                content_type: "",
            },
            &query,
        )?;
        let key = ObjectKey::parse(key)?;
        let range = headers
            .get(header::RANGE)
            .and_then(|value| value.to_str().ok())
            .and_then(ByteRange::parse_header);
        let body = match store.get(&key, range).await {
            Err(StorageError::RangeNotSatisfiable) => {
                let size = store.head(&key).await?.map_or(0, |meta| meta.size);
                let mut response =
                    HttpError::from(StorageError::RangeNotSatisfiable).into_response();
                response.headers_mut().insert(
                    header::CONTENT_RANGE,
                    header_value(&format!("bytes */{size}")),
                );
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
                header_value(
                    meta.content_type
                        .as_deref()
                        .unwrap_or("application/octet-stream"),
                ),
            );
        if let Some((first, last)) = body.range {
            response = response.header(
                header::CONTENT_RANGE,
                format!("bytes {first}-{last}/{}", meta.size),
            );
        }
        response
            .body(Body::from_stream(body.stream))
            .map_err(|error| HttpError::internal(&error))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn put_object(
    State(store): State<Arc<LocalStore>>,
    Path(key): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let result = async {
        let query = SignedQuery::parse(query.as_deref())?;
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .unwrap_or("");
        store.verify(
            &Grant::Object {
                method: "PUT",
                key: &key,
                content_type,
            },
            &query,
        )?;
        let key = ObjectKey::parse(key)?;
        let options = PutOptions {
            content_type: Some(content_type.to_owned()).filter(|value| !value.is_empty()),
            cache_control: None,
        };
        let meta = store.put(&key, body_stream(body), options).await?;
        Ok::<_, HttpError>(etag_response(&meta.etag))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn put_part(
    State(store): State<Arc<LocalStore>>,
    Path((upload_id, part_number)): Path<(String, u32)>,
    RawQuery(query): RawQuery,
    body: Body,
) -> Response {
    let result = async {
        let query = SignedQuery::parse(query.as_deref())?;
        let key = query.key.clone().ok_or(SignatureError::Invalid)?;
        store.verify(
            &Grant::Part {
                key: &key,
                upload_id: &upload_id,
                part_number,
            },
            &query,
        )?;
        let key = ObjectKey::parse(key)?;
        let part = store
            .upload_part_stream(
                &key,
                &MultipartId(upload_id),
                part_number,
                body_stream(body),
            )
            .await?;
        Ok::<_, HttpError>(etag_response(&part.etag))
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
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

/// The `{"error": {"code", "message"}}` body the rest of the API uses.
struct HttpError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl HttpError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    fn invalid_signature() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_signature",
            "the presigned URL signature is missing or does not match",
        )
    }

    fn internal(error: &dyn std::error::Error) -> Self {
        tracing::error!(error = %error_chain(error), "local storage route failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "storage_unavailable",
            "storage is unavailable",
        )
    }
}

impl From<StorageError> for HttpError {
    fn from(error: StorageError) -> Self {
        let status = match &error {
            StorageError::NotFound | StorageError::UploadNotFound => StatusCode::NOT_FOUND,
            StorageError::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            StorageError::InvalidKey { .. } | StorageError::InvalidMultipart(_) => {
                StatusCode::BAD_REQUEST
            }
            StorageError::Io { .. } | StorageError::Backend { .. } => {
                return Self::internal(&error);
            }
        };
        Self::new(status, error.error_code(), error.to_string())
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "code": self.code, "message": self.message } });
        (self.status, axum::Json(body)).into_response()
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

impl From<SignatureError> for HttpError {
    fn from(error: SignatureError) -> Self {
        match error {
            SignatureError::Invalid => Self::invalid_signature(),
            SignatureError::Expired => Self::new(
                StatusCode::FORBIDDEN,
                "expired_signature",
                "the presigned URL has expired",
            ),
        }
    }
}
