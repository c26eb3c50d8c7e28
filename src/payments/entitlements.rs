//! All SQL of `entitlement`: the one source of a paying learner's access. A course is open to a
//! learner while any of their entitlements to it is `active` and not past `ends_at`.
//!
//! The training domain's enrolment follows ([`follow`]): the first active entitlement enrols the
//! learner (or reactivates a suspended enrolment, progress kept); when the last one ends, an
//! enrolment that payments made (source `purchase` or `subscription`) is suspended — never
//! revoked, so progress and certificates stay — and the learner's playback sessions of the
//! course end right after the commit ([`after_commit`]). Enrolments made by staff, free joins
//! and LTI are facts of their own and are left alone.

use serde::Serialize;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::PaymentError;
use crate::training::TrainingError;
use crate::training::courses::{self, CourseStatus};
use crate::training::enrollments::{self, Enroll, EnrollmentSource, EnrollmentStatus};

/// What granted an entitlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Order,
    Subscription,
    Coupon,
    Admin,
    Free,
    Lti,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::Subscription => "subscription",
            Self::Coupon => "coupon",
            Self::Admin => "admin",
            Self::Free => "free",
            Self::Lti => "lti",
        }
    }

    fn enrollment_source(raw: &str) -> EnrollmentSource {
        match raw {
            "subscription" => EnrollmentSource::Subscription,
            "admin" => EnrollmentSource::Admin,
            "free" => EnrollmentSource::Free,
            "lti" => EnrollmentSource::Lti,
            _ => EnrollmentSource::Purchase,
        }
    }
}

/// One entitlement as the access endpoint shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EntitlementView {
    pub entitlement_id: Uuid,
    pub course_id: Uuid,
    /// `order`, `subscription`, `coupon`, `admin`, `free` or `lti`.
    pub source: String,
    /// The order, subscription… that granted it.
    pub source_id: Uuid,
    /// `active`, `suspended`, `revoked` or `expired`.
    pub status: String,
    pub status_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub starts_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ends_at: Option<OffsetDateTime>,
}

/// The courses whose access may have changed in a transaction, to finish after its commit.
#[derive(Debug, Default)]
#[must_use = "call after_commit once the transaction is committed"]
pub struct Changes {
    lost: Vec<(Uuid, Uuid)>,
}

impl Changes {
    pub fn merge(&mut self, other: Self) {
        self.lost.extend(other.lost);
    }

    /// Ends the playback sessions of learners who lost a course (best effort; the manifests
    /// refuse them anyway, since the pass is closed).
    pub async fn after_commit(self, pool: &PgPool) {
        for (course_id, account_id) in self.lost {
            enrollments::after_access_lost(pool, course_id, account_id).await;
        }
    }
}

/// Grants `account_id` each of `course_ids` from `source`/`source_id`, until `ends_at`. Granting
/// again from the same source inserts nothing (unique per source and course); a suspended one
/// comes back. Returns how many were newly granted or restored.
pub async fn grant(
    conn: &mut PgConnection,
    account_id: Uuid,
    course_ids: &[Uuid],
    source: Source,
    source_id: Uuid,
    ends_at: Option<OffsetDateTime>,
) -> Result<(u64, Changes), PaymentError> {
    let inserted = sqlx::query!(
        r#"
        insert into entitlement (account_id, course_id, source, source_id, ends_at)
        select $1, course_id, $3, $4, $5 from unnest($2::uuid[]) as t(course_id)
        on conflict (source, source_id, course_id) do update
            set status = 'active', status_reason = null, ends_at = excluded.ends_at
            where entitlement.status = 'suspended'
               or (entitlement.status = 'active' and entitlement.ends_at is distinct from excluded.ends_at)
        "#,
        account_id,
        course_ids,
        source.as_str(),
        source_id,
        ends_at,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    let mut changes = Changes::default();
    for course_id in course_ids {
        changes.merge(follow(conn, account_id, *course_id).await?);
    }
    Ok((inserted, changes))
}

/// Moves the active (or, for `revoked`/`expired`, also suspended) entitlements of one source to
/// `to` (`suspended`, `revoked` or `expired`), and lets the enrolments follow.
pub async fn end(
    conn: &mut PgConnection,
    source: Source,
    source_id: Uuid,
    to: &str,
    reason: &str,
) -> Result<(u64, Changes), PaymentError> {
    let rows = sqlx::query!(
        r#"
        update entitlement set status = $3, status_reason = $4
        where source = $1 and source_id = $2
          and (status = 'active' or (status = 'suspended' and $3 in ('revoked', 'expired')))
        returning account_id, course_id
        "#,
        source.as_str(),
        source_id,
        to,
        reason,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut changes = Changes::default();
    for row in &rows {
        changes.merge(follow(conn, row.account_id, row.course_id).await?);
    }
    Ok((rows.len() as u64, changes))
}

/// Brings back the suspended entitlements of one source (a dispute won, a subscription paid).
pub async fn restore(conn: &mut PgConnection, source: Source, source_id: Uuid) -> Result<Changes, PaymentError> {
    let rows = sqlx::query!(
        r#"
        update entitlement set status = 'active', status_reason = null
        where source = $1 and source_id = $2 and status = 'suspended'
        returning account_id, course_id
        "#,
        source.as_str(),
        source_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut changes = Changes::default();
    for row in &rows {
        changes.merge(follow(conn, row.account_id, row.course_id).await?);
    }
    Ok(changes)
}

/// Makes the learner's enrolment agree with their entitlements to the course.
pub async fn follow(conn: &mut PgConnection, account_id: Uuid, course_id: Uuid) -> Result<Changes, PaymentError> {
    // The newest active entitlement names the enrolment's source.
    let active = sqlx::query_scalar!(
        r#"
        select source from entitlement
        where account_id = $1 and course_id = $2 and status = 'active' and (ends_at is null or ends_at > now())
        order by created_at desc limit 1
        "#,
        account_id,
        course_id,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(course) = courses::get(&mut *conn, course_id).await? else { return Err(PaymentError::CourseNotFound) };
    let mut changes = Changes::default();
    match active {
        Some(source) => {
            let current = enrollments::current(&mut *conn, course_id, account_id).await?;
            match current {
                Some(current) if current.status() == EnrollmentStatus::Suspended => {
                    enrollments::set_status(conn, current.enrollment_id, EnrollmentStatus::Active, None).await?;
                }
                Some(_) => {}
                None if course.status() == CourseStatus::Published => {
                    let request = Enroll {
                        account_id,
                        source: Source::enrollment_source(&source),
                        enrolled_by: None,
                        expires_at: None,
                        new_attempt: false,
                    };
                    enrollments::enroll(conn, &course, &request).await?;
                }
                // A draft or archived course takes no new enrolment; the entitlement stays
                // and is recorded, and `GET /v1/users/{id}/access/{course}` shows it.
                None => tracing::warn!(%course_id, %account_id, "entitlement to a course that takes no enrolments"),
            }
        }
        None => {
            let current = enrollments::current(&mut *conn, course_id, account_id).await?;
            if let Some(current) = current
                && current.status() == EnrollmentStatus::Active
                && matches!(current.source.as_str(), "purchase" | "subscription")
            {
                enrollments::set_status(
                    conn,
                    current.enrollment_id,
                    EnrollmentStatus::Suspended,
                    Some("entitlement_ended"),
                )
                .await
                .map_err(|error| match error {
                    TrainingError::Database(database) => PaymentError::Database(database),
                    other => PaymentError::Training(other),
                })?;
                changes.lost.push((course_id, account_id));
            }
        }
    }
    Ok(changes)
}

/// Every entitlement of a learner to a course, active first.
pub async fn list(pool: &PgPool, account_id: Uuid, course_id: Uuid) -> Result<Vec<EntitlementView>, PaymentError> {
    Ok(sqlx::query_as!(
        EntitlementView,
        r#"
        select entitlement_id, course_id, source, source_id,
               case when status = 'active' and ends_at <= now() then 'expired' else status end as "status!",
               status_reason, starts_at, ends_at
        from entitlement where account_id = $1 and course_id = $2
        order by (status = 'active' and (ends_at is null or ends_at > now())) desc, created_at desc
        "#,
        account_id,
        course_id,
    )
    .fetch_all(pool)
    .await?)
}

/// Active entitlements past their end date, at most `limit`: the sweep expires them.
pub async fn expire_due(pool: &PgPool, limit: i64) -> Result<u64, PaymentError> {
    let mut tx = pool.begin().await?;
    let rows = sqlx::query!(
        r#"
        update entitlement set status = 'expired', status_reason = 'ended'
        where entitlement_id in (select entitlement_id from entitlement
                                 where status = 'active' and ends_at <= now()
                                 order by ends_at limit $1 for update skip locked)
        returning account_id, course_id
        "#,
        limit,
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut changes = Changes::default();
    for row in &rows {
        changes.merge(follow(&mut tx, row.account_id, row.course_id).await?);
    }
    tx.commit().await?;
    changes.after_commit(pool).await;
    Ok(rows.len() as u64)
}
