//! The worker loop: claim a job, run its handler under a lease kept alive by a heartbeat, record
//! the outcome. Idle workers sleep until `LISTEN/NOTIFY` says a job arrived or the poll interval
//! passes. On shutdown they stop claiming, give running jobs until the deadline to finish, and
//! hand the rest back to the queue for another worker.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::{JobContext, JobError, JobHandler, JobId, Lane, queue};
use crate::metrics::{JobLabels, Metrics};
use crate::storage::ObjectStore;

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Jobs of any kind run at once by this process.
    pub concurrency: usize,
    /// Further workers, beside those, that claim only quick kinds ([`Lane::Quick`]): a new
    /// upload's probe and preview, webhook sends, invalidations and sweeps never wait behind
    /// long transcodes, even when every general worker holds one. Started only in a process
    /// that runs workers at all (`concurrency` > 0).
    pub quick_workers: usize,
    /// How long a claim holds before another worker may take the job over; the heartbeat renews
    /// it every third of this.
    pub lease: Duration,
    /// Idle workers look for due jobs at least this often (notifications can be missed, and
    /// retries become due without any notification).
    pub poll_interval: Duration,
    /// After shutdown is requested, how long running jobs may take before they are released.
    pub shutdown_timeout: Duration,
    /// Delay before the first retry of a failed attempt; doubled for every further attempt.
    pub retry_delay: Duration,
    /// Longest delay between attempts.
    pub retry_max_delay: Duration,
    /// The optional SQS wake-up channel (see [`super::sqs`]).
    pub sqs: Option<super::sqs::SqsSettings>,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        Self {
            concurrency: 1,
            quick_workers: 1,
            lease: Duration::from_secs(60),
            poll_interval: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
            retry_delay: Duration::from_secs(5),
            retry_max_delay: Duration::from_secs(3600),
            sqs: None,
        }
    }
}

/// The running workers of one process.
pub struct WorkerPool {
    tasks: JoinSet<()>,
    stop: CancellationToken,
    abandon: CancellationToken,
    shutdown_timeout: Duration,
}

struct Shared {
    pool: PgPool,
    storage: Arc<dyn ObjectStore>,
    metrics: Arc<Metrics>,
    handlers: HashMap<&'static str, Arc<dyn JobHandler>>,
    /// Every kind this process runs, which general workers claim.
    kinds: Vec<String>,
    /// The kinds of [`Lane::Quick`], which quick workers claim.
    quick_kinds: Vec<String>,
    settings: WorkerSettings,
    wake: Notify,
    /// Workers waiting for work, for the SQS receiver.
    idle: Arc<super::sqs::Idle>,
    /// Cancelled when shutdown is requested; workers stop claiming.
    stop: CancellationToken,
    /// Cancelled when the shutdown deadline passes; running jobs are released.
    abandon: CancellationToken,
}

impl WorkerPool {
    pub fn start(
        pool: PgPool,
        storage: Arc<dyn ObjectStore>,
        metrics: Arc<Metrics>,
        handlers: Vec<Arc<dyn JobHandler>>,
        settings: WorkerSettings,
    ) -> Self {
        let handlers: HashMap<_, _> = handlers.into_iter().map(|h| (h.kind(), h)).collect();
        let mut kinds: Vec<String> = handlers.keys().map(|k| (*k).to_owned()).collect();
        kinds.sort();
        let quick_kinds: Vec<String> =
            kinds.iter().filter(|kind| handlers[kind.as_str()].lane() == Lane::Quick).cloned().collect();
        let stop = CancellationToken::new();
        let abandon = CancellationToken::new();
        let shutdown_timeout = settings.shutdown_timeout;
        let concurrency = settings.concurrency;
        let shared = Arc::new(Shared {
            pool,
            storage,
            metrics,
            handlers,
            kinds,
            quick_kinds,
            settings,
            wake: Notify::new(),
            idle: Arc::default(),
            stop: stop.clone(),
            abandon: abandon.clone(),
        });
        let mut tasks = JoinSet::new();
        tasks.spawn(listen_for_jobs(shared.clone()));
        tasks.spawn(reap_exhausted(shared.clone()));
        for handler in shared.handlers.values() {
            if let Some(every) = handler.every() {
                tasks.spawn(schedule_periodic(shared.clone(), handler.kind(), every));
            }
        }
        if let Some(sqs) = shared.settings.sqs.clone() {
            tasks.spawn(sqs_channel(shared.clone(), sqs));
        }
        let process = format!("{}-{}", hostname(), std::process::id());
        let quick_workers = if concurrency > 0 { shared.settings.quick_workers } else { 0 };
        for index in 0..concurrency + quick_workers {
            let quick_only = index >= concurrency;
            let worker_id = format!("{process}-{index}-{}", uuid::Uuid::new_v4().simple());
            tasks.spawn(work(shared.clone(), worker_id, quick_only));
        }
        tracing::info!(concurrency, quick_workers, "workers started");
        Self { tasks, stop, abandon, shutdown_timeout }
    }

    /// Requests a graceful stop: no new claims; running jobs get the shutdown timeout.
    pub fn stop_token(&self) -> CancellationToken {
        self.stop.clone()
    }

    /// Stops the workers and waits until every job has finished, or, past the shutdown
    /// timeout, has been released back to the queue.
    pub async fn shutdown(mut self) {
        self.stop.cancel();
        let drained = tokio::time::timeout(self.shutdown_timeout, join_all(&mut self.tasks)).await;
        if drained.is_err() {
            tracing::warn!("jobs still running at the shutdown deadline; releasing them");
            self.abandon.cancel();
            join_all(&mut self.tasks).await;
        }
        tracing::info!("workers stopped");
    }
}

async fn join_all(tasks: &mut JoinSet<()>) {
    while let Some(result) = tasks.join_next().await {
        if let Err(error) = result {
            tracing::error!(%error, "worker task ended abnormally");
        }
    }
}

/// One worker: claims jobs one at a time, of every kind or (`quick_only`) of the quick ones.
async fn work(shared: Arc<Shared>, worker_id: String, quick_only: bool) {
    let kinds = if quick_only { &shared.quick_kinds } else { &shared.kinds };
    if kinds.is_empty() {
        return;
    }
    while !shared.stop.is_cancelled() {
        match queue::claim(&shared.pool, &worker_id, kinds, shared.settings.lease).await {
            Ok(Some(job)) => {
                let span = job_span(&job);
                run_one(&shared, &worker_id, job).instrument(span).await;
            }
            Ok(None) => {
                // Only a general worker counts as idle for the SQS receiver: a quick worker cannot run
                // the long jobs whose wake-ups make up the backlog.
                let _idle = (!quick_only).then(|| shared.idle.enter());
                tokio::select! {
                    () = shared.wake.notified() => {}
                    () = tokio::time::sleep(shared.settings.poll_interval) => {}
                    () = shared.stop.cancelled() => {}
                }
            }
            Err(error) => {
                // The database is down or restarting; back off instead of spinning.
                tracing::warn!(%error, "cannot claim jobs");
                tokio::select! {
                    () = tokio::time::sleep(shared.settings.poll_interval) => {}
                    () = shared.stop.cancelled() => {}
                }
            }
        }
    }
}

/// One span per attempt, with the job's id, kind and attempt, and the asset it works on when its
/// payload names one. It continues the trace of whoever enqueued the job (an HTTP request,
/// another job) when the row carries a trace context.
fn job_span(job: &queue::JobRow) -> tracing::Span {
    let asset_id = job.payload.get("asset_id").and_then(serde_json::Value::as_str);
    let span = tracing::info_span!("job", job_id = %job.job_id, kind = %job.kind, attempt = job.attempts, asset_id);
    if let Some(traceparent) = &job.traceparent {
        crate::telemetry::continue_trace(&span, traceparent);
    }
    span
}

async fn run_one(shared: &Shared, worker_id: &str, job: queue::JobRow) {
    let job_id = JobId(job.job_id);
    let started = Instant::now();
    let Some(handler) = shared.handlers.get(job.kind.as_str()).cloned() else {
        // Claims are filtered by kind, so this only happens if the registry changed under us.
        let _ = queue::release(&shared.pool, job_id, worker_id).await;
        return;
    };
    let context = JobContext {
        job_id,
        worker_id: worker_id.to_owned(),
        attempt: job.attempts,
        max_attempts: job.max_attempts,
        pool: shared.pool.clone(),
        storage: shared.storage.clone(),
        cancellation: CancellationToken::new(),
    };
    let cancellation = context.cancellation.clone();
    // The handler runs in its own task: a panic inside it is caught as a JoinError and becomes
    // a retry, never the death of the worker.
    // In the job's span, so the handler's logs and spans (and the engine child's TRACEPARENT)
    // belong to the job.
    let mut task = tokio::spawn(async move { handler.run(context, job.payload).await }.in_current_span());
    let mut heartbeat = tokio::time::interval(shared.settings.lease / 3);
    heartbeat.tick().await;
    let outcome = loop {
        tokio::select! {
            joined = &mut task => break Some(joined),
            _ = heartbeat.tick() => {
                match queue::heartbeat(&shared.pool, job_id, worker_id, shared.settings.lease).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!("lease lost or job cancelled; abandoning the attempt");
                        cancellation.cancel();
                        task.abort();
                        record(shared, &job.kind, "lost", started);
                        return;
                    }
                    // A failed heartbeat is not yet a lost lease; the next one may succeed.
                    Err(error) => tracing::warn!(%error, "heartbeat failed"),
                }
            }
            () = shared.abandon.cancelled() => break None,
        }
    };
    let result = match outcome {
        None => {
            cancellation.cancel();
            task.abort();
            tracing::warn!("shutdown deadline passed; releasing the job");
            log_if_err(queue::release(&shared.pool, job_id, worker_id).await);
            record(shared, &job.kind, "released", started);
            return;
        }
        Some(Ok(result)) => result,
        Some(Err(join_error)) => Err(JobError::Retry(format!("handler panicked: {join_error}"))),
    };
    match result {
        Ok(()) => {
            log_if_err(queue::succeed(&shared.pool, job_id, worker_id).await);
            record(shared, &job.kind, "succeeded", started);
        }
        Err(JobError::Abort { code, message }) => {
            tracing::info!(%code, %message, "job failed: bad input");
            log_if_err(queue::fail(&shared.pool, job_id, worker_id, &format!("{code}: {message}")).await);
            record(shared, &job.kind, "failed", started);
        }
        Err(JobError::Retry(message)) => {
            let settings = &shared.settings;
            let delay =
                queue::backoff(job.attempts, rand::random::<f64>(), settings.retry_delay, settings.retry_max_delay);
            let final_attempt = job.attempts >= job.max_attempts;
            tracing::warn!(%message, retry_in = ?delay, final_attempt, "job attempt failed");
            log_if_err(queue::retry_later(&shared.pool, job_id, worker_id, &message, delay).await);
            record(shared, &job.kind, if final_attempt { "failed" } else { "retried" }, started);
        }
    }
}

fn record(shared: &Shared, kind: &str, outcome: &'static str, started: Instant) {
    let labels = JobLabels { kind: kind.to_owned(), outcome };
    shared.metrics.jobs_finished.get_or_create(&labels).inc();
    shared.metrics.job_duration.get_or_create(&labels).observe(started.elapsed().as_secs_f64());
}

fn log_if_err(result: Result<bool, sqlx::Error>) {
    match result {
        Ok(true) => {}
        Ok(false) => tracing::warn!("the job was taken over or cancelled before its outcome was recorded"),
        Err(error) => {
            tracing::error!(%error, "cannot record the job outcome; its lease will expire and it will run again");
        }
    }
}

/// The SQS wake-up channel: the forwarder of queued jobs (one process at a time forwards) and
/// the receiver that wakes this process's idle workers.
async fn sqs_channel(shared: Arc<Shared>, settings: super::sqs::SqsSettings) {
    let client = super::sqs::client(&settings).await;
    let retry = shared.settings.poll_interval;
    // Processes that lost the forwarder election ask again at most every 10 s (each asking opens
    // a connection); wake-ups missed meanwhile only cost a poll interval.
    let forwarder = super::sqs::forward_queued_jobs(
        shared.pool.clone(),
        client.clone(),
        settings.queue_url.clone(),
        retry.max(std::time::Duration::from_secs(10)),
        shared.stop.clone(),
    );
    let waker = Arc::clone(&shared);
    let receiver = super::sqs::receive_wakeups(
        client,
        settings,
        Arc::clone(&shared.idle),
        move || waker.wake.notify_waiters(),
        retry,
        shared.stop.clone(),
    );
    tokio::join!(forwarder, receiver);
}

/// Turns `NOTIFY lectern_job_enqueued` into wake-ups. Reconnects forever: while it is down the
/// workers still poll.
async fn listen_for_jobs(shared: Arc<Shared>) {
    loop {
        let listening = async {
            let mut listener = PgListener::connect_with(&shared.pool).await?;
            listener.listen("lectern_job_enqueued").await?;
            loop {
                let notification = listener.recv().await?;
                if shared.handlers.contains_key(notification.payload()) {
                    shared.wake.notify_waiters();
                }
            }
            #[allow(unreachable_code)]
            Ok::<(), sqlx::Error>(())
        };
        tokio::select! {
            result = listening => {
                if let Err(error) = result {
                    tracing::debug!(%error, "job listener disconnected; relying on polling until it reconnects");
                }
            }
            () = shared.stop.cancelled() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(shared.settings.poll_interval) => {}
            () = shared.stop.cancelled() => return,
        }
    }
}

/// Periodically fails jobs whose worker died on their final attempt, and lets their handlers
/// settle what the jobs were working on, in one transaction.
async fn reap_exhausted(shared: Arc<Shared>) {
    loop {
        match reap_once(&shared).await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(jobs = n, "failed jobs whose worker was lost on the final attempt"),
            Err(error) => tracing::warn!(%error, "cannot reap expired jobs"),
        }
        tokio::select! {
            () = tokio::time::sleep(shared.settings.lease) => {}
            () = shared.stop.cancelled() => return,
        }
    }
}

async fn reap_once(shared: &Shared) -> Result<usize, JobError> {
    let database = |error: sqlx::Error| JobError::retry(format!("database: {error}"));
    let mut tx = shared.pool.begin().await.map_err(database)?;
    let exhausted = queue::fail_exhausted_expired(&mut tx, &shared.kinds).await.map_err(database)?;
    for job in &exhausted {
        if let Some(handler) = shared.handlers.get(job.kind.as_str()) {
            tracing::warn!(job_id = %job.job_id, kind = %job.kind, "worker lost on the final attempt; failing the job");
            handler.on_exhausted(&mut tx, &job.payload).await?;
        }
    }
    tx.commit().await.map_err(database)?;
    Ok(exhausted.len())
}

/// Enqueues a housekeeping job every `every`, the first right away. The kind is the unique key,
/// so while one is queued or running, other processes' tickers add nothing.
async fn schedule_periodic(shared: Arc<Shared>, kind: &'static str, every: Duration) {
    let options = || queue::EnqueueOptions { unique_key: Some(kind.to_owned()), ..queue::EnqueueOptions::default() };
    loop {
        if let Err(error) = queue::enqueue(&shared.pool, kind, &serde_json::json!({}), options()).await {
            tracing::debug!(%error, kind, "cannot schedule a periodic job");
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shared.stop.cancelled() => return,
        }
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "worker".to_owned())
}
