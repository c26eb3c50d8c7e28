//! Extractors whose rejections speak the API's error format instead of axum's plain text.

use axum::extract::rejection::{JsonRejection, RawPathParamsRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use uuid::Uuid;

use super::error::ApiError;
use crate::ids::PathId;

/// Like `axum::Json`, but a malformed, mistyped or oversized body is answered with
/// `invalid_json`, `unsupported_media_type` or `payload_too_large` in the usual error body.
pub struct Json<T>(pub T);

impl<S, T> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    "send the body as JSON with Content-Type: application/json",
                ),
                JsonRejection::BytesRejection(bytes) if bytes.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", "the request body is too large")
                }
                other => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_json", other.body_text()),
            }),
        }
    }
}

/// The typed id of the route's `{T::PARAM}` parameter. A malformed one (not a UUID, or not UTF-8
/// once percent-decoded) is refused with the id's own `404`, the answer for a missing row, so ids
/// cannot be probed.
///
/// Every [`PathId`] is an extractor through this: a handler takes `asset_id: AssetId`. Ids are
/// found by name, so a route with two (`/v1/assets/{asset_id}/grants/{account_id}`) takes one
/// extractor per id, refused in the handler's argument order. A handler that must answer a
/// malformed id itself (its own headers on every answer, or another check first) takes
/// `Result<AssetId, ApiError>` and uses `?` where it used to parse.
pub async fn path_id<T: PathId>(parts: &mut Parts) -> Result<T, ApiError> {
    let not_found = || ApiError::new(StatusCode::NOT_FOUND, T::NOT_FOUND.0, T::NOT_FOUND.1);
    let params = match RawPathParams::from_request_parts(parts, &()).await {
        Ok(params) => params,
        Err(RawPathParamsRejection::InvalidUtf8InPathParam(_)) => return Err(not_found()),
        Err(other) => return Err(ApiError::internal(&other)),
    };
    let Some((_, raw)) = params.iter().find(|(name, _)| *name == T::PARAM) else {
        let missing = std::io::Error::other(format!("the route has no path parameter {{{}}}", T::PARAM));
        return Err(ApiError::internal(&missing));
    };
    Uuid::parse_str(raw).map(T::from_uuid).map_err(|_| not_found())
}

/// Makes each id an extractor (a blanket impl over `PathId` is not allowed for a foreign trait).
macro_rules! path_id_extractors {
    ($($id:ident),* $(,)?) => {$(
        impl<S: Send + Sync> FromRequestParts<S> for crate::ids::$id {
            type Rejection = ApiError;

            async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
                path_id(parts).await
            }
        }
    )*};
}

path_id_extractors!(
    AssetId,
    AccountId,
    AuthSessionId,
    ApiKeyId,
    IdentityId,
    UploadId,
    PlaybackSessionId,
    WebhookId,
    WebhookDeliveryId,
    CourseId,
    SectionId,
    LessonId,
    EnrollmentId,
    CertificateId,
    ProductId,
    OrderId,
    LtiPlatformId,
    // payments (second part)
    PriceId,
    CouponId,
    EntitlementId,
    SubscriptionId,
);

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    use super::*;
    use crate::ids::{AccountId, AssetId, PlaybackSessionId};

    async fn both(asset_id: AssetId, account_id: AccountId) -> String {
        format!("{asset_id} {account_id}")
    }

    async fn answer(uri: &str) -> (StatusCode, String) {
        let router = Router::new().route("/a/{asset_id}/g/{account_id}", get(both)).route(
            "/p/{session_id}",
            get(|id: Result<PlaybackSessionId, ApiError>| async move { id.map(|id| id.to_string()) }),
        );
        let request = Request::get(uri).body(Body::empty()).expect("request");
        let response = router.oneshot(request).await.expect("infallible");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("body");
        (status, String::from_utf8(body.to_vec()).expect("utf-8"))
    }

    fn error(code: &str, message: &str) -> String {
        serde_json::json!({"error": {"code": code, "message": message}}).to_string()
    }

    #[tokio::test]
    async fn ids_are_read_by_name_and_malformed_ones_are_the_missing_rows_404() {
        let (asset, account) = (Uuid::new_v4(), Uuid::new_v4());
        assert_eq!(answer(&format!("/a/{asset}/g/{account}")).await, (StatusCode::OK, format!("{asset} {account}")));
        let not_found = StatusCode::NOT_FOUND;
        assert_eq!(answer(&format!("/a/nope/g/{account}")).await, (not_found, error("not_found", "no such asset")));
        assert_eq!(answer(&format!("/a/{asset}/g/nope")).await, (not_found, error("not_found", "no such account")));
        // Refused in argument order.
        assert_eq!(answer("/a/nope/g/nope").await, (not_found, error("not_found", "no such asset")));
        assert_eq!(answer(&format!("/a/%FF/g/{account}")).await, (not_found, error("not_found", "no such asset")));
        let session = "playback_session_not_found";
        assert_eq!(answer("/p/x").await, (not_found, error(session, "no such playback session")));
    }
}
