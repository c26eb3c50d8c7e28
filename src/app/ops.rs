//! Operational endpoints: liveness, readiness, metrics, the OpenAPI document.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::metrics::KindLabels;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .routes(routes!(openapi_json))
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// Liveness: the process is up and serving. Depends on nothing else.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = OK, description = "The process is alive", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok".to_owned() })
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Readiness {
    /// `ok` when every check passed, else `unavailable`.
    pub status: String,
    pub checks: ReadinessChecks,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct ReadinessChecks {
    pub database: Check,
    pub storage: Check,
}

#[derive(Debug, Serialize, serde::Deserialize, ToSchema)]
pub struct Check {
    /// `ok` or `error`.
    pub status: String,
    /// What failed, when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The storage backend (`local` or `s3`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
}

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Readiness: the database and the object store both answer. Load balancers should route only
/// to ready replicas.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = OK, description = "Ready to serve", body = Readiness),
        (status = SERVICE_UNAVAILABLE, description = "A dependency is unreachable", body = Readiness),
    ))]
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = async {
        match tokio::time::timeout(CHECK_TIMEOUT, crate::db::ping(&state.pool)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(crate::error_chain(&error)),
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        }
    };
    let storage = async {
        match tokio::time::timeout(CHECK_TIMEOUT, state.storage.check()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(crate::error_chain(&error)),
            Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
        }
    };
    let (database, storage) = tokio::join!(database, storage);
    let ready = database.is_ok() && storage.is_ok();
    let check = |result: Result<(), String>, backend: Option<String>| Check {
        status: if result.is_ok() { "ok" } else { "error" }.to_owned(),
        error: result.err(),
        backend,
    };
    let body = Readiness {
        status: if ready { "ok" } else { "unavailable" }.to_owned(),
        checks: ReadinessChecks {
            database: check(database, None),
            storage: check(storage, Some(state.storage.backend().to_owned())),
        },
    };
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(body))
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = OK, description = "Prometheus text format", content_type = "text/plain", body = String)))]
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    // Queue gauges are computed at scrape time from the table itself, so every replica reports
    // the same truth and nothing has to keep them in step.
    match crate::jobs::queue::depth_by_kind(&state.pool).await {
        Ok(rows) => {
            state.metrics.queue_depth.clear();
            state.metrics.queue_oldest_age.clear();
            for (kind, depth, oldest_age) in rows {
                let labels = KindLabels { kind };
                state.metrics.queue_depth.get_or_create(&labels).set(depth);
                state.metrics.queue_oldest_age.get_or_create(&labels).set(oldest_age);
            }
        }
        Err(error) => tracing::warn!(%error, "cannot read queue depth for metrics"),
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
}

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = OK, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(Extension(document): Extension<Arc<OpenApiJson>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document.0.clone())
}

/// The serialised OpenAPI document, made once at start-up.
pub struct OpenApiJson(pub String);
