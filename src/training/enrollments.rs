//! All SQL of `enrollment`: who is enrolled in which course, through what, and in which state
//! (`active ⇄ suspended → expired | revoked`). Every change writes the learner's pass in the
//! access seam in the same transaction; a pass that closes ends the learner's playback sessions
//! that lost their right, right after the commit ([`after_access_lost`]).

use serde::{Deserialize, Serialize};
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::TrainingError;
use super::courses::{CourseRow, CourseStatus};
use crate::playback::access;

/// The pass source training writes into the access seam.
const PASS_SOURCE: &str = "enrollment";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, async_graphql::Enum)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentStatus {
    /// The learner may watch the course's lessons.
    Active,
    /// Access paused (a lapsed payment, an instructor's decision); progress is kept and access
    /// comes back with it on reactivation.
    Suspended,
    /// Ended by its end date, or by a new attempt (`status_reason: reassigned`).
    Expired,
    /// Ended by staff; final.
    Revoked,
}

impl EnrollmentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    pub fn from_stored(raw: &str) -> Self {
        match raw {
            "active" => Self::Active,
            "suspended" => Self::Suspended,
            "expired" => Self::Expired,
            _ => Self::Revoked,
        }
    }

    pub fn is_current(self) -> bool {
        matches!(self, Self::Active | Self::Suspended)
    }
}

/// Why a learner is enrolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EnrollmentSource {
    /// The learner joined a free course.
    Free,
    /// An instructor or administrator enrolled them.
    Admin,
    /// An application enrolled them with an API key.
    Api,
    Purchase,
    Subscription,
    Lti,
}

impl EnrollmentSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Admin => "admin",
            Self::Api => "api",
            Self::Purchase => "purchase",
            Self::Subscription => "subscription",
            Self::Lti => "lti",
        }
    }
}

#[derive(Debug, Clone)]
pub struct EnrollmentRow {
    pub enrollment_id: Uuid,
    pub course_id: Uuid,
    pub account_id: Uuid,
    pub attempt: i32,
    pub status: String,
    pub source: String,
    pub enrolled_by: Option<Uuid>,
    pub expires_at: Option<OffsetDateTime>,
    pub status_reason: Option<String>,
    pub completed_at: Option<OffsetDateTime>,
    pub ended_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

impl EnrollmentRow {
    pub fn status(&self) -> EnrollmentStatus {
        EnrollmentStatus::from_stored(&self.status)
    }
}

/// What to enrol.
#[derive(Debug, Clone)]
pub struct Enroll {
    pub account_id: Uuid,
    pub source: EnrollmentSource,
    pub enrolled_by: Option<Uuid>,
    pub expires_at: Option<OffsetDateTime>,
    /// Start a new attempt even when one is current (the course assigned again): the current
    /// one ends as `expired` (`reassigned`) and keeps its progress and certificate.
    pub new_attempt: bool,
}

/// What [`enroll`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A new enrolment (a first one or a new attempt).
    Created,
    /// A suspended enrolment is active again.
    Reactivated,
    /// The learner already was enrolled; nothing changed but the end date, when one was given.
    Existing,
}

/// Enrols a learner in a published course (an archived one takes no new enrolments). Idempotent:
/// enrolling again returns the current enrolment. Takes a lock on the course's current enrolment
/// of that learner, so two concurrent calls make one enrolment.
pub async fn enroll(
    conn: &mut PgConnection,
    course: &CourseRow,
    request: &Enroll,
) -> Result<(EnrollmentRow, Outcome), TrainingError> {
    match course.status() {
        CourseStatus::Published => {}
        CourseStatus::Draft => return Err(TrainingError::WrongState("a draft course takes no enrolments".into())),
        CourseStatus::Archived => {
            return Err(TrainingError::WrongState("an archived course takes no new enrolments".into()));
        }
    }
    let exists = sqlx::query_scalar!(
        r#"select exists(select 1 from account where account_id = $1) as "e!""#,
        request.account_id
    )
    .fetch_one(&mut *conn)
    .await?;
    if !exists {
        return Err(TrainingError::AccountNotFound);
    }
    // Serialises enrolments of this learner in this course (the row may not exist yet).
    sqlx::query_scalar!(
        r#"select true as "locked!" from pg_advisory_xact_lock(hashtextextended($1::text || '/' || $2::text, 0))"#,
        course.course_id.to_string(),
        request.account_id.to_string(),
    )
    .fetch_one(&mut *conn)
    .await?;
    let current = current(&mut *conn, course.course_id, request.account_id).await?;
    let (row, outcome) = match current {
        Some(current) if !request.new_attempt => {
            let reactivate = current.status() == EnrollmentStatus::Suspended;
            let row = sqlx::query_as!(
                EnrollmentRow,
                r#"
                update enrollment set status = 'active',
                                      status_reason = case when $2 then null else status_reason end,
                                      expires_at = coalesce($3, expires_at)
                where enrollment_id = $1
                returning enrollment_id, course_id, account_id, attempt, status, source, enrolled_by, expires_at,
                          status_reason, completed_at, ended_at, created_at, updated_at
                "#,
                current.enrollment_id,
                reactivate,
                request.expires_at,
            )
            .fetch_one(&mut *conn)
            .await?;
            (row, if reactivate { Outcome::Reactivated } else { Outcome::Existing })
        }
        current => {
            if let Some(current) = current {
                end(&mut *conn, current.enrollment_id, EnrollmentStatus::Expired, Some("reassigned")).await?;
            }
            let row = sqlx::query_as!(
                EnrollmentRow,
                r#"
                insert into enrollment (course_id, account_id, attempt, source, enrolled_by, expires_at)
                values ($1, $2, (select coalesce(max(attempt), 0) + 1 from enrollment where course_id = $1 and account_id = $2),
                        $3, $4, $5)
                returning enrollment_id, course_id, account_id, attempt, status, source, enrolled_by, expires_at,
                          status_reason, completed_at, ended_at, created_at, updated_at
                "#,
                course.course_id,
                request.account_id,
                request.source.as_str(),
                request.enrolled_by,
                request.expires_at,
            )
            .fetch_one(&mut *conn)
            .await?;
            (row, Outcome::Created)
        }
    };
    access::set_pass(&mut *conn, course.course_id, row.account_id, true, row.expires_at, PASS_SOURCE).await?;
    Ok((row, outcome))
}

/// The current (active or suspended) enrolment of a learner in a course.
pub async fn current<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    course_id: Uuid,
    account_id: Uuid,
) -> Result<Option<EnrollmentRow>, TrainingError> {
    Ok(sqlx::query_as!(
        EnrollmentRow,
        r#"
        select enrollment_id, course_id, account_id, attempt, status, source, enrolled_by, expires_at,
               status_reason, completed_at, ended_at, created_at, updated_at
        from enrollment where course_id = $1 and account_id = $2 and status in ('active', 'suspended')
        "#,
        course_id,
        account_id,
    )
    .fetch_optional(executor)
    .await?)
}

/// The learner's latest attempt at a course, current or ended.
pub async fn latest<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    course_id: Uuid,
    account_id: Uuid,
) -> Result<Option<EnrollmentRow>, TrainingError> {
    Ok(sqlx::query_as!(
        EnrollmentRow,
        r#"
        select enrollment_id, course_id, account_id, attempt, status, source, enrolled_by, expires_at,
               status_reason, completed_at, ended_at, created_at, updated_at
        from enrollment where course_id = $1 and account_id = $2 order by attempt desc limit 1
        "#,
        course_id,
        account_id,
    )
    .fetch_optional(executor)
    .await?)
}

pub async fn get<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    enrollment_id: Uuid,
) -> Result<Option<EnrollmentRow>, TrainingError> {
    Ok(sqlx::query_as!(
        EnrollmentRow,
        r#"
        select enrollment_id, course_id, account_id, attempt, status, source, enrolled_by, expires_at,
               status_reason, completed_at, ended_at, created_at, updated_at
        from enrollment where enrollment_id = $1
        "#,
        enrollment_id,
    )
    .fetch_optional(executor)
    .await?)
}

/// Moves an enrolment to `to`: `active ⇄ suspended`, or from either to `revoked` or `expired`.
/// Ended enrolments do not move (`wrong_state`); asking for the state it is in changes nothing.
/// Returns the row and whether it changed.
pub async fn set_status(
    conn: &mut PgConnection,
    enrollment_id: Uuid,
    to: EnrollmentStatus,
    reason: Option<&str>,
) -> Result<(EnrollmentRow, bool), TrainingError> {
    let row = sqlx::query_as!(
        EnrollmentRow,
        r#"
        select enrollment_id, course_id, account_id, attempt, status, source, enrolled_by, expires_at,
               status_reason, completed_at, ended_at, created_at, updated_at
        from enrollment where enrollment_id = $1 for update
        "#,
        enrollment_id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(TrainingError::EnrollmentNotFound)?;
    let from = row.status();
    if from == to {
        return Ok((row, false));
    }
    if !from.is_current() {
        return Err(TrainingError::WrongState(format!("an {} enrolment cannot change", from.as_str())));
    }
    let row = if to.is_current() {
        sqlx::query_as!(
            EnrollmentRow,
            r#"
            update enrollment set status = $2, status_reason = $3 where enrollment_id = $1
            returning enrollment_id, course_id, account_id, attempt, status, source, enrolled_by, expires_at,
                      status_reason, completed_at, ended_at, created_at, updated_at
            "#,
            enrollment_id,
            to.as_str(),
            reason,
        )
        .fetch_one(&mut *conn)
        .await?
    } else {
        end(&mut *conn, enrollment_id, to, reason).await?
    };
    access::set_pass(
        &mut *conn,
        row.course_id,
        row.account_id,
        to == EnrollmentStatus::Active,
        row.expires_at,
        PASS_SOURCE,
    )
    .await?;
    Ok((row, true))
}

async fn end(
    conn: &mut PgConnection,
    enrollment_id: Uuid,
    to: EnrollmentStatus,
    reason: Option<&str>,
) -> Result<EnrollmentRow, TrainingError> {
    Ok(sqlx::query_as!(
        EnrollmentRow,
        r#"
        update enrollment set status = $2, status_reason = $3, ended_at = now() where enrollment_id = $1
        returning enrollment_id, course_id, account_id, attempt, status, source, enrolled_by, expires_at,
                  status_reason, completed_at, ended_at, created_at, updated_at
        "#,
        enrollment_id,
        to.as_str(),
        reason,
    )
    .fetch_one(conn)
    .await?)
}

/// After a commit that closed a learner's pass: ends their playback sessions on the course's
/// lessons that nothing else lets them watch. Best effort (the manifests refuse them anyway).
pub async fn after_access_lost(pool: &PgPool, course_id: Uuid, account_id: Uuid) {
    match access::end_lost_sessions(pool, course_id, account_id).await {
        Ok(0) => {}
        Ok(revoked) => tracing::info!(%course_id, %account_id, revoked, "playback sessions ended with the enrolment"),
        Err(error) => {
            tracing::warn!(%course_id, %account_id, error = %crate::error_chain(&error), "cannot end playback sessions");
        }
    }
}

/// Ids of enrolments past their end date and still current, at most `limit`.
pub async fn due_to_expire(pool: &PgPool, limit: i64) -> Result<Vec<Uuid>, TrainingError> {
    Ok(sqlx::query_scalar!(
        r#"
        select enrollment_id from enrollment
        where status in ('active', 'suspended') and expires_at is not null and expires_at <= now()
        order by expires_at limit $1
        "#,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// One page of a course's enrolments, oldest first, optionally of one status.
pub async fn list_for_course(
    pool: &PgPool,
    course_id: Uuid,
    status: Option<EnrollmentStatus>,
    after: Option<(OffsetDateTime, Uuid)>,
    limit: i64,
) -> Result<Vec<EnrollmentRow>, TrainingError> {
    let (after_at, after_id) = after.unzip();
    Ok(sqlx::query_as!(
        EnrollmentRow,
        r#"
        select enrollment_id, course_id, account_id, attempt, status, source, enrolled_by, expires_at,
               status_reason, completed_at, ended_at, created_at, updated_at
        from enrollment
        where course_id = $1 and ($2::text is null or status = $2)
          and ($3::timestamptz is null or (created_at, enrollment_id) > ($3, $4))
        order by created_at, enrollment_id
        limit $5
        "#,
        course_id,
        status.map(EnrollmentStatus::as_str),
        after_at,
        after_id,
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// Marks an enrolment completed (once); true when this call completed it.
pub async fn mark_completed(conn: &mut PgConnection, enrollment_id: Uuid) -> Result<bool, TrainingError> {
    let done = sqlx::query!(
        "update enrollment set completed_at = now() where enrollment_id = $1 and completed_at is null",
        enrollment_id,
    )
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}
