//! Fan-out: from the `asset_event` outbox to one `webhook_delivery` per interested endpoint.
//!
//! The outbox holds two kinds of event. An asset event (`asset_id` set) is heard by the asset's
//! owner and delivers the asset snapshot; media records it, calling [`prepare`] and [`enqueue`].
//! Any other event (`owner_id` set, `asset_id` null) is heard by that account and delivers the
//! `data` its domain gave; [`record_account_event`] records it. Both run inside the transaction
//! that records the event, which enqueues one `webhooks.dispatch` job for the owner.
//!
//! The job turns all of the owner's undispatched events (of both kinds) into deliveries in
//! batches, one transaction per batch, so when events come in a burst the first job does the
//! work and the others find nothing. The jobs are deliberately not coalesced with a unique key:
//! a key also matches a job that is already *running*, so an event committed while it runs
//! (after its last look) would get no job and wait for the sweep; and a shared key makes
//! concurrent transactions of one owner wait on each other's uncommitted job row. The same kind
//! with an empty payload runs periodically for every owner: it catches events whose dispatch job
//! gave up, and re-enqueues sends whose job was lost.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use super::WebhookSettings;
use crate::jobs::{EnqueueOptions, JobContext, JobError, JobHandler, queue};
use crate::media::MediaError;
use crate::media::assets::{self, AssetId};
use crate::media::views::{AssetView, RenditionView};

/// Webhook jobs go before media work of the same age: they are short, and a receiver waiting for
/// `asset.ready` should not wait behind a queue of transcodes.
pub const PRIORITY: i16 = 10;

/// Events fanned out per transaction.
const BATCH: i64 = 100;

/// A send whose job should have run this long ago is re-enqueued by the sweep.
const OVERDUE: Duration = Duration::from_secs(300);

/// What an event needs when an endpoint will want it.
pub struct FanOut {
    pub owner_id: Uuid,
    /// The asset as `GET /v1/assets/{id}` shows it at this point of the transaction.
    pub snapshot: serde_json::Value,
}

/// `Some` when the event is of a delivered type and an endpoint of the asset's owner wants it:
/// then the caller stores the snapshot with the event and [`enqueue`]s the fan-out. Called by
/// `record_event` on its connection, so it sees the change the event reports.
pub async fn prepare(
    conn: &mut PgConnection,
    asset_id: AssetId,
    event_type: &str,
) -> Result<Option<FanOut>, MediaError> {
    if !super::is_delivered(event_type) {
        return Ok(None);
    }
    let Some(row) = assets::row_in(&mut *conn, asset_id).await? else { return Ok(None) };
    if !wanted(&mut *conn, row.owner_id, event_type).await? {
        return Ok(None);
    }
    let mut view = AssetView::from_row(&row);
    if let Some(version) = row.current_version {
        view.renditions = crate::media::versions::renditions(&mut *conn, asset_id, version)
            .await?
            .iter()
            .map(RenditionView::from)
            .collect();
    }
    let snapshot = serde_json::to_value(&view).map_err(|e| MediaError::Corrupt(format!("asset view: {e}")))?;
    Ok(Some(FanOut { owner_id: row.owner_id, snapshot }))
}

/// Whether an endpoint of `owner_id` wants events of this type (the endpoints committed so far;
/// one created later gets only events recorded after it, see [`fan_out_batch`]).
async fn wanted(conn: &mut PgConnection, owner_id: Uuid, event_type: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"
        select exists(select 1 from webhook_endpoint
                      where owner_id = $1 and (cardinality(events) = 0 or $2 = any(events))) as "wanted!"
        "#,
        owner_id,
        event_type,
    )
    .fetch_one(conn)
    .await
}

/// Records an event that is not about an asset (`enrollment.created`, `lesson.completed`,
/// `certificate.issued`, …) for the account whose endpoints hear it, and returns its id (a
/// UUIDv7, like every event's: ordered by time). Call it inside the transaction of the change it
/// reports, so the event exists exactly when the change does.
///
/// Receivers get `{"id", "type", "created_at", "data"}` with `data` as given here (as stored by
/// PostgreSQL's `jsonb`: the same values, object keys not in the order given). Give the
/// receiver what it needs to act without calling back, e.g. `{"enrollment": {…}}`, and nothing
/// the owner should not see. When an endpoint of the owner wants the type, the fan-out is
/// enqueued in the same transaction; otherwise the event is stored already dispatched (endpoints
/// created later never get it). A type that webhooks do not deliver is recorded and never sent.
/// `asset.*` types are refused by the table (a check violation): asset events are media's,
/// through `record_event`.
pub async fn record_account_event(
    conn: &mut PgConnection,
    owner_id: Uuid,
    event_type: &str,
    data: serde_json::Value,
) -> Result<Uuid, sqlx::Error> {
    let event_id = Uuid::now_v7();
    let wanted = super::is_delivered(event_type) && wanted(&mut *conn, owner_id, event_type).await?;
    sqlx::query!(
        r#"
        insert into asset_event (event_id, owner_id, type, data, dispatched_at)
        values ($1, $2, $3, $4, case when $5::boolean then null else now() end)
        "#,
        event_id,
        owner_id,
        event_type,
        data,
        wanted,
    )
    .execute(&mut *conn)
    .await?;
    if wanted {
        enqueue(&mut *conn, owner_id).await?;
    }
    Ok(event_id)
}

/// Enqueues a fan-out of the owner's events (see the module documentation for why every event
/// gets its own job).
pub async fn enqueue(conn: &mut PgConnection, owner_id: Uuid) -> Result<(), sqlx::Error> {
    let options = EnqueueOptions { priority: PRIORITY, owner_id: Some(owner_id), ..EnqueueOptions::default() };
    queue::enqueue_in(conn, DispatchJob::KIND, &serde_json::json!({ "owner_id": owner_id }), options).await?;
    Ok(())
}

#[derive(Debug, Deserialize)]
struct DispatchPayload {
    /// One owner's events; absent for the periodic sweep of everything.
    owner_id: Option<Uuid>,
}

pub struct DispatchJob {
    settings: Arc<WebhookSettings>,
}

impl DispatchJob {
    pub const KIND: &'static str = "webhooks.dispatch";

    pub fn new(settings: Arc<WebhookSettings>) -> Self {
        Self { settings }
    }
}

#[async_trait]
impl JobHandler for DispatchJob {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    async fn run(&self, context: JobContext, payload: serde_json::Value) -> Result<(), JobError> {
        let payload: DispatchPayload =
            serde_json::from_value(payload).map_err(|e| JobError::abort("invalid_payload", e.to_string()))?;
        let retry = |error: sqlx::Error| JobError::retry(crate::error_chain(&error));
        loop {
            let (events, deliveries) = fan_out_batch(&context.pool, payload.owner_id).await.map_err(retry)?;
            if events > 0 {
                tracing::info!(events, deliveries, "webhook events dispatched");
            }
            if events < BATCH as usize {
                break;
            }
        }
        if payload.owner_id.is_none() {
            let rescued = rescue_overdue(&context.pool).await.map_err(retry)?;
            if rescued > 0 {
                tracing::warn!(rescued, "re-enqueued overdue webhook sends");
            }
        }
        Ok(())
    }

    fn every(&self) -> Option<Duration> {
        Some(self.settings.sweep_interval)
    }
}

/// One transaction: lock up to [`BATCH`] undispatched events (skipping those another dispatcher
/// holds), make their deliveries, enqueue a send for each, mark the events dispatched. Returns
/// how many events and deliveries. An endpoint gets the events recorded after it was created.
///
/// The owner of an event is its asset's owner, or, for an event about no asset, its `owner_id`
/// (hence the outer join); what there is to send is the snapshot or the `data`, and an event
/// with neither has nothing for anyone.
async fn fan_out_batch(pool: &PgPool, owner_id: Option<Uuid>) -> Result<(usize, usize), sqlx::Error> {
    let mut tx = pool.begin().await?;
    let events = sqlx::query_scalar!(
        r#"
        select e.event_id from asset_event e left join asset a using (asset_id)
        where e.dispatched_at is null and ($1::uuid is null or coalesce(a.owner_id, e.owner_id) = $1)
        order by e.event_id
        limit $2
        for update of e skip locked
        "#,
        owner_id,
        BATCH,
    )
    .fetch_all(&mut *tx)
    .await?;
    if events.is_empty() {
        return Ok((0, 0));
    }
    let deliveries = sqlx::query!(
        r#"
        with inserted as (
            insert into webhook_delivery (webhook_endpoint_id, event_id, next_attempt_at)
            select w.webhook_endpoint_id, e.event_id, now()
            from asset_event e
            left join asset a using (asset_id)
            join webhook_endpoint w on w.owner_id = coalesce(a.owner_id, e.owner_id)
            where e.event_id = any($1)
              and coalesce(e.asset_snapshot, e.data) is not null
              and (cardinality(w.events) = 0 or e.type = any(w.events))
              and w.created_at <= e.created_at
            on conflict (webhook_endpoint_id, event_id) do nothing
            returning webhook_delivery_id, webhook_endpoint_id
        )
        select i.webhook_delivery_id, w.owner_id
        from inserted i join webhook_endpoint w using (webhook_endpoint_id)
        "#,
        &events,
    )
    .fetch_all(&mut *tx)
    .await?;
    for delivery in &deliveries {
        super::send::enqueue(&mut tx, delivery.webhook_delivery_id, 0, delivery.owner_id, false).await?;
    }
    sqlx::query!("update asset_event set dispatched_at = now() where event_id = any($1)", &events)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((events.len(), deliveries.len()))
}

/// Re-enqueues the send of pending deliveries that are long overdue (their job failed for good
/// on infrastructure errors, or was lost). The job's unique key includes the delivery's schedule,
/// so a send that is still queued is not doubled.
async fn rescue_overdue(pool: &PgPool) -> Result<usize, sqlx::Error> {
    let overdue = sqlx::query!(
        r#"
        select d.webhook_delivery_id, d.schedule, w.owner_id
        from webhook_delivery d join webhook_endpoint w using (webhook_endpoint_id)
        where d.state = 'pending' and d.next_attempt_at < now() - make_interval(secs => $1)
        order by d.next_attempt_at
        limit 1000
        "#,
        OVERDUE.as_secs_f64(),
    )
    .fetch_all(pool)
    .await?;
    let mut conn = pool.acquire().await?;
    for delivery in &overdue {
        super::send::enqueue(&mut conn, delivery.webhook_delivery_id, delivery.schedule, delivery.owner_id, false)
            .await?;
    }
    Ok(overdue.len())
}
