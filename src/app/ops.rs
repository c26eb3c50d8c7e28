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
use crate::metrics::{KindLabels, Metrics};

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

/// The listener of a `lectern worker` (`LECTERN_METRICS_LISTEN`): liveness and the metrics this
/// process counts. Not the queue gauges: `serve` reads those from the database at scrape time,
/// and a second source of the same gauge would add up on a dashboard.
pub fn worker_router(metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new()
        .route("/healthz", axum::routing::get(healthz))
        .route("/metrics", axum::routing::get(worker_metrics))
        .with_state(metrics)
}

async fn worker_metrics(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics.render())
}

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(get, path = "/openapi.json", tag = "operations",
    responses((status = OK, description = "OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json(Extension(document): Extension<Arc<OpenApiJson>>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document.0.clone())
}

/// The serialised OpenAPI document, made once at start-up.
pub struct OpenApiJson(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::JobLabels;
    use axum::body::Body;
    use axum::http::Request;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn a_worker_listener_serves_the_counters_of_its_process() {
        let metrics = Arc::new(Metrics::new());
        let labels = JobLabels { kind: "media.probe".to_owned(), outcome: "succeeded" };
        metrics.jobs_finished.get_or_create(&labels).inc();

        let response = worker_router(metrics.clone())
            .oneshot(Request::get("/metrics").body(Body::empty()).expect("request"))
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8(body.to_vec()).expect("utf-8");
        assert!(text.contains(r#"lectern_jobs_finished_total{kind="media.probe",outcome="succeeded"} 1"#), "{text}");

        let response = worker_router(metrics)
            .oneshot(Request::get("/healthz").body(Body::empty()).expect("request"))
            .await
            .expect("answer");
        assert_eq!(response.status(), StatusCode::OK);
    }
}
