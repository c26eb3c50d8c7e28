//! `GET /v1/jobs?asset_id=…`: the background work on one of your assets (probe, transcode,
//! import), with state, attempts, progress and the last error, so an instructor or an
//! integration can see why an asset is slow or failed. Visible to the asset's owner and to
//! administrators; anyone else gets `404 not_found`, as for the asset itself.

use axum::extract::{Query, State};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::api_keys::Scope;
use crate::http::error::{ApiError, ErrorBody};
use crate::ids::AccountId;
use crate::jobs::queue::{self, JobSummary};
use crate::media::{AssetId, MediaError};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_jobs))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct JobsQuery {
    /// The asset whose jobs to list (required).
    pub asset_id: Option<String>,
}

/// One job as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    pub id: Uuid,
    #[schema(example = "media.transcode")]
    pub kind: String,
    /// `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    /// 0–1 while running (1 once succeeded).
    pub progress: Option<f32>,
    pub last_error: Option<String>,
    /// Not run before this time (a retry's backoff).
    #[serde(with = "time::serde::rfc3339")]
    pub run_after: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub finished_at: Option<OffsetDateTime>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    /// Newest first (at most 100).
    pub jobs: Vec<JobView>,
}

impl From<JobSummary> for JobView {
    fn from(job: JobSummary) -> Self {
        Self {
            id: job.job_id,
            kind: job.kind,
            state: job.state,
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            progress: job.progress,
            last_error: job.last_error,
            run_after: job.run_after,
            created_at: job.created_at,
            updated_at: job.updated_at,
            finished_at: job.finished_at,
        }
    }
}

/// The jobs working on one of your assets.
#[utoipa::path(get, path = "/v1/jobs", tag = "assets",
    security(("bearer" = []), ("api_key" = [])),
    params(JobsQuery),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without assets:read)", body = ErrorBody),
        (status = OK, description = "The asset's jobs, newest first", body = JobList),
        (status = BAD_REQUEST, description = "`invalid_query`: `asset_id` is missing", body = ErrorBody),
        (status = NOT_FOUND, description = "`not_found`: no such asset, or not yours", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn list_jobs(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<JobsQuery>,
) -> Result<axum::Json<JobList>, ApiError> {
    principal.require_scope(Scope::AssetsRead)?;
    let raw = query
        .asset_id
        .filter(|id| !id.is_empty())
        .ok_or_else(|| MediaError::InvalidQuery("asset_id is required".to_owned()))?;
    let asset_id = Uuid::parse_str(&raw).map_err(|_| MediaError::NotFound("no such asset"))?;
    match crate::media::assets::owner_including_deleted(&state.pool, AssetId(asset_id)).await? {
        Some((owner_id, _)) if principal.may_manage(AccountId(owner_id)) => {}
        _ => return Err(MediaError::NotFound("no such asset").into()),
    }
    let jobs = queue::list_for_asset(&state.pool, asset_id).await?;
    Ok(axum::Json(JobList { jobs: jobs.into_iter().map(JobView::from).collect() }))
}
