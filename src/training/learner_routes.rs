//! The learner's side of training: the catalogue, joining a free course, the dashboard, a
//! course's outline with progress and gaps, the resume point, lesson playback sessions and the
//! progress reports players send on them.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::courses::{self, CourseRow, CourseStatus, LessonKind, LessonRow};
use super::coverage::{self, Span};
use super::enrollments::{self, Enroll, EnrollmentSource, EnrollmentStatus, Outcome};
use super::progress::{self, Completed, LessonProgress, Report, ReportAnswer};
use super::routes::{CourseList, ListQuery, course_page, decode_cursor, enroll_now, page_limit};
use super::views::{self, DashboardEntry, EnrollmentView, LearnerOutlineView, ResumePoint};
use super::{TrainingError, events};
use crate::app::AppState;
use crate::auth::api_keys::{self, Scope};
use crate::auth::{Authenticated, ClientInfo, Principal};
use crate::http::error::{ApiError, ErrorBody};
use crate::ids::{AccountId, CourseId, LessonId, PlaybackSessionId};
use crate::playback::access;
use crate::playback::routes::{SessionView, Viewer};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(catalog))
        .routes(routes!(join_course))
        .routes(routes!(my_enrollments))
        .routes(routes!(my_course))
        .routes(routes!(resume))
        .routes(routes!(complete_lesson))
        .routes(routes!(lesson_playback))
        .routes(routes!(report_progress))
}

/// Published courses, newest first: the catalogue any signed-in person can browse.
#[utoipa::path(get, path = "/v1/catalog", tag = "training",
    security(("bearer" = [])),
    params(ListQuery),
    responses(
        (status = OK, description = "One page of published courses", body = CourseList),
        (status = BAD_REQUEST, description = "`invalid_cursor`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn catalog(
    State(state): State<AppState>,
    _user: Authenticated,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<CourseList>, ApiError> {
    Ok(axum::Json(catalog_page(&state.pool, query.limit, query.cursor.as_deref()).await?))
}

/// One page of the catalogue, for `GET /v1/catalog` and GraphQL's `catalog`.
pub async fn catalog_page(
    pool: &sqlx::PgPool,
    limit: Option<i64>,
    cursor: Option<&str>,
) -> Result<CourseList, TrainingError> {
    let limit = page_limit(limit)?;
    let before = cursor.map(decode_cursor).transpose()?;
    let rows = courses::list(pool, None, Some(CourseStatus::Published), before, limit + 1).await?;
    Ok(course_page(rows, limit))
}

/// A course a person may see: published or archived, or one they manage.
async fn visible_course(state: &AppState, user: &Authenticated, course_id: Uuid) -> Result<CourseRow, TrainingError> {
    let course = courses::get(&state.pool, course_id).await?.ok_or(TrainingError::CourseNotFound)?;
    let manages = Principal::User(user.clone()).may_manage(AccountId(course.owner_id));
    if course.status() == CourseStatus::Draft && !manages {
        return Err(TrainingError::CourseNotFound);
    }
    Ok(course)
}

/// Joins a free, published course.
#[utoipa::path(post, path = "/v1/courses/{course_id}/join", tag = "training",
    security(("bearer" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id")),
    responses(
        (status = CREATED, description = "Enrolled", body = EnrollmentView),
        (status = OK, description = "Already enrolled", body = EnrollmentView),
        (status = FORBIDDEN, description = "`course_not_joinable`: not a free course", body = ErrorBody),
        (status = CONFLICT, description = "`wrong_state`: archived (no new enrolments)", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`", body = ErrorBody),
    ))]
async fn join_course(
    State(state): State<AppState>,
    user: Authenticated,
    course_id: CourseId,
) -> Result<(StatusCode, axum::Json<EnrollmentView>), ApiError> {
    let course = visible_course(&state, &user, course_id.0).await?;
    if let Some(current) = enrollments::current(&state.pool, course.course_id, user.account_id).await? {
        // Joining never lifts a suspension an instructor made.
        return Ok((StatusCode::OK, axum::Json(EnrollmentView::from(&current))));
    }
    if !course.free {
        return Err(TrainingError::NotJoinable.into());
    }
    let request = Enroll {
        account_id: user.account_id,
        source: EnrollmentSource::Free,
        enrolled_by: Some(user.account_id),
        expires_at: None,
        new_attempt: false,
    };
    let (row, outcome) = enroll_now(&state, &course, &request).await?;
    let status = if outcome == Outcome::Created { StatusCode::CREATED } else { StatusCode::OK };
    Ok((status, axum::Json(EnrollmentView::from(&row))))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Dashboard {
    /// Current enrolments first (most recent activity first), then ended ones.
    pub enrollments: Vec<DashboardEntry>,
}

/// The learner's courses with progress, last activity and where to continue.
#[utoipa::path(get, path = "/v1/me/enrollments", tag = "training",
    security(("bearer" = [])),
    responses(
        (status = OK, description = "The dashboard", body = Dashboard),
        (status = UNAUTHORIZED, description = "`missing_token`, `invalid_token` or `token_expired`", body = ErrorBody),
    ))]
async fn my_enrollments(State(state): State<AppState>, user: Authenticated) -> Result<axum::Json<Dashboard>, ApiError> {
    Ok(axum::Json(dashboard(&state.pool, user.account_id).await?))
}

/// Everything the dashboard shows, in three queries whatever the number of courses.
pub async fn dashboard(pool: &sqlx::PgPool, account_id: Uuid) -> Result<Dashboard, TrainingError> {
    let rows = sqlx::query!(
        r#"
        select e.enrollment_id, e.course_id, e.account_id, e.attempt, e.status, e.source, e.enrolled_by, e.expires_at,
               e.status_reason, e.completed_at, e.ended_at, e.created_at, e.updated_at,
               c.owner_id, c.title, c.description, c.status as course_status, c.free, c.completion_threshold,
               c.certificate_enabled, c.published_at, c.archived_at, c.created_at as course_created_at,
               c.updated_at as course_updated_at
        from enrollment e join course c using (course_id)
        where e.account_id = $1
          and (e.status in ('active', 'suspended')
               or e.attempt = (select max(attempt) from enrollment x where x.course_id = e.course_id and x.account_id = $1))
        order by e.created_at desc
        limit 500
        "#,
        account_id,
    )
    .fetch_all(pool)
    .await?;
    let enrollment_ids: Vec<Uuid> = rows.iter().map(|r| r.enrollment_id).collect();
    let outlines = progress::outlines(pool, &enrollment_ids).await?;
    let mut entries: Vec<DashboardEntry> = rows
        .into_iter()
        .map(|row| {
            let enrollment = enrollments::EnrollmentRow {
                enrollment_id: row.enrollment_id,
                course_id: row.course_id,
                account_id: row.account_id,
                attempt: row.attempt,
                status: row.status,
                source: row.source,
                enrolled_by: row.enrolled_by,
                expires_at: row.expires_at,
                status_reason: row.status_reason,
                completed_at: row.completed_at,
                ended_at: row.ended_at,
                created_at: row.created_at,
                updated_at: row.updated_at,
            };
            let course = CourseRow {
                course_id: row.course_id,
                owner_id: row.owner_id,
                title: row.title,
                description: row.description,
                status: row.course_status,
                free: row.free,
                completion_threshold: row.completion_threshold,
                certificate_enabled: row.certificate_enabled,
                published_at: row.published_at,
                archived_at: row.archived_at,
                created_at: row.course_created_at,
                updated_at: row.course_updated_at,
            };
            let outline = outlines.get(&enrollment.enrollment_id).map(Vec::as_slice).unwrap_or_default();
            let lessons: Vec<&LessonRow> = outline.iter().map(|(lesson, _)| lesson).collect();
            let progress: HashMap<Uuid, &LessonProgress> =
                outline.iter().filter_map(|(lesson, stored)| Some((lesson.lesson_id, stored.as_ref()?))).collect();
            let totals = views::course_progress(&course, &lessons, &progress, Some(&enrollment));
            let next = views::resume_point(&lessons, &progress, enrollment.completed_at.is_some());
            DashboardEntry {
                enrollment: EnrollmentView::from(&enrollment),
                course: views::CourseView::from(&course),
                progress: totals,
                next,
            }
        })
        .collect();
    entries.sort_by_key(|entry| {
        (
            !entry.enrollment.status.is_current(),
            std::cmp::Reverse(entry.progress.last_activity_at.unwrap_or(entry.enrollment.created_at)),
        )
    });
    Ok(Dashboard { enrollments: entries })
}

/// A course as the learner sees it: outline, progress per lesson with its uncovered gaps, and
/// where to resume. Without an enrolment, the published outline (a catalogue page).
#[utoipa::path(get, path = "/v1/me/courses/{course_id}", tag = "training",
    security(("bearer" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id")),
    responses(
        (status = OK, description = "The learner's outline", body = LearnerOutlineView),
        (status = NOT_FOUND, description = "`course_not_found`: no such course, or a draft", body = ErrorBody),
    ))]
async fn my_course(
    State(state): State<AppState>,
    user: Authenticated,
    course_id: CourseId,
) -> Result<axum::Json<LearnerOutlineView>, ApiError> {
    Ok(axum::Json(learner_course(&state, &user, course_id.0).await?))
}

/// The learner's outline of a course, for `GET /v1/me/courses/{id}` and GraphQL's `course`:
/// drafts only for who may manage them, text bodies only for an active enrolment or a preview.
pub async fn learner_course(
    state: &AppState,
    user: &Authenticated,
    course_id: Uuid,
) -> Result<LearnerOutlineView, TrainingError> {
    let course = visible_course(state, user, course_id).await?;
    let enrollment = enrollments::latest(&state.pool, course.course_id, user.account_id).await?;
    let sections = courses::sections(&state.pool, course.course_id).await?;
    let mut lessons = courses::lessons(&state.pool, course.course_id).await?;
    let stored = match &enrollment {
        Some(enrollment) => progress::for_enrollment(&state.pool, enrollment.enrollment_id, true).await?,
        None => Vec::new(),
    };
    // A text lesson's body is for enrolled learners (and free previews).
    if enrollment.as_ref().is_none_or(|e| e.status() != EnrollmentStatus::Active) {
        for lesson in lessons.iter_mut().filter(|l| !l.free_preview) {
            lesson.body = None;
        }
    }
    Ok(views::learner_outline(&course, &sections, &lessons, enrollment.as_ref(), &stored))
}

/// Where to pick the course up: the latest position across devices, rewound 3 s; the next
/// incomplete lesson when that one is finished.
#[utoipa::path(get, path = "/v1/me/courses/{course_id}/resume", tag = "training",
    security(("bearer" = [])),
    params(("course_id" = Uuid, Path, description = "The course's id")),
    responses(
        (status = OK, description = "The resume point", body = ResumePoint),
        (status = FORBIDDEN, description = "`not_enrolled`", body = ErrorBody),
        (status = CONFLICT, description = "`wrong_state`: the course has no lessons", body = ErrorBody),
        (status = NOT_FOUND, description = "`course_not_found`", body = ErrorBody),
    ))]
async fn resume(
    State(state): State<AppState>,
    user: Authenticated,
    course_id: CourseId,
) -> Result<axum::Json<ResumePoint>, ApiError> {
    Ok(axum::Json(resume_for(&state.pool, user.account_id, course_id.0).await?))
}

/// The resume point of the learner's current enrolment (in two queries).
pub async fn resume_for(pool: &sqlx::PgPool, account_id: Uuid, course_id: Uuid) -> Result<ResumePoint, TrainingError> {
    let Some((completed, rows)) = progress::current_outline(pool, course_id, account_id).await? else {
        return Err(match courses::get(pool, course_id).await? {
            Some(course) if course.status() != CourseStatus::Draft => TrainingError::NotEnrolled,
            _ => TrainingError::CourseNotFound,
        });
    };
    let progress: HashMap<Uuid, &LessonProgress> =
        rows.iter().filter_map(|(lesson, stored)| Some((lesson.lesson_id, stored.as_ref()?))).collect();
    let ordered: Vec<&LessonRow> = rows.iter().map(|(lesson, _)| lesson).collect();
    views::resume_point(&ordered, &progress, completed)
        .ok_or_else(|| TrainingError::WrongState("the course has no lessons".into()))
}

/// Marks a text or link lesson done.
#[utoipa::path(post, path = "/v1/me/lessons/{lesson_id}/complete", tag = "training",
    security(("bearer" = [])),
    params(("lesson_id" = Uuid, Path, description = "The lesson's id")),
    responses(
        (status = NO_CONTENT, description = "Completed (also when it already was)"),
        (status = FORBIDDEN, description = "`not_enrolled`", body = ErrorBody),
        (status = CONFLICT, description = "`wrong_state`: a video lesson completes by being watched", body = ErrorBody),
        (status = NOT_FOUND, description = "`lesson_not_found`", body = ErrorBody),
    ))]
async fn complete_lesson(
    State(state): State<AppState>,
    user: Authenticated,
    lesson_id: LessonId,
) -> Result<StatusCode, ApiError> {
    courses::lesson(&state.pool, lesson_id.0).await?.ok_or(TrainingError::LessonNotFound)?;
    let mut tx = state.pool.begin().await.map_err(TrainingError::from)?;
    let completed = progress::complete_manually(&mut tx, lesson_id.0, user.account_id).await?;
    after_completion(&state, &mut tx, &completed).await?;
    tx.commit().await.map_err(TrainingError::from)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Events (and, with the course, its certificate) of what a report or a manual completion
/// completed, inside its transaction.
async fn after_completion(
    state: &AppState,
    conn: &mut sqlx::PgConnection,
    completed: &Completed,
) -> Result<(), TrainingError> {
    let c = completed.completions;
    if c.lesson_completed_now || c.course_completed_now {
        events::completed(
            conn,
            completed.owner_id,
            completed.enrollment_id,
            c.lesson_completed_now.then_some(completed.lesson_id),
            c.course_completed_now,
        )
        .await?;
    }
    if c.course_completed_now {
        let issuer = state.http.public_url.as_str().trim_end_matches('/');
        let issued =
            super::certificates::issue_in(&mut *conn, &state.certificates, issuer, completed.enrollment_id).await?;
        if let Some(issued) = issued.filter(|issued| issued.newly_issued) {
            events::certificate_issued(conn, completed.owner_id, &issued.certificate, issuer).await?;
        }
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LessonSessionRequest {
    /// With an API key (`playback:create`): the learner the session is for.
    pub on_behalf_of: Option<Uuid>,
}

/// A playback session opened for a lesson: the usual URLs, plus where and how its player
/// reports progress.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LessonSessionView {
    #[serde(flatten)]
    pub session: SessionView,
    pub lesson_id: Uuid,
    /// `POST` progress reports here (also from `navigator.sendBeacon`).
    pub progress_url: String,
    /// The credential of this session's reports alone: the `token` field of a report's body, or
    /// `Authorization: Bearer <token>`.
    pub progress_token: String,
    /// Where this learner should start the lesson (their last position, rewound 3 s).
    pub resume_position_ms: u64,
}

/// Opens a playback session for a video lesson. Enrolled learners (an active enrolment) and,
/// for free previews, anyone signed in may watch.
#[utoipa::path(post, path = "/v1/lessons/{lesson_id}/playback", tag = "training",
    security(("bearer" = []), ("api_key" = [])),
    params(("lesson_id" = Uuid, Path, description = "The lesson's id")),
    request_body(content = Option<LessonSessionRequest>, description = "Optional; `on_behalf_of` only with an API key"),
    responses(
        (status = CREATED, description = "The session", body = LessonSessionView),
        (status = FORBIDDEN, description = "`not_enrolled`, `playback_not_allowed` or `origin_not_allowed`", body = ErrorBody),
        (status = CONFLICT, description = "`wrong_state`: not a video lesson, or no video yet; `asset_not_ready`", body = ErrorBody),
        (status = NOT_FOUND, description = "`lesson_not_found`", body = ErrorBody),
    ))]
async fn lesson_playback(
    State(state): State<AppState>,
    principal: Principal,
    client: ClientInfo,
    lesson_id: LessonId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<(StatusCode, axum::Json<LessonSessionView>), ApiError> {
    let result = open_lesson_session(&state, &principal, &client, lesson_id.0, &headers, &body).await;
    let counted = result.as_ref().map(|_| ()).map_err(|e| ApiError::from_http_error(e));
    crate::playback::routes::count_outcome(&state, &counted);
    Ok((StatusCode::CREATED, axum::Json(result?)))
}

async fn open_lesson_session(
    state: &AppState,
    principal: &Principal,
    client: &ClientInfo,
    lesson_id: Uuid,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<LessonSessionView, TrainingError> {
    let request: LessonSessionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        LessonSessionRequest::default()
    } else {
        serde_json::from_slice(body).map_err(|e| TrainingError::InvalidField(format!("invalid request body: {e}")))?
    };
    let lesson = courses::lesson(&state.pool, lesson_id).await?.ok_or(TrainingError::LessonNotFound)?;
    let course = courses::get(&state.pool, lesson.course_id).await?.ok_or(TrainingError::LessonNotFound)?;
    let manages = principal.may_manage(AccountId(course.owner_id));
    if course.status() == CourseStatus::Draft && !manages {
        return Err(TrainingError::LessonNotFound);
    }
    let (viewer, api_key_id) = match principal {
        Principal::User(user) => {
            if request.on_behalf_of.is_some() {
                return Err(TrainingError::InvalidField("on_behalf_of is only for API keys".into()));
            }
            (user.account_id, None)
        }
        Principal::ApiKey(key) => {
            key.require_scope(Scope::PlaybackCreate)?;
            if !manages {
                return Err(TrainingError::LessonNotFound);
            }
            let viewer = match request.on_behalf_of {
                Some(learner) => api_keys::on_behalf_of(&state.pool, key, learner).await?,
                None => key.owner,
            };
            (viewer, Some(key.api_key_id))
        }
    };
    if lesson.kind() != LessonKind::Video {
        return Err(TrainingError::WrongState("only a video lesson is played".into()));
    }
    let asset_id = lesson.asset_id.ok_or_else(|| TrainingError::WrongState("the lesson has no video yet".into()))?;
    let enrollment = enrollments::current(&state.pool, course.course_id, viewer).await?;
    let now = OffsetDateTime::now_utc();
    let enrolled = enrollment
        .as_ref()
        .is_some_and(|e| e.status() == EnrollmentStatus::Active && e.expires_at.is_none_or(|at| at > now));
    let staff = viewer == course.owner_id || (manages && principal.is_admin());
    if !enrolled && !lesson.free_preview && !staff {
        return Err(TrainingError::NotEnrolled);
    }
    let asset = access::load(&state.pool, asset_id)
        .await?
        .ok_or(TrainingError::WrongState("the lesson's video has been deleted".into()))?;
    let session = crate::playback::routes::open_session(
        state,
        &asset,
        &Viewer { account_id: viewer, api_key_id, context_id: Some(lesson.lesson_id) },
        client,
        headers,
    )
    .await?;
    let resume_position_ms = match &enrollment {
        Some(enrollment) => progress::for_enrollment(&state.pool, enrollment.enrollment_id, false)
            .await?
            .into_iter()
            .find(|p| p.lesson_id == lesson.lesson_id)
            .and_then(|p| {
                let duration = lesson.duration_ms.and_then(|d| u64::try_from(d).ok()).unwrap_or(0);
                coverage::resume_position(p.position_ms, duration, false)
            })
            .unwrap_or(0),
        None => 0,
    };
    let base = state.http.public_url.as_str().trim_end_matches('/').to_owned();
    Ok(LessonSessionView {
        progress_url: format!("{base}/v1/playback/{}/progress", session.session_id),
        progress_token: super::progress_token(&state.keys, session.session_id),
        lesson_id: lesson.lesson_id,
        resume_position_ms,
        session,
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressSpan {
    pub from_ms: u64,
    pub to_ms: u64,
    /// The playback rate (0 < rate ≤ 16); default 1.
    pub rate: Option<f64>,
}

/// One progress report. Send one every 10–30 s while playing, on pause, seek and `ended`, and
/// with `navigator.sendBeacon` when the page is hidden or closed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressReport {
    /// Increases with every report of this session; a replay of an answered `seq` gets the
    /// same answer and changes nothing; a lower `seq` arriving late adds only its coverage.
    pub seq: u64,
    /// The player's position now.
    pub position_ms: u64,
    #[serde(default)]
    pub playing: bool,
    /// Whether the page is visible (`document.visibilityState`); spans of a hidden page move
    /// the position but cover nothing.
    #[serde(default = "visible_default")]
    pub visible: bool,
    /// What was played since the previous report, in media time.
    #[serde(default)]
    pub spans: Vec<ProgressSpan>,
    /// The session's `progress_token`, when it is not sent as a bearer token (sendBeacon cannot
    /// set headers).
    pub token: Option<String>,
}

fn visible_default() -> bool {
    true
}

/// Reports watch progress on a lesson's playback session. The server decides what was watched:
/// newly covered time is limited by the wall time since the previous report × min(rate, 2)
/// (+2 s); the excess is dropped and counted. Takes `application/json` or `text/plain` (a
/// `sendBeacon` body).
#[utoipa::path(post, path = "/v1/playback/{session_id}/progress", tag = "training",
    params(("session_id" = Uuid, Path, description = "The lesson's playback session")),
    request_body = ProgressReport,
    responses(
        (status = OK, description = "The lesson's progress after the report", body = ReportAnswer),
        (status = UNAUTHORIZED, description = "`invalid_progress_token`", body = ErrorBody),
        (status = FORBIDDEN, description = "`not_enrolled`: the enrolment is not active", body = ErrorBody),
        (status = CONFLICT, description = "`not_a_lesson_session`", body = ErrorBody),
        (status = GONE, description = "`playback_session_revoked` or `playback_session_expired`", body = ErrorBody),
        (status = UNPROCESSABLE_ENTITY, description = "`invalid_field`", body = ErrorBody),
        (status = NOT_FOUND, description = "`playback_session_not_found`", body = ErrorBody),
    ))]
async fn report_progress(
    State(state): State<AppState>,
    session_id: PlaybackSessionId,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<ReportAnswer>, ApiError> {
    Ok(axum::Json(progress_report(&state, session_id.0, &headers, &body).await?))
}

async fn progress_report(
    state: &AppState,
    session_id: Uuid,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<ReportAnswer, TrainingError> {
    let request: ProgressReport =
        serde_json::from_slice(body).map_err(|e| TrainingError::InvalidField(format!("invalid report: {e}")))?;
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
    // The token is checked before anything is read: a forged report costs no query.
    let token = request.token.as_deref().or(bearer).ok_or(TrainingError::InvalidProgressToken)?;
    if !super::progress_token_valid(&state.keys, session_id, token) {
        return Err(TrainingError::InvalidProgressToken);
    }
    let report = validate(&request, state.training.max_spans_per_report)?;
    let grace = time::Duration::try_from(state.training.report_grace).unwrap_or(time::Duration::ZERO);
    let cache = &state.training.progress_cache;
    // The common report: read (the session with the progress), then a guarded write, without a
    // transaction; a report that lost a race reads again, and after a few tries (or to complete
    // a lesson) takes the lock.
    {
        let mut conn = state.pool.acquire().await?;
        for _ in 0..3 {
            if let Some((answer, _)) =
                progress::record(&mut conn, cache, session_id, &report, grace, progress::Concurrency::Optimistic)
                    .await?
            {
                return Ok(answer);
            }
        }
    }
    let mut tx = state.pool.begin().await?;
    let mut recorded = None;
    for _ in 0..5 {
        recorded = progress::record(&mut tx, cache, session_id, &report, grace, progress::Concurrency::Locked).await?;
        if recorded.is_some() {
            break;
        }
    }
    let (answer, completed) =
        recorded.ok_or_else(|| TrainingError::Corrupt("a report was not applied under the enrolment lock".into()))?;
    after_completion(state, &mut tx, &completed).await?;
    tx.commit().await?;
    Ok(answer)
}

/// The numbers of a report, checked.
fn validate(request: &ProgressReport, max_spans: usize) -> Result<Report, TrainingError> {
    const MAX_MEDIA_MS: u64 = 48 * 3600 * 1000;
    if request.seq > (1 << 53) {
        return Err(TrainingError::InvalidField("seq is too large".into()));
    }
    if request.position_ms > MAX_MEDIA_MS {
        return Err(TrainingError::InvalidField("position_ms is beyond any lesson".into()));
    }
    if request.spans.len() > max_spans {
        return Err(TrainingError::InvalidField(format!("at most {max_spans} spans per report")));
    }
    let mut spans = Vec::with_capacity(request.spans.len());
    for (i, span) in request.spans.iter().enumerate() {
        let rate = span.rate.unwrap_or(1.0);
        if !(rate.is_finite() && rate > 0.0 && rate <= 16.0) {
            return Err(TrainingError::InvalidField(format!("spans[{i}].rate must be above 0 and at most 16")));
        }
        if span.from_ms > span.to_ms || span.to_ms > MAX_MEDIA_MS {
            return Err(TrainingError::InvalidField(format!("spans[{i}] must have from_ms <= to_ms within 48 h")));
        }
        spans.push(Span { from_ms: span.from_ms, to_ms: span.to_ms, rate });
    }
    Ok(Report {
        seq: request.seq,
        position_ms: request.position_ms,
        playing: request.playing,
        visible: request.visible,
        spans,
    })
}
