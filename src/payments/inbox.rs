//! All SQL of `payment_event`, the inbox of provider events: each event once, by provider and
//! event id. An event recorded but not processed (the process died between the insert and the
//! handling, or the handling failed) is handled again on the provider's retry; handlers are
//! idempotent, so that converges.

use sqlx::PgPool;

use super::PaymentError;

/// Records the event if new; returns whether it was already processed.
pub async fn record(
    pool: &PgPool,
    provider: &str,
    event_id: &str,
    event_type: &str,
    payload: &serde_json::Value,
) -> Result<bool, PaymentError> {
    Ok(sqlx::query_scalar!(
        r#"
        insert into payment_event (provider, event_id, event_type, payload) values ($1, $2, $3, $4)
        on conflict (provider, event_id) do update set attempts = payment_event.attempts
        returning processed_at is not null as "processed!"
        "#,
        provider,
        event_id,
        event_type,
        payload,
    )
    .fetch_one(pool)
    .await?)
}

/// Marks the event processed, or records why handling it failed (it stays unprocessed).
pub async fn finish(
    pool: &PgPool,
    provider: &str,
    event_id: &str,
    error: Option<&PaymentError>,
) -> Result<(), PaymentError> {
    let last_error = error.map(|error| crate::error_chain(error));
    sqlx::query!(
        r#"
        update payment_event
        set processed_at = case when $3::text is null then now() end, attempts = attempts + 1, last_error = $3
        where provider = $1 and event_id = $2
        "#,
        provider,
        event_id,
        last_error,
    )
    .execute(pool)
    .await?;
    Ok(())
}
