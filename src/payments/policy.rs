//! All SQL of `seller_payment_policy`: a seller's refund rules. Whether a partial refund ends
//! access (else the server's `LECTERN_PAYMENTS_PARTIAL_REFUND_REVOKES`), and the refund policy
//! the quote evaluates: "a full refund within N days of payment if less than P % of the course
//! was watched". [`evaluate`] is the pure rule; the share watched comes from the training
//! domain's progress ([`watched_ratio`]), read through its functions, never its tables.

use serde::Serialize;
use sqlx::PgConnection;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{PaymentError, PaymentSettings};
use crate::training::courses::LessonKind;
use crate::training::{coverage, progress};

/// A seller's policy as stored (`None`: the server's default, or no automatic refund rule).
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct PolicyView {
    pub owner_id: Uuid,
    /// Whether a partial refund ends the order's access; null: the server's default.
    pub partial_refund_revokes: Option<bool>,
    /// The server's default, for reference.
    pub partial_refund_revokes_default: bool,
    /// A full refund is offered within this many days of payment…
    pub refund_window_days: Option<i32>,
    /// …if less than this share (percent) of the course was watched.
    pub refund_max_watched_percent: Option<i32>,
}

pub async fn get(
    conn: &mut PgConnection,
    owner_id: Uuid,
    settings: &PaymentSettings,
) -> Result<PolicyView, PaymentError> {
    let row = sqlx::query!(
        r#"
        select partial_refund_revokes, refund_window_days, refund_max_watched_percent
        from seller_payment_policy where owner_id = $1
        "#,
        owner_id,
    )
    .fetch_optional(conn)
    .await?;
    Ok(PolicyView {
        owner_id,
        partial_refund_revokes: row.as_ref().and_then(|r| r.partial_refund_revokes),
        partial_refund_revokes_default: settings.partial_refund_revokes,
        refund_window_days: row.as_ref().and_then(|r| r.refund_window_days),
        refund_max_watched_percent: row.as_ref().and_then(|r| r.refund_max_watched_percent),
    })
}

/// Replaces the seller's policy (validated by the route).
pub async fn put(
    conn: &mut PgConnection,
    owner_id: Uuid,
    partial_refund_revokes: Option<bool>,
    window: Option<(i32, i32)>,
) -> Result<(), PaymentError> {
    sqlx::query!(
        r#"
        insert into seller_payment_policy (owner_id, partial_refund_revokes, refund_window_days, refund_max_watched_percent)
        values ($1, $2, $3, $4)
        on conflict (owner_id) do update
            set partial_refund_revokes = excluded.partial_refund_revokes,
                refund_window_days = excluded.refund_window_days,
                refund_max_watched_percent = excluded.refund_max_watched_percent
        "#,
        owner_id,
        partial_refund_revokes,
        window.map(|w| w.0),
        window.map(|w| w.1),
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Whether a partial refund of one of `owner_id`'s orders ends its access.
pub async fn partial_refund_revokes(
    conn: &mut PgConnection,
    owner_id: Uuid,
    settings: &PaymentSettings,
) -> Result<bool, PaymentError> {
    let own =
        sqlx::query_scalar!("select partial_refund_revokes from seller_payment_policy where owner_id = $1", owner_id)
            .fetch_optional(conn)
            .await?
            .flatten();
    Ok(own.unwrap_or(settings.partial_refund_revokes))
}

/// What the refund policy offers for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub eligible: bool,
    /// Minor units offered (the whole refundable amount when eligible, else 0).
    pub amount: i64,
    /// `within_policy`, `no_policy`, `not_refundable`, `nothing_left`, `window_passed` or
    /// `watched_too_much`.
    pub reason: &'static str,
}

/// The pure rule: a full refund of what is left when the order is paid, within the window from
/// `paid_at`, and less than the maximum share was watched (`watched_ratio` in 0…1). The window
/// is checked before the share, so a late request is told it is late.
pub fn evaluate(
    policy: &PolicyView,
    order_status: &str,
    paid_at: Option<OffsetDateTime>,
    refundable: i64,
    watched_ratio: f64,
    now: OffsetDateTime,
) -> Verdict {
    let refuse = |reason| Verdict { eligible: false, amount: 0, reason };
    if !matches!(order_status, "paid" | "partially_refunded") {
        return refuse("not_refundable");
    }
    if refundable <= 0 {
        return refuse("nothing_left");
    }
    let (Some(days), Some(max_percent)) = (policy.refund_window_days, policy.refund_max_watched_percent) else {
        return refuse("no_policy");
    };
    let Some(paid_at) = paid_at else { return refuse("not_refundable") };
    if now - paid_at > time::Duration::days(i64::from(days)) {
        return refuse("window_passed");
    }
    if watched_ratio * 100.0 >= f64::from(max_percent) {
        return refuse("watched_too_much");
    }
    Verdict { eligible: true, amount: refundable, reason: "within_policy" }
}

/// The share (0…1) of the video seconds of `course_ids` that the learner watched, from the
/// training domain's progress of their current enrolments (a course without an enrolment counts
/// as unwatched). Text lessons do not count.
pub async fn watched_ratio(pool: &sqlx::PgPool, account_id: Uuid, course_ids: &[Uuid]) -> Result<f64, PaymentError> {
    let (mut covered, mut total) = (0u64, 0u64);
    for course_id in course_ids {
        let outline = progress::current_outline(pool, *course_id, account_id).await.map_err(training_error)?;
        let Some((_, lessons)) = outline else { continue };
        for (lesson, stored) in &lessons {
            if lesson.kind() != LessonKind::Video {
                continue;
            }
            let seconds = coverage::seconds_of(lesson.duration_ms.and_then(|d| u64::try_from(d).ok()).unwrap_or(0));
            total += u64::from(seconds);
            covered += u64::from(stored.as_ref().map_or(0, |p| p.covered_seconds.min(seconds)));
        }
    }
    Ok(if total == 0 { 0.0 } else { covered as f64 / total as f64 })
}

fn training_error(error: crate::training::TrainingError) -> PaymentError {
    match error {
        crate::training::TrainingError::Database(database) => PaymentError::Database(database),
        other => PaymentError::Training(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(days: Option<i32>, percent: Option<i32>) -> PolicyView {
        PolicyView { refund_window_days: days, refund_max_watched_percent: percent, ..PolicyView::default() }
    }

    #[test]
    fn a_full_refund_within_the_window_when_little_was_watched() {
        let now = OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("time");
        let paid = Some(now - time::Duration::days(3));
        let rule = policy(Some(14), Some(20));
        let verdict =
            |status: &str, paid_at, refundable, ratio| evaluate(&rule, status, paid_at, refundable, ratio, now);
        assert_eq!(
            verdict("paid", paid, 4900, 0.19),
            Verdict { eligible: true, amount: 4900, reason: "within_policy" }
        );
        assert_eq!(verdict("paid", paid, 4900, 0.20).reason, "watched_too_much");
        assert_eq!(verdict("paid", Some(now - time::Duration::days(15)), 4900, 0.0).reason, "window_passed");
        assert_eq!(verdict("partially_refunded", paid, 3900, 0.0).amount, 3900);
        assert_eq!(verdict("refunded", paid, 0, 0.0).reason, "not_refundable");
        assert_eq!(verdict("pending", None, 4900, 0.0).reason, "not_refundable");
        assert_eq!(verdict("paid", paid, 0, 0.0).reason, "nothing_left");
        assert_eq!(evaluate(&policy(None, None), "paid", paid, 4900, 0.0, now).reason, "no_policy");
        // Exactly on the window's last second still counts.
        assert!(verdict("paid", Some(now - time::Duration::days(14)), 1, 0.0).eligible);
    }
}
