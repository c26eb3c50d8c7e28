//! The instructor's side of training: courses, sections and lessons, their order and lifecycle,
//! enrolments, the progress report and retention. Everything here is for whoever may manage the
//! course (its owner in person or through a key with `courses:*`, or an administrator); anyone
//! else is answered `course_not_found`, so courses cannot be probed.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::courses::{self, CoursePatch, CourseRow, CourseStatus, LessonFields, LessonKind, LessonRow, NewCourse};
use super::enrollments::{self, Enroll, EnrollmentSource, EnrollmentStatus, Outcome};
use super::reports::{self, Format, Retention};
use super::views::{CourseView, EnrollmentView, LessonView, OutlineView, SectionView};
use super::{TrainingError, events};
use crate::app::AppState;
use crate::auth::Principal;
use crate::auth::api_keys::Scope;
use crate::http::error::{ApiError, ErrorBody};
use crate::http::extract::Json;
use crate::ids::{AccountId, CourseId, EnrollmentId, LessonId, SectionId};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_course, list_courses))
        .routes(routes!(get_course, update_course, delete_course))
        .routes(routes!(publish_course))
        .routes(routes!(archive_course))
        .routes(routes!(set_order))
        .routes(routes!(create_section))
        .routes(routes!(update_section, delete_section))
        .routes(routes!(create_lesson))
        .routes(routes!(get_lesson, update_lesson, delete_lesson))
        .routes(routes!(enroll, list_enrollments))
        .routes(routes!(update_enrollment))
        .routes(routes!(progress_report))
        .routes(routes!(retention))
}

/// Longest text lesson body, in characters.
const MAX_BODY: usize = 200_000;

/// Deserialises a field that may be absent (`None`), `null` (`Some(None)`) or a value.
fn nullable<'de, T: Deserialize<'de>, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(deserializer).map(Some)
}

fn text(field: &str, value: &str, max: usize, required: bool) -> Result<String, TrainingError> {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        return Err(TrainingError::InvalidField(format!("{field} must not be empty")));
    }
    if trimmed.chars().count() > max {
        return Err(TrainingError::InvalidField(format!("{field} must be at most {max} characters")));
    }
    if trimmed.contains('\0') {
        return Err(TrainingError::InvalidField(format!("{field} must not contain NUL characters")));
    }
    Ok(trimmed.to_owned())
}

fn threshold(value: f32) -> Result<f32, TrainingError> {
    if (0.5..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(TrainingError::InvalidField("completion_threshold must be between 0.5 and 1.0".into()))
    }
}

/// The course, if the caller may manage it; `course_not_found` otherwise.
pub(super) async fn managed_course(
    state: &AppState,
    principal: &Principal,
    course_id: Uuid,
) -> Result<CourseRow, TrainingError> {
    match courses::get(&state.pool, course_id).await? {
        Some(course) if principal.may_manage(AccountId(course.owner_id)) => Ok(course),
        _ => Err(TrainingError::CourseNotFound),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateCourse {
    #[schema(example = "Linear algebra")]
    pub title: String,
    #[serde(default)]
    pub description: String,
    /// Any signed-in learner may join.
    #[serde(default)]
    pub free: bool,
    /// 0.5–1.0; default 0.9.
    pub completion_threshold: Option<f32>,
    /// Issue a signed certificate when a learner completes the course.
    #[serde(default)]
    pub certificate_enabled: bool,
}

/// Creates a draft course owned by the caller.
#[utoipa::path(post, path = "/v1/courses", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CreateCourse,
    responses(
        (status = CREATED, description = "The draft course", body = CourseView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` (not an instructor) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn create_course(
    State(state): State<AppState>,
    principal: Principal,
    Json(request): Json<CreateCourse>,
) -> Result<(StatusCode, axum::Json<CourseView>), ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let new = NewCourse {
        title: text("title", &request.title, 200, true)?,
        description: text("description", &request.description, 20_000, false)?,
        free: request.free,
        completion_threshold: threshold(request.completion_threshold.unwrap_or(0.9))?,
        certificate_enabled: request.certificate_enabled,
    };
    let mut tx = state.pool.begin().await.map_err(TrainingError::from)?;
    let course = courses::create(&mut tx, principal.account_id(), &new).await?;
    tx.commit().await.map_err(TrainingError::from)?;
    Ok((StatusCode::CREATED, axum::Json(CourseView::from(&course))))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many (1–100, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CourseList {
    pub courses: Vec<CourseView>,
    /// Pass as `cursor` for the next page; absent on the last.
    pub next_cursor: Option<String>,
}

pub(super) fn encode_cursor(at: OffsetDateTime, id: Uuid) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{}.{id}", at.unix_timestamp_nanos()))
}

pub(super) fn decode_cursor(raw: &str) -> Result<(OffsetDateTime, Uuid), TrainingError> {
    let bytes =
        base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).map_err(|_| TrainingError::InvalidCursor)?;
    let text = String::from_utf8(bytes).map_err(|_| TrainingError::InvalidCursor)?;
    let (nanos, id) = text.split_once('.').ok_or(TrainingError::InvalidCursor)?;
    let nanos: i128 = nanos.parse().map_err(|_| TrainingError::InvalidCursor)?;
    Ok((
        OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| TrainingError::InvalidCursor)?,
        id.parse().map_err(|_| TrainingError::InvalidCursor)?,
    ))
}

pub(super) fn page_limit(limit: Option<i64>) -> Result<i64, TrainingError> {
    match limit.unwrap_or(50) {
        n @ 1..=100 => Ok(n),
        _ => Err(TrainingError::InvalidField("limit must be between 1 and 100".into())),
    }
}

/// The caller's courses (an administrator's: everyone's), newest first.
#[utoipa::path(get, path = "/v1/courses", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(ListQuery),
    responses(
        (status = OK, description = "One page of courses", body = CourseList),
        (status = BAD_REQUEST, description = "`invalid_cursor`", body = ErrorBody),
        (status = FORBIDDEN, description = "`forbidden` or `insufficient_scope` (a key without courses:read)", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn list_courses(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<CourseList>, ApiError> {
    Ok(axum::Json(managed_courses_page(&state.pool, &principal, query.limit, query.cursor.as_deref()).await?))
}

/// One page of the caller's courses (an administrator's: everyone's), for `GET /v1/courses` and
/// GraphQL's `myCourses`.
pub async fn managed_courses_page(
    pool: &sqlx::PgPool,
    principal: &Principal,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<CourseList, TrainingError> {
    principal.require_scope(Scope::CoursesRead)?;
    let limit = page_limit(limit)?;
    let before = cursor.map(decode_cursor).transpose()?;
    let owner = if principal.is_admin() { None } else { Some(principal.account_id()) };
    let rows = courses::list(pool, owner, None, before, limit + 1).await?;
    Ok(course_page(rows, limit))
}

pub(super) fn course_page(mut rows: Vec<CourseRow>, limit: i64) -> CourseList {
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor = more.then(|| rows.last().map(|last| encode_cursor(last.created_at, last.course_id))).flatten();
    CourseList { courses: rows.iter().map(CourseView::from).collect(), next_cursor }
}

async fn outline(state: &AppState, course: &CourseRow) -> Result<OutlineView, TrainingError> {
    let sections = courses::sections(&state.pool, course.course_id).await?;
    let lessons = courses::lessons(&state.pool, course.course_id).await?;
    Ok(OutlineView::new(course, &sections, &lessons))
}

/// A course with its sections and lessons, in order.
#[utoipa::path(get, path = "/v1/courses/{course_id}", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:read)", body = ErrorBody),
        (status = OK, description = "The outline", body = OutlineView),
        (status = NOT_FOUND, description = "`course_not_found`: no such course, or not yours", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn get_course(
    State(state): State<AppState>,
    principal: Principal,
    course_id: CourseId,
) -> Result<axum::Json<OutlineView>, ApiError> {
    principal.require_scope(Scope::CoursesRead).map_err(TrainingError::from)?;
    let course = managed_course(&state, &principal, course_id.0).await?;
    Ok(axum::Json(outline(&state, &course).await?))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateCourse {
    pub title: Option<String>,
    pub description: Option<String>,
    pub free: Option<bool>,
    pub completion_threshold: Option<f32>,
    pub certificate_enabled: Option<bool>,
}

/// Changes a course's fields (any status).
#[utoipa::path(patch, path = "/v1/courses/{course_id}", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id")),
    request_body = UpdateCourse,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = OK, description = "The course", body = CourseView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn update_course(
    State(state): State<AppState>,
    principal: Principal,
    course_id: CourseId,
    Json(request): Json<UpdateCourse>,
) -> Result<axum::Json<CourseView>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let course = managed_course(&state, &principal, course_id.0).await?;
    let patch = CoursePatch {
        title: request.title.as_deref().map(|t| text("title", t, 200, true)).transpose()?,
        description: request.description.as_deref().map(|t| text("description", t, 20_000, false)).transpose()?,
        free: request.free,
        completion_threshold: request.completion_threshold.map(threshold).transpose()?,
        certificate_enabled: request.certificate_enabled,
    };
    let mut conn = state.pool.acquire().await.map_err(TrainingError::from)?;
    let course = courses::update(&mut conn, course.course_id, &patch).await?;
    Ok(axum::Json(CourseView::from(&course)))
}

/// Deletes a draft course that never had an enrolment.
#[utoipa::path(delete, path = "/v1/courses/{course_id}", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = NO_CONTENT, description = "Deleted"),
        (status = CONFLICT, description = "`wrong_state`: published or archived, or it had enrolments (archive it instead)", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token`, `token_expired` or `invalid_api_key`", body = ErrorBody),
    ))]
async fn delete_course(
    State(state): State<AppState>,
    principal: Principal,
    course_id: CourseId,
) -> Result<StatusCode, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let course = managed_course(&state, &principal, course_id.0).await?;
    let mut tx = state.pool.begin().await.map_err(TrainingError::from)?;
    courses::delete(&mut tx, course.course_id).await?;
    tx.commit().await.map_err(TrainingError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn transition(
    state: &AppState,
    principal: &Principal,
    course_id: Uuid,
    to: CourseStatus,
) -> Result<axum::Json<CourseView>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let course = managed_course(state, principal, course_id).await?;
    let mut tx = state.pool.begin().await.map_err(TrainingError::from)?;
    let course = courses::transition(&mut tx, course.course_id, to).await?;
    tx.commit().await.map_err(TrainingError::from)?;
    Ok(axum::Json(CourseView::from(&course)))
}

/// Publishes a draft course: learners can now be enrolled and watch.
#[utoipa::path(post, path = "/v1/courses/{course_id}/publish", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = OK, description = "The published course (also when it already was)", body = CourseView),
        (status = CONFLICT, description = "`wrong_state`: archived, or no lesson yet", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`", body = ErrorBody),
    ))]
async fn publish_course(
    State(state): State<AppState>,
    principal: Principal,
    course_id: CourseId,
) -> Result<axum::Json<CourseView>, ApiError> {
    transition(&state, &principal, course_id.0, CourseStatus::Published).await
}

/// Archives a published course: no new enrolments; enrolled learners keep access and progress.
#[utoipa::path(post, path = "/v1/courses/{course_id}/archive", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = OK, description = "The archived course (also when it already was)", body = CourseView),
        (status = CONFLICT, description = "`wrong_state`: still a draft (delete it instead)", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`", body = ErrorBody),
    ))]
async fn archive_course(
    State(state): State<AppState>,
    principal: Principal,
    course_id: CourseId,
) -> Result<axum::Json<CourseView>, ApiError> {
    transition(&state, &principal, course_id.0, CourseStatus::Archived).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionOrder {
    pub section_id: Uuid,
    pub lessons: Vec<Uuid>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CourseOrder {
    /// Every section once, in order, each with every one of its lessons in order (a lesson may
    /// move to another section).
    pub sections: Vec<SectionOrder>,
}

/// Reorders the whole course at once.
#[utoipa::path(put, path = "/v1/courses/{course_id}/order", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id")),
    request_body = CourseOrder,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = OK, description = "The outline in its new order", body = OutlineView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`: not every section and lesson exactly once", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`", body = ErrorBody),
    ))]
async fn set_order(
    State(state): State<AppState>,
    principal: Principal,
    course_id: CourseId,
    Json(request): Json<CourseOrder>,
) -> Result<axum::Json<OutlineView>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let course = managed_course(&state, &principal, course_id.0).await?;
    let order: Vec<(Uuid, Vec<Uuid>)> = request.sections.into_iter().map(|s| (s.section_id, s.lessons)).collect();
    let mut tx = state.pool.begin().await.map_err(TrainingError::from)?;
    lock_course(&mut tx, course.course_id).await?;
    courses::reorder(&mut tx, course.course_id, &order).await?;
    tx.commit().await.map_err(TrainingError::from)?;
    Ok(axum::Json(outline(&state, &course).await?))
}

/// Serialises structural changes of one course (positions are computed from what is there).
async fn lock_course(conn: &mut sqlx::PgConnection, course_id: Uuid) -> Result<(), TrainingError> {
    sqlx::query_scalar!("select course_id from course where course_id = $1 for update", course_id)
        .fetch_optional(conn)
        .await?
        .ok_or(TrainingError::CourseNotFound)?;
    Ok(())
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SectionFields {
    #[schema(example = "Week 1: vectors")]
    pub title: String,
}

/// Appends a section to a course.
#[utoipa::path(post, path = "/v1/courses/{course_id}/sections", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id")),
    request_body = SectionFields,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = CREATED, description = "The section (no lessons yet)", body = SectionView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`", body = ErrorBody),
    ))]
async fn create_section(
    State(state): State<AppState>,
    principal: Principal,
    course_id: CourseId,
    Json(request): Json<SectionFields>,
) -> Result<(StatusCode, axum::Json<SectionView>), ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let course = managed_course(&state, &principal, course_id.0).await?;
    let title = text("title", &request.title, 200, true)?;
    let mut tx = state.pool.begin().await.map_err(TrainingError::from)?;
    lock_course(&mut tx, course.course_id).await?;
    let section = courses::add_section(&mut tx, course.course_id, &title).await?;
    tx.commit().await.map_err(TrainingError::from)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(SectionView {
            section_id: section.section_id,
            title: section.title,
            position: section.position,
            lessons: Vec::new(),
        }),
    ))
}

/// The section and its course, if the caller may manage the course.
async fn managed_section(
    state: &AppState,
    principal: &Principal,
    section_id: Uuid,
) -> Result<(courses::SectionRow, CourseRow), TrainingError> {
    let section = courses::section(&state.pool, section_id).await?.ok_or(TrainingError::SectionNotFound)?;
    let course =
        managed_course(state, principal, section.course_id).await.map_err(|_| TrainingError::SectionNotFound)?;
    Ok((section, course))
}

/// Renames a section.
#[utoipa::path(patch, path = "/v1/sections/{section_id}", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("section_id" = Uuid, Path, description = "The section's id")),
    request_body = SectionFields,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = OK, description = "The section (without its lessons)", body = SectionView),
        (status = NOT_FOUND, description = "`section_not_found`", body = ErrorBody),
    ))]
async fn update_section(
    State(state): State<AppState>,
    principal: Principal,
    section_id: SectionId,
    Json(request): Json<SectionFields>,
) -> Result<axum::Json<SectionView>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let (section, _) = managed_section(&state, &principal, section_id.0).await?;
    let title = text("title", &request.title, 200, true)?;
    let mut conn = state.pool.acquire().await.map_err(TrainingError::from)?;
    let section = courses::rename_section(&mut conn, section.section_id, &title).await?;
    Ok(axum::Json(SectionView {
        section_id: section.section_id,
        title: section.title,
        position: section.position,
        lessons: Vec::new(),
    }))
}

/// Deletes a section with its lessons and their progress.
#[utoipa::path(delete, path = "/v1/sections/{section_id}", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("section_id" = Uuid, Path, description = "The section's id")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = NO_CONTENT, description = "Deleted"),
        (status = NOT_FOUND, description = "`section_not_found`", body = ErrorBody),
    ))]
async fn delete_section(
    State(state): State<AppState>,
    principal: Principal,
    section_id: SectionId,
) -> Result<StatusCode, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let (section, course) = managed_section(&state, &principal, section_id.0).await?;
    let mut tx = state.pool.begin().await.map_err(TrainingError::from)?;
    lock_course(&mut tx, course.course_id).await?;
    courses::delete_section(&mut tx, &course, section.section_id).await?;
    tx.commit().await.map_err(TrainingError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateLesson {
    pub title: String,
    pub kind: LessonKind,
    /// `video`: one of the course owner's assets.
    pub asset_id: Option<Uuid>,
    /// `text`: Markdown.
    pub body: Option<String>,
    /// `link`: an http(s) URL.
    pub url: Option<String>,
    /// Counts towards course completion (default true).
    pub required: Option<bool>,
    /// Anyone signed in may watch it (default false).
    #[serde(default)]
    pub free_preview: bool,
    /// 0.5–1.0; absent uses the course's.
    pub completion_threshold: Option<f32>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateLesson {
    pub title: Option<String>,
    pub asset_id: Option<Uuid>,
    pub body: Option<String>,
    pub url: Option<String>,
    pub required: Option<bool>,
    pub free_preview: Option<bool>,
    /// A value, or `null` to use the course's again.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<f32>)]
    pub completion_threshold: Option<Option<f32>>,
}

/// Checks a lesson's content against its kind and snapshots a video's duration.
async fn lesson_fields(
    state: &AppState,
    course: &CourseRow,
    mut fields: LessonFields,
) -> Result<LessonFields, TrainingError> {
    fields.title = text("title", &fields.title, 200, true)?;
    if let Some(value) = fields.completion_threshold {
        threshold(value)?;
    }
    match fields.kind {
        LessonKind::Video => {
            let asset_id =
                fields.asset_id.ok_or_else(|| TrainingError::InvalidField("a video lesson needs asset_id".into()))?;
            let asset = crate::playback::access::load(&state.pool, asset_id).await?;
            // Only the course owner's own assets; another account's asset is answered as missing.
            if asset.is_none_or(|asset| asset.owner_id != course.owner_id) {
                return Err(TrainingError::InvalidField(format!(
                    "asset_id {asset_id}: no such asset of the course's owner"
                )));
            }
            let current = crate::media::versions::current_durations(&state.pool, &[asset_id]).await?;
            let current = current.first();
            fields.duration_ms = current.map(|c| i32::try_from(c.duration_ms).unwrap_or(i32::MAX));
            fields.duration_version = current.map(|c| c.version);
            fields.body = None;
            fields.url = None;
        }
        LessonKind::Text => {
            let body =
                fields.body.as_deref().ok_or_else(|| TrainingError::InvalidField("a text lesson needs body".into()))?;
            fields.body = Some(text("body", body, MAX_BODY, false)?);
            fields.asset_id = None;
            fields.url = None;
        }
        LessonKind::Link => {
            let raw =
                fields.url.as_deref().ok_or_else(|| TrainingError::InvalidField("a link lesson needs url".into()))?;
            let url = url::Url::parse(raw.trim())
                .ok()
                .filter(|url| matches!(url.scheme(), "http" | "https") && raw.len() <= 2048)
                .ok_or_else(|| {
                    TrainingError::InvalidField("url must be an http(s) URL of at most 2048 characters".into())
                })?;
            fields.url = Some(url.to_string());
            fields.asset_id = None;
            fields.body = None;
        }
    }
    if fields.kind != LessonKind::Video {
        fields.duration_ms = None;
        fields.duration_version = None;
    }
    Ok(fields)
}

/// Appends a lesson to a section.
#[utoipa::path(post, path = "/v1/sections/{section_id}/lessons", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("section_id" = Uuid, Path, description = "The section's id")),
    request_body = CreateLesson,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = CREATED, description = "The lesson", body = LessonView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`: content that does not fit its kind, an asset that is not the owner's", body = ErrorBody),
        (status = NOT_FOUND, description = "`section_not_found`", body = ErrorBody),
    ))]
async fn create_lesson(
    State(state): State<AppState>,
    principal: Principal,
    section_id: SectionId,
    Json(request): Json<CreateLesson>,
) -> Result<(StatusCode, axum::Json<LessonView>), ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let (section, course) = managed_section(&state, &principal, section_id.0).await?;
    let fields = lesson_fields(
        &state,
        &course,
        LessonFields {
            title: request.title,
            kind: request.kind,
            asset_id: request.asset_id,
            duration_ms: None,
            duration_version: None,
            body: request.body,
            url: request.url,
            required: request.required.unwrap_or(true),
            free_preview: request.free_preview,
            completion_threshold: request.completion_threshold,
        },
    )
    .await?;
    let mut tx = state.pool.begin().await.map_err(TrainingError::from)?;
    lock_course(&mut tx, course.course_id).await?;
    let course = courses::get(&mut *tx, course.course_id).await?.ok_or(TrainingError::CourseNotFound)?;
    let lesson = courses::add_lesson(&mut tx, &course, section.section_id, &fields).await?;
    tx.commit().await.map_err(TrainingError::from)?;
    Ok((StatusCode::CREATED, axum::Json(LessonView::from(&lesson))))
}

/// The lesson and its course, if the caller may manage the course.
pub(super) async fn managed_lesson(
    state: &AppState,
    principal: &Principal,
    lesson_id: Uuid,
) -> Result<(LessonRow, CourseRow), TrainingError> {
    let lesson = courses::lesson(&state.pool, lesson_id).await?.ok_or(TrainingError::LessonNotFound)?;
    let course = managed_course(state, principal, lesson.course_id).await.map_err(|_| TrainingError::LessonNotFound)?;
    Ok((lesson, course))
}

/// A lesson, as its instructor sees it.
#[utoipa::path(get, path = "/v1/lessons/{lesson_id}", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("lesson_id" = Uuid, Path, description = "The lesson's id")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:read)", body = ErrorBody),
        (status = OK, description = "The lesson", body = LessonView),
        (status = NOT_FOUND, description = "`lesson_not_found`", body = ErrorBody),
    ))]
async fn get_lesson(
    State(state): State<AppState>,
    principal: Principal,
    lesson_id: LessonId,
) -> Result<axum::Json<LessonView>, ApiError> {
    principal.require_scope(Scope::CoursesRead).map_err(TrainingError::from)?;
    let (lesson, _) = managed_lesson(&state, &principal, lesson_id.0).await?;
    Ok(axum::Json(LessonView::from(&lesson)))
}

/// Changes a lesson (its kind stays). A new `asset_id` takes that asset's current duration.
#[utoipa::path(patch, path = "/v1/lessons/{lesson_id}", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("lesson_id" = Uuid, Path, description = "The lesson's id")),
    request_body = UpdateLesson,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = OK, description = "The lesson", body = LessonView),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = NOT_FOUND, description = "`lesson_not_found`", body = ErrorBody),
    ))]
async fn update_lesson(
    State(state): State<AppState>,
    principal: Principal,
    lesson_id: LessonId,
    Json(request): Json<UpdateLesson>,
) -> Result<axum::Json<LessonView>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let (lesson, course) = managed_lesson(&state, &principal, lesson_id.0).await?;
    let fields = lesson_fields(
        &state,
        &course,
        LessonFields {
            title: request.title.unwrap_or(lesson.title.clone()),
            kind: lesson.kind(),
            asset_id: request.asset_id.or(lesson.asset_id),
            duration_ms: None,
            duration_version: None,
            body: request.body.or(lesson.body.clone()),
            url: request.url.or(lesson.url.clone()),
            required: request.required.unwrap_or(lesson.required),
            free_preview: request.free_preview.unwrap_or(lesson.free_preview),
            completion_threshold: request.completion_threshold.unwrap_or(lesson.completion_threshold),
        },
    )
    .await?;
    let mut tx = state.pool.begin().await.map_err(TrainingError::from)?;
    lock_course(&mut tx, course.course_id).await?;
    let course = courses::get(&mut *tx, course.course_id).await?.ok_or(TrainingError::CourseNotFound)?;
    let lesson = courses::update_lesson(&mut tx, &course, lesson.lesson_id, &fields).await?;
    tx.commit().await.map_err(TrainingError::from)?;
    Ok(axum::Json(LessonView::from(&lesson)))
}

/// Deletes a lesson and its learners' progress in it.
#[utoipa::path(delete, path = "/v1/lessons/{lesson_id}", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("lesson_id" = Uuid, Path, description = "The lesson's id")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = NO_CONTENT, description = "Deleted"),
        (status = NOT_FOUND, description = "`lesson_not_found`", body = ErrorBody),
    ))]
async fn delete_lesson(
    State(state): State<AppState>,
    principal: Principal,
    lesson_id: LessonId,
) -> Result<StatusCode, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let (lesson, course) = managed_lesson(&state, &principal, lesson_id.0).await?;
    let mut tx = state.pool.begin().await.map_err(TrainingError::from)?;
    lock_course(&mut tx, course.course_id).await?;
    courses::delete_lesson(&mut tx, &course, &lesson).await?;
    tx.commit().await.map_err(TrainingError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub account_id: Uuid,
    /// Access ends by itself at this time (RFC 3339).
    #[serde(default, with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub expires_at: Option<OffsetDateTime>,
    /// Start a new attempt even when the learner is enrolled (the course assigned again): the
    /// current attempt ends as `expired` (`reassigned`) and keeps its record.
    #[serde(default)]
    pub new_attempt: bool,
}

/// Enrols a learner (idempotent: the current enrolment when there is one).
#[utoipa::path(post, path = "/v1/courses/{course_id}/enrollments", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id")),
    request_body = EnrollRequest,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = CREATED, description = "A new enrolment (or attempt)", body = EnrollmentView),
        (status = OK, description = "The learner was enrolled already (a suspended enrolment is active again)", body = EnrollmentView),
        (status = CONFLICT, description = "`wrong_state`: the course is a draft or archived", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`: an end date in the past", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`, or `not_found`: no such account", body = ErrorBody),
    ))]
async fn enroll(
    State(state): State<AppState>,
    principal: Principal,
    course_id: CourseId,
    Json(request): Json<EnrollRequest>,
) -> Result<(StatusCode, axum::Json<EnrollmentView>), ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let course = managed_course(&state, &principal, course_id.0).await?;
    if request.expires_at.is_some_and(|at| at <= OffsetDateTime::now_utc()) {
        return Err(TrainingError::InvalidField("expires_at must be in the future".into()).into());
    }
    let source = match principal {
        Principal::ApiKey(_) => EnrollmentSource::Api,
        Principal::User(_) => EnrollmentSource::Admin,
    };
    let request = Enroll {
        account_id: request.account_id,
        source,
        enrolled_by: Some(principal.account_id()),
        expires_at: request.expires_at,
        new_attempt: request.new_attempt,
    };
    let (row, outcome) = enroll_now(&state, &course, &request).await?;
    let status = if outcome == Outcome::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(EnrollmentView::from(&row))))
}

/// Enrols in one transaction with its event.
pub(crate) async fn enroll_now(
    state: &AppState,
    course: &CourseRow,
    request: &Enroll,
) -> Result<(enrollments::EnrollmentRow, Outcome), TrainingError> {
    let mut tx = state.pool.begin().await?;
    let (row, outcome) = enrollments::enroll(&mut tx, course, request).await?;
    if outcome == Outcome::Created {
        events::enrollment(&mut tx, course, &row, "enrollment.created").await?;
    }
    tx.commit().await?;
    Ok((row, outcome))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnrollmentQuery {
    /// Only enrolments in this state.
    pub status: Option<EnrollmentStatus>,
    /// At most this many (1–100, default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentList {
    pub enrollments: Vec<EnrollmentView>,
    pub next_cursor: Option<String>,
}

/// A course's enrolments, oldest first (every attempt).
#[utoipa::path(get, path = "/v1/courses/{course_id}/enrollments", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id"), EnrollmentQuery),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:read)", body = ErrorBody),
        (status = OK, description = "One page", body = EnrollmentList),
        (status = BAD_REQUEST, description = "`invalid_cursor`", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`", body = ErrorBody),
    ))]
async fn list_enrollments(
    State(state): State<AppState>,
    principal: Principal,
    course_id: CourseId,
    Query(query): Query<EnrollmentQuery>,
) -> Result<axum::Json<EnrollmentList>, ApiError> {
    principal.require_scope(Scope::CoursesRead).map_err(TrainingError::from)?;
    let course = managed_course(&state, &principal, course_id.0).await?;
    let limit = page_limit(query.limit)?;
    let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
    let mut rows = enrollments::list_for_course(&state.pool, course.course_id, query.status, after, limit + 1).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(usize::MAX);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let next_cursor =
        more.then(|| rows.last().map(|last| encode_cursor(last.created_at, last.enrollment_id))).flatten();
    Ok(axum::Json(EnrollmentList { enrollments: rows.iter().map(EnrollmentView::from).collect(), next_cursor }))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateEnrollment {
    /// `active`, `suspended` or `revoked` (`expired` comes from the end date).
    pub status: EnrollmentStatus,
    /// Why, for the record (at most 200 characters).
    pub reason: Option<String>,
}

/// Suspends, reactivates or revokes an enrolment. Losing access ends the learner's playback
/// sessions of the course's lessons at once; progress is kept.
#[utoipa::path(patch, path = "/v1/enrollments/{enrollment_id}", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("enrollment_id" = Uuid, Path, description = "The enrolment's id")),
    request_body = UpdateEnrollment,
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:write)", body = ErrorBody),
        (status = OK, description = "The enrolment", body = EnrollmentView),
        (status = CONFLICT, description = "`wrong_state`: it has ended", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = NOT_FOUND, description = "`enrollment_not_found`", body = ErrorBody),
    ))]
async fn update_enrollment(
    State(state): State<AppState>,
    principal: Principal,
    enrollment_id: EnrollmentId,
    Json(request): Json<UpdateEnrollment>,
) -> Result<axum::Json<EnrollmentView>, ApiError> {
    principal.require_scope(Scope::CoursesWrite).map_err(TrainingError::from)?;
    let enrollment = enrollments::get(&state.pool, enrollment_id.0).await?.ok_or(TrainingError::EnrollmentNotFound)?;
    let course = managed_course(&state, &principal, enrollment.course_id)
        .await
        .map_err(|_| TrainingError::EnrollmentNotFound)?;
    if request.status == EnrollmentStatus::Expired {
        return Err(TrainingError::InvalidField("status must be active, suspended or revoked".into()).into());
    }
    let reason = request.reason.as_deref().map(|r| text("reason", r, 200, false)).transpose()?;
    let row = change_status(&state, &course, enrollment.enrollment_id, request.status, reason.as_deref()).await?;
    Ok(axum::Json(EnrollmentView::from(&row)))
}

/// Changes an enrolment's status with its event, then ends the sessions that lost access.
pub(super) async fn change_status(
    state: &AppState,
    course: &CourseRow,
    enrollment_id: Uuid,
    to: EnrollmentStatus,
    reason: Option<&str>,
) -> Result<enrollments::EnrollmentRow, TrainingError> {
    let mut tx = state.pool.begin().await?;
    let (row, changed) = enrollments::set_status(&mut tx, enrollment_id, to, reason).await?;
    let event = match to {
        EnrollmentStatus::Suspended => Some("enrollment.suspended"),
        EnrollmentStatus::Revoked => Some("enrollment.revoked"),
        EnrollmentStatus::Active | EnrollmentStatus::Expired => None,
    };
    if changed && let Some(event) = event {
        events::enrollment(&mut tx, course, &row, event).await?;
    }
    tx.commit().await?;
    if changed && to != EnrollmentStatus::Active {
        enrollments::after_access_lost(&state.pool, row.course_id, row.account_id).await;
    }
    Ok(row)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `csv` or `json`; without it, the `Accept` header decides (CSV unless it asks for JSON).
    pub format: Option<String>,
}

/// Every learner's progress in the course, streamed: CSV (one line per enrolment, one column
/// per lesson with its covered ratio) or JSON (`{course_id, lessons, learners: […]}`).
#[utoipa::path(get, path = "/v1/courses/{course_id}/progress", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id"), ReportQuery),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:read)", body = ErrorBody),
        (status = OK, description = "The report (`text/csv` or `application/json`)",
            content((String = "text/csv"), (String = "application/json"))),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`: an unknown format", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`", body = ErrorBody),
    ))]
async fn progress_report(
    State(state): State<AppState>,
    principal: Principal,
    course_id: CourseId,
    Query(query): Query<ReportQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require_scope(Scope::CoursesRead).map_err(TrainingError::from)?;
    let course = managed_course(&state, &principal, course_id.0).await?;
    let format = match query.format.as_deref() {
        Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some(other) => return Err(TrainingError::InvalidField(format!("format {other:?}: use csv or json")).into()),
        None => {
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
            if accept.contains("application/json") { Format::Json } else { Format::Csv }
        }
    };
    let body = reports::progress_report(state.pool.clone(), course.course_id, format).await?;
    let (content_type, extension) = match format {
        Format::Csv => ("text/csv; charset=utf-8", "csv"),
        Format::Json => ("application/json", "json"),
    };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"course-{}-progress.{extension}\"", course.course_id),
            ),
            (header::CACHE_CONTROL, "private, no-store".to_owned()),
        ],
        body,
    )
        .into_response())
}

/// For each second of a video lesson, how many enrolled learners covered it (the drop-off curve).
#[utoipa::path(get, path = "/v1/lessons/{lesson_id}/retention", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("lesson_id" = Uuid, Path, description = "The lesson's id")),
    responses(
        (status = FORBIDDEN, description = "`forbidden` (your roles do not allow this) or `insufficient_scope` (a key without courses:read)", body = ErrorBody),
        (status = OK, description = "The curve", body = Retention),
        (status = NOT_FOUND, description = "`lesson_not_found`", body = ErrorBody),
    ))]
async fn retention(
    State(state): State<AppState>,
    principal: Principal,
    lesson_id: LessonId,
) -> Result<axum::Json<Retention>, ApiError> {
    principal.require_scope(Scope::CoursesRead).map_err(TrainingError::from)?;
    let (lesson, _) = managed_lesson(&state, &principal, lesson_id.0).await?;
    Ok(axum::Json(reports::retention(&state.pool, &lesson).await?))
}
