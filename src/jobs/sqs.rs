//! The optional SQS wake-up channel (`LECTERN_SQS_QUEUE_URL`), for AWS deployments.
//!
//! PostgreSQL stays the queue and the source of truth: a message's body is a job id, and a
//! worker woken by one still claims the most urgent due job from the `job` table (which may be
//! another one), exactly as after a `NOTIFY` or a poll. SQS only shortens the wait, and gives
//! CloudWatch a native backlog metric (`ApproximateNumberOfMessagesVisible`) to scale the worker
//! service on. Losing SQS, a message, or this whole channel delays jobs by at most the poll
//! interval; nothing is lost, and a duplicate message is only one more wake-up.
//!
//! - The **forwarder** sends one message per job that becomes queued (the `lectern_job_queued_id`
//!   notification, sent on commit). Every process with workers runs one, but only the holder of
//!   a PostgreSQL advisory lock on its listening connection forwards, so each job is sent once.
//! - The **receiver** takes messages only while this process has an idle worker, wakes the idle
//!   workers and deletes the messages. While every worker is busy, messages stay visible: the
//!   queue's depth then tracks the work waiting for capacity, which is what autoscaling wants.
//!   (Jobs that a busy worker claims straight from PostgreSQL leave their message behind until
//!   some worker is idle; the depth over-counts by those, briefly.)

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The notification channel the job trigger sends job ids on.
const CHANNEL: &str = "lectern_job_queued_id";
/// The advisory lock whose holder forwards (any constant unique to this use).
const FORWARDER_LOCK: i64 = 0x6c65_6374_7371_7331; // "lectsqs1"

/// Where the wake-up messages go.
#[derive(Debug, Clone)]
pub struct SqsSettings {
    pub queue_url: String,
    pub region: String,
    /// Another endpoint than AWS's (moto, LocalStack).
    pub endpoint: Option<url::Url>,
    /// Static keys; `None`: the AWS default chain (environment, ECS task role, …).
    pub credentials: Option<(String, SecretString)>,
    /// Long-poll wait of one receive (1–20 s).
    pub wait: Duration,
}

pub async fn client(settings: &SqsSettings) -> Client {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(settings.region.clone()));
    if let Some((access_key_id, secret)) = &settings.credentials {
        loader = loader.credentials_provider(Credentials::new(
            access_key_id,
            secret.expose_secret(),
            None,
            None,
            "lectern-settings",
        ));
    }
    let shared = loader.load().await;
    let mut config = aws_sdk_sqs::config::Builder::from(&shared);
    if let Some(endpoint) = &settings.endpoint {
        config = config.endpoint_url(endpoint.as_str().trim_end_matches('/'));
    }
    Client::from_conf(config.build())
}

/// How many of this process's workers are waiting for work, and a signal when one starts to.
#[derive(Debug, Default)]
pub struct Idle {
    count: AtomicUsize,
    became_idle: Notify,
}

impl Idle {
    /// Marks one worker idle until the guard drops.
    pub fn enter(self: &Arc<Self>) -> IdleGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.became_idle.notify_waiters();
        IdleGuard(Arc::clone(self))
    }

    fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    async fn wait_for_idle(&self) {
        loop {
            let notified = self.became_idle.notified();
            if self.count() > 0 {
                return;
            }
            notified.await;
        }
    }
}

pub struct IdleGuard(Arc<Idle>);

impl Drop for IdleGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Forwards every newly queued job's id to SQS while this process holds the forwarder lock;
/// otherwise checks again every `retry`.
pub async fn forward_queued_jobs(
    pool: PgPool,
    client: Client,
    queue_url: String,
    retry: Duration,
    stop: CancellationToken,
) {
    loop {
        let forwarding = forward_while_elected(&pool, &client, &queue_url);
        tokio::select! {
            result = forwarding => match result {
                Ok(()) => {}
                Err(error) => tracing::debug!(%error, "SQS forwarder: the listening connection failed"),
            },
            () = stop.cancelled() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(retry) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Returns when another process holds the lock or the connection is lost (which frees the
/// lock for whoever asks next).
async fn forward_while_elected(pool: &PgPool, client: &Client, queue_url: &str) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    // Session-level: held as long as this connection lives.
    let elected = sqlx::query_scalar!(r#"select pg_try_advisory_lock($1) as "elected!""#, FORWARDER_LOCK)
        .fetch_one(&mut listener)
        .await?;
    if !elected {
        return Ok(());
    }
    listener.listen(CHANNEL).await?;
    tracing::info!("forwarding queued jobs to SQS");
    // `try_recv` reports a lost connection (None) instead of reconnecting behind our back, which
    // would keep forwarding without the lock.
    while let Some(notification) = listener.try_recv().await? {
        let job_id = notification.payload();
        if let Err(error) = client.send_message().queue_url(queue_url).message_body(job_id).send().await {
            // The job is in PostgreSQL regardless; a worker polls it up.
            tracing::warn!(job_id, error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "cannot send a job's SQS wake-up");
        }
    }
    Ok(())
}

/// Receives wake-ups while a worker of this process is idle, wakes the idle workers, deletes
/// the messages.
pub async fn receive_wakeups(
    client: Client,
    settings: SqsSettings,
    idle: Arc<Idle>,
    wake: impl Fn() + Send + 'static,
    retry: Duration,
    stop: CancellationToken,
) {
    let wait_seconds = i32::try_from(settings.wait.as_secs().clamp(1, 20)).unwrap_or(20);
    loop {
        tokio::select! {
            () = idle.wait_for_idle() => {}
            () = stop.cancelled() => return,
        }
        let batch = i32::try_from(idle.count().clamp(1, 10)).unwrap_or(1);
        let received = client
            .receive_message()
            .queue_url(&settings.queue_url)
            .max_number_of_messages(batch)
            .wait_time_seconds(wait_seconds)
            .send();
        let received = tokio::select! {
            received = received => received,
            () = stop.cancelled() => return,
        };
        let messages = match received {
            Ok(output) => output.messages.unwrap_or_default(),
            Err(error) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "cannot receive SQS wake-ups");
                tokio::select! {
                    () = tokio::time::sleep(retry) => {}
                    () = stop.cancelled() => return,
                }
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        tracing::debug!(n = messages.len(), "woken by SQS");
        wake();
        let mut delete = client.delete_message_batch().queue_url(&settings.queue_url);
        for (index, message) in messages.iter().enumerate() {
            if let Some(handle) = message.receipt_handle() {
                let entry = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(index.to_string())
                    .receipt_handle(handle)
                    .build();
                match entry {
                    Ok(entry) => delete = delete.entries(entry),
                    Err(error) => tracing::warn!(%error, "cannot build an SQS delete entry"),
                }
            }
        }
        // Not deleted: the message becomes visible again after the queue's visibility timeout
        // and wakes a worker once more, which costs nothing.
        if let Err(error) = delete.send().await {
            tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), "cannot delete SQS wake-ups");
        }
    }
}
