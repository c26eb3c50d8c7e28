//! All SQL of `webhook_delivery` and `webhook_attempt`: what a send needs, recording its
//! outcome, manual retries, and the listing the owner sees.

use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

use super::WebhookError;

/// Everything one send needs: the delivery, its endpoint and its event.
#[derive(Debug, Clone)]
pub struct SendRow {
    pub webhook_delivery_id: Uuid,
    pub state: String,
    pub schedule: i32,
    pub attempts: i32,
    pub owner_id: Uuid,
    pub url: String,
    pub webhook_endpoint_id: Uuid,
    /// The endpoint's secrets as stored (see `super::secrets`).
    pub secret: Option<String>,
    pub secret_key_id: Option<String>,
    pub secret_sealed: Option<Vec<u8>>,
    pub previous_secret_key_id: Option<String>,
    pub previous_secret_sealed: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<OffsetDateTime>,
    pub event_id: Uuid,
    pub event_type: String,
    pub event_created_at: OffsetDateTime,
    /// Set for an asset event, whose body carries `asset_snapshot`; null for any other event,
    /// whose body carries `data`.
    pub asset_id: Option<Uuid>,
    pub asset_snapshot: Option<serde_json::Value>,
    pub data: Option<serde_json::Value>,
}

impl SendRow {
    pub fn stored_secrets(&self) -> super::secrets::StoredSecrets<'_> {
        super::secrets::StoredSecrets {
            endpoint_id: self.webhook_endpoint_id,
            clear: self.secret.as_deref(),
            key_id: self.secret_key_id.as_deref(),
            sealed: self.secret_sealed.as_deref(),
            previous_key_id: self.previous_secret_key_id.as_deref(),
            previous_sealed: self.previous_secret_sealed.as_deref(),
            previous_expires_at: self.previous_secret_expires_at,
        }
    }
}

pub async fn for_send(pool: &PgPool, delivery_id: Uuid) -> Result<Option<SendRow>, sqlx::Error> {
    sqlx::query_as!(
        SendRow,
        r#"
        select d.webhook_delivery_id, d.state, d.schedule, d.attempts, w.owner_id, w.url, w.webhook_endpoint_id,
               w.secret, w.secret_key_id, w.secret_sealed, w.previous_secret_key_id, w.previous_secret_sealed,
               w.previous_secret_expires_at, e.event_id, e.type as event_type, e.created_at as event_created_at, e.asset_id,
               e.asset_snapshot, e.data
        from webhook_delivery d
        join webhook_endpoint w using (webhook_endpoint_id)
        join asset_event e using (event_id)
        where d.webhook_delivery_id = $1
        "#,
        delivery_id,
    )
    .fetch_optional(pool)
    .await
}

/// One finished send.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub started_at: OffsetDateTime,
    pub duration_ms: i32,
    pub status_code: Option<i32>,
    pub error: Option<String>,
    pub response_excerpt: Option<String>,
    pub manual: bool,
}

impl Attempt {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }
}

/// How a delivery stands after an attempt was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    Succeeded,
    /// Failed; the next send is scheduled with this schedule number.
    RetryScheduled {
        schedule: i32,
    },
    /// Failed and the retry window is over.
    Failed,
    /// The delivery moved on while this send was in flight (a manual retry rescheduled it, or the
    /// endpoint was deleted): the attempt is recorded, the schedule is not touched.
    Superseded,
}

/// Records `attempt` of the send scheduled as `schedule` and decides what comes next, in the
/// caller's transaction. `next_delay` gives the wait before the next send from the number of
/// attempts made; a send that would start after `first_attempt_at + window` is not scheduled and
/// the delivery is `failed`.
pub async fn record_attempt(
    conn: &mut PgConnection,
    delivery_id: Uuid,
    schedule: i32,
    attempt: &Attempt,
    window: std::time::Duration,
    next_delay: impl FnOnce(i32) -> std::time::Duration,
) -> Result<AfterAttempt, sqlx::Error> {
    let inserted = sqlx::query!(
        r#"
        insert into webhook_attempt (webhook_attempt_id, webhook_delivery_id, started_at, duration_ms,
                                     status_code, error, response_excerpt, manual)
        select $1, $2, $3, $4, $5, $6, $7, $8
        where exists(select 1 from webhook_delivery where webhook_delivery_id = $2)
        "#,
        Uuid::now_v7(),
        delivery_id,
        attempt.started_at,
        attempt.duration_ms,
        attempt.status_code,
        attempt.error,
        attempt.response_excerpt,
        attempt.manual,
    )
    .execute(&mut *conn)
    .await?;
    if inserted.rows_affected() == 0 {
        return Ok(AfterAttempt::Superseded);
    }
    // Counting the attempt locks the row, so the decision below cannot race a manual retry.
    let Some(counted) = sqlx::query!(
        r#"
        update webhook_delivery
        set attempts = attempts + 1,
            first_attempt_at = coalesce(first_attempt_at, $2),
            last_attempt_at = $2, last_status_code = $3, last_error = $4
        where webhook_delivery_id = $1
        returning attempts, schedule, state, first_attempt_at as "first_attempt_at!"
        "#,
        delivery_id,
        attempt.started_at,
        attempt.status_code,
        attempt.error,
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(AfterAttempt::Superseded);
    };
    if counted.schedule != schedule || counted.state != "pending" {
        return Ok(AfterAttempt::Superseded);
    }
    if attempt.succeeded() {
        sqlx::query!(
            r#"
            update webhook_delivery set state = 'succeeded', delivered_at = now(), next_attempt_at = null
            where webhook_delivery_id = $1
            "#,
            delivery_id
        )
        .execute(&mut *conn)
        .await?;
        return Ok(AfterAttempt::Succeeded);
    }
    let delay = next_delay(counted.attempts);
    let next = OffsetDateTime::now_utc() + delay;
    if next > counted.first_attempt_at + window {
        sqlx::query!(
            "update webhook_delivery set state = 'failed', next_attempt_at = null where webhook_delivery_id = $1",
            delivery_id
        )
        .execute(&mut *conn)
        .await?;
        return Ok(AfterAttempt::Failed);
    }
    let schedule = sqlx::query_scalar!(
        r#"
        update webhook_delivery set schedule = schedule + 1, next_attempt_at = $2
        where webhook_delivery_id = $1
        returning schedule
        "#,
        delivery_id,
        next,
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(AfterAttempt::RetryScheduled { schedule })
}

/// A delivery and who owns its endpoint (for access checks).
#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub webhook_delivery_id: Uuid,
    pub webhook_endpoint_id: Uuid,
    pub owner_id: Uuid,
    pub event_id: Uuid,
    pub event_type: String,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: Option<OffsetDateTime>,
    pub delivered_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

pub async fn get(pool: &PgPool, delivery_id: Uuid) -> Result<Option<DeliveryRow>, WebhookError> {
    Ok(sqlx::query_as!(
        DeliveryRow,
        r#"
        select d.webhook_delivery_id, d.webhook_endpoint_id, w.owner_id, d.event_id, e.type as event_type,
               d.state, d.attempts, d.next_attempt_at, d.delivered_at, d.created_at
        from webhook_delivery d
        join webhook_endpoint w using (webhook_endpoint_id)
        join asset_event e using (event_id)
        where d.webhook_delivery_id = $1
        "#,
        delivery_id,
    )
    .fetch_optional(pool)
    .await?)
}

/// Puts a delivery (in any state) back to `pending` for a send now, and enqueues that send, in
/// one transaction. The automatic schedule it replaces is superseded; the retry window still
/// counts from the first attempt, so a manual retry of a `failed` delivery that fails again
/// ends `failed` again.
pub async fn retry_now(pool: &PgPool, delivery_id: Uuid) -> Result<Option<DeliveryRow>, WebhookError> {
    let mut tx = pool.begin().await?;
    let scheduled = sqlx::query!(
        r#"
        update webhook_delivery d
        set state = 'pending', schedule = schedule + 1, next_attempt_at = now(), delivered_at = null
        from webhook_endpoint w
        where d.webhook_delivery_id = $1 and w.webhook_endpoint_id = d.webhook_endpoint_id
        returning d.schedule, w.owner_id
        "#,
        delivery_id,
    )
    .fetch_optional(&mut *tx)
    .await?;
    let Some(scheduled) = scheduled else { return Ok(None) };
    super::send::enqueue(&mut tx, delivery_id, scheduled.schedule, scheduled.owner_id, true).await?;
    tx.commit().await?;
    get(pool, delivery_id).await
}

/// Where a listing page starts: strictly older than this delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListCursor {
    pub created_at: OffsetDateTime,
    pub delivery_id: Uuid,
}

/// One endpoint's deliveries, newest first, after `cursor`.
pub async fn list(
    pool: &PgPool,
    endpoint_id: Uuid,
    cursor: Option<ListCursor>,
    limit: i64,
) -> Result<Vec<DeliveryRow>, WebhookError> {
    Ok(sqlx::query_as!(
        DeliveryRow,
        r#"
        select d.webhook_delivery_id, d.webhook_endpoint_id, w.owner_id, d.event_id, e.type as event_type,
               d.state, d.attempts, d.next_attempt_at, d.delivered_at, d.created_at
        from webhook_delivery d
        join webhook_endpoint w using (webhook_endpoint_id)
        join asset_event e using (event_id)
        where d.webhook_endpoint_id = $1
          and ($2::timestamptz is null or (d.created_at, d.webhook_delivery_id) < ($2, $3::uuid))
        order by d.created_at desc, d.webhook_delivery_id desc
        limit $4
        "#,
        endpoint_id,
        cursor.map(|c| c.created_at),
        cursor.map(|c| c.delivery_id),
        limit,
    )
    .fetch_all(pool)
    .await?)
}

/// The attempts of these deliveries, oldest first, as (delivery id, attempt).
pub async fn attempts(pool: &PgPool, delivery_ids: &[Uuid]) -> Result<Vec<(Uuid, Attempt)>, WebhookError> {
    let rows = sqlx::query!(
        r#"
        select webhook_delivery_id, started_at, duration_ms, status_code, error, response_excerpt, manual
        from webhook_attempt where webhook_delivery_id = any($1)
        order by webhook_attempt_id
        "#,
        delivery_ids,
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let attempt = Attempt {
                started_at: row.started_at,
                duration_ms: row.duration_ms,
                status_code: row.status_code,
                error: row.error,
                response_excerpt: row.response_excerpt,
                manual: row.manual,
            };
            (row.webhook_delivery_id, attempt)
        })
        .collect())
}
