//! The whole router: every domain's routes, the OpenAPI document, and the layers of
//! `crate::http` around them. With `jobs.rs` and `services.rs`, the only place that names every
//! domain.

use std::sync::Arc;

use axum::{Extension, Router};
use utoipa::openapi::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use super::AppState;

/// Every documented route of the API. Routes are registered through `OpenApiRouter`, so a route
/// cannot exist without appearing in `/openapi.json`. Its document holds the API's own routes;
/// [`complete_document`] adds the shared refusals and the routes mounted beside the API.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(base_document())
        .merge(super::ops::router())
        .merge(crate::auth::router())
        .merge(crate::media::router())
        .merge(crate::playback::router())
        .merge(crate::webhooks::router())
        .merge(crate::training::router())
        .merge(crate::training::certificates::router())
        .merge(crate::payments::router())
        .merge(crate::lti::router())
}

fn base_document() -> OpenApi {
    use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
    use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApiBuilder, Tag};
    let mut operations = Tag::new("operations");
    operations.description = Some("Health, readiness, metrics and this document".to_owned());
    let mut identity = Tag::new("identity");
    identity.description = Some("Accounts, sign-in, tokens, sessions and roles".to_owned());
    let mut assets = Tag::new("assets");
    assets.description =
        Some("Assets (an instructor's videos) and resumable tus uploads of their originals".to_owned());
    let mut storage = Tag::new("storage");
    storage.description = Some(
        "Presigned-URL endpoints of the local storage backend; their URLs come signed from other responses".to_owned(),
    );
    let mut delivery = Tag::new("delivery");
    delivery.description = Some(
        "The local signed origin: objects behind CloudFront-style signed URLs or cookies, which come from playback responses"
            .to_owned(),
    );
    let mut playback = Tag::new("playback");
    playback.description =
        Some("Playback sessions, grants and access settings, and the per-session manifests under /play".to_owned());
    let mut training = Tag::new("training");
    training.description = Some(
        "Courses, sections and lessons, enrolments, watch progress reported from players, resume points and reports"
            .to_owned(),
    );
    let mut graphql = Tag::new("graphql");
    graphql.description = Some(
        "A read-only GraphQL endpoint for apps: a course outline with the learner's progress and resume point, the \
         dashboard, the catalogue and an instructor's courses in one round trip; its schema is GraphQL's own \
         (introspection, or the README)"
            .to_owned(),
    );
    let mut payments = Tag::new("payments");
    payments.description = Some(
        "Products, prices and coupons; checkout through Stripe; orders, refunds, disputes and subscriptions, and the \
         entitlements that open courses"
            .to_owned(),
    );
    let mut webhooks = Tag::new("webhooks");
    webhooks.description =
        Some("Endpoints that receive signed events (assets, enrolments), and their deliveries".to_owned());
    let mut lti = Tag::new("lti");
    lti.description = Some(
        "LTI 1.3 tool for LMS platforms (Moodle, Canvas, Open edX): platform registration, OIDC login and launch, \
         deep linking, the tool's keys"
            .to_owned(),
    );
    let mut certificates = Tag::new("certificates");
    certificates.description = Some(
        "Course-completion certificates: the signed record (public to whoever holds its id), its PDF, and the keys that verify it"
            .to_owned(),
    );
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("Lectern")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Media ingest and streaming delivery for course video. This document describes the REST API; \
                     apps that want a course outline with progress in one round trip can also ask the read-only \
                     GraphQL endpoint, `POST /graphql` (same credentials and error codes, its schema through \
                     introspection).",
                ))
                .build(),
        )
        .tags(Some(vec![
            operations,
            identity,
            assets,
            playback,
            training,
            graphql,
            certificates,
            payments,
            lti,
            webhooks,
            storage,
            delivery,
        ]))
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
        .build()
}

/// The API's document made whole: the refusals of the layers every API route shares
/// (`http::openapi`), then the routes mounted beside the API, which document their own.
fn complete_document(mut document: OpenApi) -> OpenApi {
    crate::http::openapi::document_shared_refusals(&mut document);
    document.merge(<crate::delivery::storage::LocalStorageApi as utoipa::OpenApi>::openapi());
    document.merge(<crate::delivery::origin::CdnOriginApi as utoipa::OpenApi>::openapi());
    document.merge(<crate::media::tus::TusApi as utoipa::OpenApi>::openapi());
    document.merge(<crate::playback::routes::PlayApi as utoipa::OpenApi>::openapi());
    document.merge(<crate::training::graphql::GraphQlApi as utoipa::OpenApi>::openapi());
    document
}

/// The OpenAPI document as `/openapi.json` serves it.
pub fn openapi_document() -> OpenApi {
    complete_document(api().into_openapi())
}

/// The whole application router with its layers. `local_store` is the local storage backend,
/// whose presigned-URL endpoints (`/storage/…`) are mounted when it is the configured one. Those,
/// the signed origin (`/cdn/…`), tus uploads and the per-session manifests stream or rewrite
/// bodies per request, so they are mounted beside the JSON API and get neither its body limit nor
/// its request timeout. `/graphql` is not an `OpenApiRouter` route (its transport is documented
/// through `GraphQlApi`), but it is JSON in and out, so it gets the API's layers.
pub fn router(state: &AppState, local_store: Option<Arc<crate::storage::LocalStore>>) -> Router {
    let (api_router, document) = api().split_for_parts();
    let document = complete_document(document);
    let document_json = serde_json::to_string(&document).unwrap_or_else(|error| {
        tracing::error!(%error, "cannot serialise the OpenAPI document");
        "{}".to_owned()
    });
    let api_router = crate::http::api_layers(
        api_router
            .layer(Extension(Arc::new(super::ops::OpenApiJson(document_json))))
            .merge(crate::training::graphql::routes(state.training.graphql)),
        &state.http,
    );
    let mut router = Router::new()
        .merge(api_router)
        .merge(crate::media::tus::routes())
        .with_state(state.clone())
        .merge(crate::delivery::origin::routes(state.clone()))
        .merge(crate::playback::routes::play_routes(state.clone()))
        .merge(crate::console::routes(&state.http.public_url));
    if let Some(store) = local_store {
        let bounds = crate::delivery::storage::UploadBounds {
            slots: Arc::clone(&state.upload_slots),
            idle_timeout: state.uploads.body_idle_timeout,
            pool: Some(state.pool.clone()),
        };
        router = router.merge(crate::delivery::storage::routes(store, bounds));
    }
    crate::http::edge_layers(router, &state.http, Arc::clone(&state.metrics))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn statuses(document: &OpenApi, method: &str, path: &str) -> Vec<String> {
        let item = &document.paths.paths[path];
        let operation = match method {
            "GET" => item.get.as_ref(),
            "POST" => item.post.as_ref(),
            _ => item.put.as_ref(),
        };
        operation.expect("the operation").responses.responses.keys().cloned().collect()
    }

    #[test]
    fn api_operations_document_the_shared_refusals_of_their_shape_and_the_others_their_own() {
        let document = openapi_document();
        // A body, a path id, a token: the reprocess endpoint.
        let reprocess = statuses(&document, "POST", "/v1/assets/{asset_id}/reprocess");
        for status in ["202", "401", "404", "409", "413", "415", "422"] {
            assert!(reprocess.iter().any(|s| s == status), "{status} missing from {reprocess:?}");
        }
        // Query parameters and a token: the asset listing; no body, so no 415.
        let list = statuses(&document, "GET", "/v1/assets");
        for status in ["200", "400", "401", "422"] {
            assert!(list.iter().any(|s| s == status), "{status} missing from {list:?}");
        }
        assert!(!list.iter().any(|s| s == "415"), "{list:?}");
        // Public, no parameters: nothing is added.
        assert_eq!(statuses(&document, "GET", "/healthz"), ["200"]);
        // Mounted beside the API: only what the route documents itself.
        let part = statuses(&document, "PUT", "/storage/uploads/{upload_id}/{part_number}");
        assert!(!part.iter().any(|s| s == "415" || s == "401"), "{part:?}");
    }
}
