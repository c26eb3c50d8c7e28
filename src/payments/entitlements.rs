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

/// An entitlement as its webhook events (`entitlement.granted`, `entitlement.revoked`) carry it.
#[derive(Debug, Clone, Serialize)]
struct EventRow {
    entitlement_id: Uuid,
    account_id: Uuid,
    course_id: Uuid,
    source: String,
    source_id: Uuid,
    status: String,
    status_reason: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    ends_at: Option<OffsetDateTime>,
}

/// Records one webhook event per changed entitlement for the course's owner (the seller), in
/// the transaction of the change, and lets each learner's enrolment follow.
async fn after_change(conn: &mut PgConnection, event_type: &str, rows: &[EventRow]) -> Result<Changes, PaymentError> {
    let mut changes = Changes::default();
    for row in rows {
        if let Some(course) = courses::get(&mut *conn, row.course_id).await? {
            let data = serde_json::to_value(row).unwrap_or_default();
            crate::webhooks::dispatch::record_account_event(&mut *conn, course.owner_id, event_type, data).await?;
        }
        changes.merge(follow(conn, row.account_id, row.course_id).await?);
    }
    Ok(changes)
}

/// Grants `account_id` each of `course_ids` from `source`/`source_id`, until `ends_at`. Granting
/// again from the same source inserts nothing (unique per source and course); a suspended one
/// comes back. Returns how many were newly granted or restored (each with an
/// `entitlement.granted` event).
pub async fn grant(
    conn: &mut PgConnection,
    account_id: Uuid,
    course_ids: &[Uuid],
    source: Source,
    source_id: Uuid,
    ends_at: Option<OffsetDateTime>,
) -> Result<(u64, Changes), PaymentError> {
    let rows = sqlx::query_as!(
        EventRow,
        r#"
        insert into entitlement (account_id, course_id, source, source_id, ends_at)
        select $1, course_id, $3, $4, $5 from unnest($2::uuid[]) as t(course_id)
        on conflict (source, source_id, course_id) do update
            set status = 'active', status_reason = null, ends_at = excluded.ends_at
            where entitlement.status = 'suspended'
               or (entitlement.status = 'active' and entitlement.ends_at is distinct from excluded.ends_at)
        returning entitlement_id, account_id, course_id, source, source_id, status, status_reason, ends_at
        "#,
        account_id,
        course_ids,
        source.as_str(),
        source_id,
        ends_at,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut changes = after_change(conn, "entitlement.granted", &rows).await?;
    // Courses granted before (nothing changed) still get their enrolment checked.
    for course_id in course_ids.iter().filter(|id| !rows.iter().any(|row| row.course_id == **id)) {
        changes.merge(follow(conn, account_id, *course_id).await?);
    }
    Ok((rows.len() as u64, changes))
}

/// Moves the active (or, for `revoked`/`expired`, also suspended) entitlements of one source to
/// `to` (`suspended`, `revoked` or `expired`), and lets the enrolments follow. Each one ended
/// records `entitlement.revoked` (its `status` says how it ended).
pub async fn end(
    conn: &mut PgConnection,
    source: Source,
    source_id: Uuid,
    to: &str,
    reason: &str,
) -> Result<(u64, Changes), PaymentError> {
    let rows = sqlx::query_as!(
        EventRow,
        r#"
        update entitlement set status = $3, status_reason = $4
        where source = $1 and source_id = $2
          and (status = 'active' or (status = 'suspended' and $3 in ('revoked', 'expired')))
        returning entitlement_id, account_id, course_id, source, source_id, status, status_reason, ends_at
        "#,
        source.as_str(),
        source_id,
        to,
        reason,
    )
    .fetch_all(&mut *conn)
    .await?;
    let changes = after_change(conn, "entitlement.revoked", &rows).await?;
    Ok((rows.len() as u64, changes))
}

/// Ends one entitlement by hand (an administrator's revoke): `revoked` with `reason`. Returns
/// `false` when it had ended already.
pub async fn revoke_one(
    conn: &mut PgConnection,
    entitlement_id: Uuid,
    reason: &str,
) -> Result<(bool, Changes), PaymentError> {
    let rows = sqlx::query_as!(
        EventRow,
        r#"
        update entitlement set status = 'revoked', status_reason = $2
        where entitlement_id = $1 and status in ('active', 'suspended')
        returning entitlement_id, account_id, course_id, source, source_id, status, status_reason, ends_at
        "#,
        entitlement_id,
        reason,
    )
    .fetch_all(&mut *conn)
    .await?;
    let changes = after_change(conn, "entitlement.revoked", &rows).await?;
    Ok((!rows.is_empty(), changes))
}

/// One entitlement with its learner.
pub async fn get(pool: &PgPool, entitlement_id: Uuid) -> Result<Option<(Uuid, EntitlementView)>, PaymentError> {
    let row = sqlx::query!(
        r#"
        select account_id, entitlement_id, course_id, source, source_id,
               case when status = 'active' and ends_at <= now() then 'expired' else status end as "status!",
               status_reason, starts_at, ends_at
        from entitlement where entitlement_id = $1
        "#,
        entitlement_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        (
            row.account_id,
            EntitlementView {
                entitlement_id: row.entitlement_id,
                course_id: row.course_id,
                source: row.source,
                source_id: row.source_id,
                status: row.status,
                status_reason: row.status_reason,
                starts_at: row.starts_at,
                ends_at: row.ends_at,
            },
        )
    }))
}

/// Brings back the suspended entitlements of one source (a dispute won, a subscription paid).
pub async fn restore(conn: &mut PgConnection, source: Source, source_id: Uuid) -> Result<Changes, PaymentError> {
    let rows = sqlx::query_as!(
        EventRow,
        r#"
        update entitlement set status = 'active', status_reason = null
        where source = $1 and source_id = $2 and status = 'suspended'
        returning entitlement_id, account_id, course_id, source, source_id, status, status_reason, ends_at
        "#,
        source.as_str(),
        source_id,
    )
    .fetch_all(&mut *conn)
    .await?;
    after_change(conn, "entitlement.granted", &rows).await
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
                && made_by_entitlements(conn, account_id, course_id, &current.source).await?
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

/// Whether an enrolment of this source is one entitlements made (and so one they may suspend):
/// purchases and subscriptions always; `admin`, `free` and `lti` enrolments only when an
/// entitlement of that source exists for the learner and course — an instructor's own
/// enrolment, a free join or an LTI launch are facts of their own otherwise.
async fn made_by_entitlements(
    conn: &mut PgConnection,
    account_id: Uuid,
    course_id: Uuid,
    enrollment_source: &str,
) -> Result<bool, PaymentError> {
    if matches!(enrollment_source, "purchase" | "subscription") {
        return Ok(true);
    }
    let sources = sqlx::query_scalar!(
        "select distinct source from entitlement where account_id = $1 and course_id = $2",
        account_id,
        course_id,
    )
    .fetch_all(conn)
    .await?;
    Ok(sources.iter().any(|source| Source::enrollment_source(source).as_str() == enrollment_source))
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
    let rows = sqlx::query_as!(
        EventRow,
        r#"
        update entitlement set status = 'expired', status_reason = 'ended'
        where entitlement_id in (select entitlement_id from entitlement
                                 where status = 'active' and ends_at <= now()
                                 order by ends_at limit $1 for update skip locked)
        returning entitlement_id, account_id, course_id, source, source_id, status, status_reason, ends_at
        "#,
        limit,
    )
    .fetch_all(&mut *tx)
    .await?;
    let changes = after_change(&mut tx, "entitlement.revoked", &rows).await?;
    tx.commit().await?;
    changes.after_commit(pool).await;
    Ok(rows.len() as u64)
}
