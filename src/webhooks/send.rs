//! One send of one delivery: the body, the signature, the POST through the SSRF-guarded fetcher,
//! and the record of the attempt with the next step.
//!
//! The retry schedule is the delivery's own (`next_attempt_at`), not the job queue's backoff:
//! base·2ⁿ⁻¹ with ±20 % jitter, capped, for a window (24 h by default) from the first attempt.
//! Each scheduled send is one `webhooks.deliver` job carrying the delivery's `schedule` number;
//! a job whose number is stale (a manual retry or a newer schedule replaced it) does nothing.
//! The queue's own retries cover only our failures (the database), never the receiver's.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use axum::http::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;
use url::Url;
use uuid::Uuid;

use super::deliveries::{self, AfterAttempt, Attempt, SendRow};
use super::{WebhookSettings, Webhooks};
use crate::jobs::{EnqueueOptions, JobContext, JobError, JobHandler, queue};
use crate::metrics::{Metrics, OutcomeLabels};
use crate::net::GuardedFetcher;

/// `User-Agent` of every send.
pub const USER_AGENT: &str = concat!("Lectern-Webhooks/", env!("CARGO_PKG_VERSION"));

/// How much of a receiver's answer is kept with the attempt.
const EXCERPT_BYTES: usize = 1024;

/// Enqueues the send scheduled as `schedule`, due at the delivery's `next_attempt_at` (now for the
/// first send and manual retries; the caller sets `run_after` through the schedule otherwise).
pub async fn enqueue(
    conn: &mut sqlx::PgConnection,
    delivery_id: Uuid,
    schedule: i32,
    owner_id: Uuid,
    manual: bool,
) -> Result<(), sqlx::Error> {
    enqueue_at(conn, delivery_id, schedule, owner_id, manual, None).await
}

async fn enqueue_at(
    conn: &mut sqlx::PgConnection,
    delivery_id: Uuid,
    schedule: i32,
    owner_id: Uuid,
    manual: bool,
    run_after: Option<OffsetDateTime>,
) -> Result<(), sqlx::Error> {
    let options = EnqueueOptions {
        priority: super::dispatch::PRIORITY,
        unique_key: Some(format!("{}:{delivery_id}:{schedule}", DeliverJob::KIND)),
        owner_id: Some(owner_id),
        run_after,
        ..EnqueueOptions::default()
    };
    let payload = DeliverPayload { delivery_id, schedule, manual };
    let payload = serde_json::to_value(payload).map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
    queue::enqueue_in(conn, DeliverJob::KIND, &payload, options).await?;
    Ok(())
}

#[derive(Debug, Serialize, Deserialize)]
struct DeliverPayload {
    delivery_id: Uuid,
    schedule: i32,
    #[serde(default)]
    manual: bool,
}

/// The JSON body of a send, the same envelope for every kind of event; `data` is
/// [`AssetData`] for an asset event and the recorded `data` for any other. Field order is part of
/// the documented example, not of the contract.
#[derive(Debug, Serialize)]
struct EventBody<'a, Data> {
    /// The event id (UUIDv7): the same on every send of this event to every endpoint.
    id: Uuid,
    #[serde(rename = "type")]
    event_type: &'a str,
    #[serde(with = "time::serde::rfc3339")]
    created_at: OffsetDateTime,
    data: Data,
}

#[derive(Debug, Serialize)]
struct AssetData<'a> {
    /// The asset as `GET /v1/assets/{id}` showed it when the event happened.
    asset: &'a serde_json::Value,
}

/// The body of a delivery: the same bytes on every send.
pub fn body(row: &SendRow) -> Result<Vec<u8>, serde_json::Error> {
    let null = serde_json::Value::Null;
    if row.asset_id.is_some() {
        serde_json::to_vec(&EventBody {
            id: row.event_id,
            event_type: &row.event_type,
            created_at: row.event_created_at,
            data: AssetData { asset: row.asset_snapshot.as_ref().unwrap_or(&null) },
        })
    } else {
        serde_json::to_vec(&EventBody {
            id: row.event_id,
            event_type: &row.event_type,
            created_at: row.event_created_at,
            data: row.data.as_ref().unwrap_or(&null),
        })
    }
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, with one `v1` per secret:
/// the current one first, then (during a rotation's overlap) the previous one, as Stripe sends
/// several `v1` entries. A receiver accepts the send when any `v1` matches a secret it holds. The
/// key is the whole secret string as shown, `whsec_` included.
pub fn signature_header<S: AsRef<str>>(secrets: &[S], timestamp: i64, body: &[u8]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(secret.as_ref().as_bytes()).expect("HMAC takes keys of any length");
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    header
}

/// The wait before send `attempts + 1`: base·2^(attempts−1), at most `max`, times 0.8–1.2.
pub fn retry_delay(settings: &WebhookSettings, attempts: i32, jitter_unit: f64) -> Duration {
    let exponent = attempts.saturating_sub(1).clamp(0, 30);
    let base = settings.retry_base_delay.as_secs_f64() * 2f64.powi(exponent);
    let capped = base.min(settings.retry_max_delay.as_secs_f64());
    Duration::from_secs_f64(capped * (0.8 + 0.4 * jitter_unit.clamp(0.0, 1.0)))
}

pub struct DeliverJob {
    webhooks: Arc<Webhooks>,
    metrics: Arc<Metrics>,
    fetcher: GuardedFetcher,
}

impl DeliverJob {
    pub const KIND: &'static str = "webhooks.deliver";

    pub fn new(webhooks: Arc<Webhooks>, metrics: Arc<Metrics>) -> Self {
        let fetcher = GuardedFetcher::new(webhooks.settings.fetch.clone());
        Self { webhooks, metrics, fetcher }
    }
}

#[async_trait]
impl JobHandler for DeliverJob {
    fn kind(&self) -> &'static str {
        Self::KIND
    }

    async fn run(&self, context: JobContext, payload: serde_json::Value) -> Result<(), JobError> {
        let payload: DeliverPayload =
            serde_json::from_value(payload).map_err(|e| JobError::abort("invalid_payload", e.to_string()))?;
        let retry = |error: sqlx::Error| JobError::retry(crate::error_chain(&error));
        let Some(row) = deliveries::for_send(&context.pool, payload.delivery_id).await.map_err(retry)? else {
            // The endpoint (and with it the delivery) was deleted.
            return Ok(());
        };
        if row.schedule != payload.schedule || row.state != "pending" {
            return Ok(());
        }
        // A secret that does not open is ours to fix (a webhook key missing from the
        // configuration), not the receiver's: no attempt is recorded, the job retries.
        let secrets = self
            .webhooks
            .secrets
            .signing_secrets(&row.stored_secrets(), OffsetDateTime::now_utc())
            .map_err(|error| JobError::retry(crate::error_chain(&error)))?;
        let attempt = self.send(&row, &secrets, payload.manual).await;
        let mut tx = context.pool.begin().await.map_err(retry)?;
        let settings = &*self.webhooks.settings;
        let after = deliveries::record_attempt(
            &mut tx,
            row.webhook_delivery_id,
            payload.schedule,
            &attempt,
            settings.retry_window,
            |attempts| retry_delay(settings, attempts, rand::random::<f64>()),
        )
        .await
        .map_err(retry)?;
        if let AfterAttempt::RetryScheduled { schedule } = after {
            let delay = sqlx::query_scalar!(
                "select next_attempt_at from webhook_delivery where webhook_delivery_id = $1",
                row.webhook_delivery_id
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(retry)?;
            enqueue_at(&mut tx, row.webhook_delivery_id, schedule, row.owner_id, false, delay).await.map_err(retry)?;
        }
        tx.commit().await.map_err(retry)?;
        let outcome = match after {
            AfterAttempt::Succeeded => "succeeded",
            AfterAttempt::RetryScheduled { .. } => "retried",
            AfterAttempt::Failed => "failed",
            AfterAttempt::Superseded => "superseded",
        };
        self.metrics.webhook_deliveries.get_or_create(&OutcomeLabels { outcome }).inc();
        self.metrics
            .webhook_send_duration
            .get_or_create(&OutcomeLabels { outcome })
            .observe(f64::from(attempt.duration_ms) / 1000.0);
        tracing::info!(
            delivery_id = %row.webhook_delivery_id,
            event_id = %row.event_id,
            status = ?attempt.status_code,
            error = ?attempt.error,
            outcome,
            "webhook send"
        );
        Ok(())
    }
}

impl DeliverJob {
    /// One POST signed with `secrets`; never fails, the outcome is in the attempt.
    async fn send(&self, row: &SendRow, secrets: &[String], manual: bool) -> Attempt {
        let started_at = OffsetDateTime::now_utc();
        let started = Instant::now();
        let result = self.post(row, secrets).await;
        let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
        let (status_code, error, response_excerpt) = match result {
            Ok((status, excerpt)) => {
                let excerpt = excerpt_text(&excerpt);
                let error = (!(200..300).contains(&status)).then(|| format!("the receiver answered {status}"));
                (Some(i32::from(status)), error, excerpt)
            }
            Err(error) => (None, Some(error), None),
        };
        Attempt { started_at, duration_ms, status_code, error, response_excerpt, manual }
    }

    async fn post(&self, row: &SendRow, secrets: &[String]) -> Result<(u16, Bytes), String> {
        let url = Url::parse(&row.url).map_err(|e| format!("the stored URL does not parse: {e}"))?;
        let body = body(row).map_err(|e| format!("cannot serialise the event: {e}"))?;
        let timestamp = OffsetDateTime::now_utc().unix_timestamp();
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        };
        put("lectern-signature", signature_header(secrets, timestamp, &body));
        put("lectern-event-id", row.event_id.to_string());
        put("lectern-event-type", row.event_type.clone());
        put("lectern-delivery-id", row.webhook_delivery_id.to_string());
        let answer = self
            .fetcher
            .post(&url, USER_AGENT, headers, Bytes::from(body))
            .await
            .map_err(|error| crate::error_chain(&error))?;
        let excerpt = answer.excerpt.slice(..answer.excerpt.len().min(EXCERPT_BYTES));
        Ok((answer.status, excerpt))
    }
}

/// The start of a receiver's answer as storable text: invalid UTF-8 replaced, and NUL removed
/// (PostgreSQL text cannot hold it, and a row that cannot be written would make the send repeat).
fn excerpt_text(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes).replace('\0', "");
    (!text.is_empty()).then_some(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_as_text_postgres_accepts() {
        assert_eq!(excerpt_text(b"ok"), Some("ok".to_owned()));
        assert_eq!(excerpt_text(b"a\0b\xff"), Some("ab\u{fffd}".to_owned()));
        assert_eq!(excerpt_text(b"\0"), None);
        assert_eq!(excerpt_text(b""), None);
    }

    fn send_row(
        asset_id: Option<Uuid>,
        asset_snapshot: Option<serde_json::Value>,
        data: Option<serde_json::Value>,
    ) -> SendRow {
        SendRow {
            webhook_delivery_id: Uuid::nil(),
            state: "pending".to_owned(),
            schedule: 0,
            attempts: 0,
            owner_id: Uuid::nil(),
            url: "https://example.com/hook".to_owned(),
            webhook_endpoint_id: Uuid::nil(),
            secret: Some("whsec_test".to_owned()),
            secret_key_id: None,
            secret_sealed: None,
            previous_secret_key_id: None,
            previous_secret_sealed: None,
            previous_secret_expires_at: None,
            event_id: Uuid::parse_str("019ac1f2-7d1e-7c3a-9b1e-3f5a2c9d8e10").expect("uuid"),
            event_type: if asset_id.is_some() { "asset.ready" } else { "enrollment.created" }.to_owned(),
            event_created_at: OffsetDateTime::from_unix_timestamp(1_795_688_102).expect("time"),
            asset_id,
            asset_snapshot,
            data,
        }
    }

    #[test]
    fn an_asset_event_body_is_the_asset_snapshot_under_data_asset() {
        // The bytes receivers have always got for an asset event; this pins them.
        let snapshot = serde_json::json!({"id": "6f0c", "status": "ready", "playable": true});
        let row = send_row(Some(Uuid::nil()), Some(snapshot), None);
        assert_eq!(
            String::from_utf8(body(&row).expect("serialises")).expect("utf-8"),
            r#"{"id":"019ac1f2-7d1e-7c3a-9b1e-3f5a2c9d8e10","type":"asset.ready","created_at":"2026-11-26T10:15:02Z","data":{"asset":{"id":"6f0c","playable":true,"status":"ready"}}}"#
        );
    }

    #[test]
    fn any_other_event_body_carries_the_recorded_data_as_data() {
        let data = serde_json::json!({"enrollment": {"id": "e1", "course_id": "c1"}});
        let row = send_row(None, None, Some(data));
        assert_eq!(
            String::from_utf8(body(&row).expect("serialises")).expect("utf-8"),
            r#"{"id":"019ac1f2-7d1e-7c3a-9b1e-3f5a2c9d8e10","type":"enrollment.created","created_at":"2026-11-26T10:15:02Z","data":{"enrollment":{"course_id":"c1","id":"e1"}}}"#
        );
    }

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac whsec_test
        let header = signature_header(&["whsec_test"], 1_700_000_000, br#"{"a":1}"#);
        assert_eq!(header, "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789");
        assert_ne!(header, signature_header(&["whsec_other"], 1_700_000_000, br#"{"a":1}"#));
    }

    #[test]
    fn during_an_overlap_each_secret_adds_its_own_v1_current_first() {
        let both = signature_header(&["whsec_test", "whsec_other"], 1_700_000_000, br#"{"a":1}"#);
        let other = signature_header(&["whsec_other"], 1_700_000_000, br#"{"a":1}"#);
        let other_v1 = other.split_once(",v1=").expect("v1").1;
        assert_eq!(
            both,
            format!("t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789,v1={other_v1}")
        );
    }

    #[test]
    fn retries_double_from_the_base_and_are_capped() {
        let settings = WebhookSettings::default();
        assert_eq!(retry_delay(&settings, 1, 0.5), Duration::from_secs(30));
        assert_eq!(retry_delay(&settings, 2, 0.5), Duration::from_secs(60));
        assert_eq!(retry_delay(&settings, 4, 0.5), Duration::from_secs(240));
        assert_eq!(retry_delay(&settings, 20, 0.5), Duration::from_secs(3600));
        assert!(retry_delay(&settings, 1, 0.0) >= Duration::from_secs(24));
        assert!(retry_delay(&settings, 1, 1.0) <= Duration::from_secs(36));
    }
}
