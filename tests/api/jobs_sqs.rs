//! The optional SQS wake-up channel against moto's server (a separate process on 127.0.0.1,
//! from the venv scripts/install-aws-tools.sh makes): queued jobs are forwarded as messages
//! whose body is the job id; while every worker is busy the messages stay in the queue (its
//! depth is the backlog autoscaling reads); a message wakes an idle worker long before its poll
//! interval, and that worker still claims the job from PostgreSQL.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use lectern::jobs::sqs::SqsSettings;
use lectern::jobs::{JobContext, JobError, JobHandler, JobId, WorkerPool, WorkerSettings, queue};
use lectern::metrics::Metrics;
use lectern::storage::{LocalSettings, StorageSettings};
use serde_json::json;
use sqlx::PgPool;
use tokio::sync::Semaphore;

use crate::helpers::free_port;

/// moto's server on a free port, killed on drop.
struct Moto {
    child: Child,
    endpoint: url::Url,
}

impl Moto {
    async fn start() -> Self {
        let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/aws-venv/bin/moto_server");
        let program = std::env::var_os("LECTERN_MOTO_SERVER").map_or(venv, PathBuf::from);
        assert!(
            program.exists(),
            "{} is missing: run `bash scripts/install-aws-tools.sh` (or point LECTERN_MOTO_SERVER at moto_server)",
            program.display()
        );
        let port = free_port();
        let child = Command::new(program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let endpoint = url::Url::parse(&format!("http://127.0.0.1:{port}")).expect("URL");
        let deadline = Instant::now() + Duration::from_secs(30);
        while reqwest::get(endpoint.join("/moto-api/").expect("URL")).await.is_err() {
            assert!(Instant::now() < deadline, "moto_server did not answer within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, endpoint }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `test.busy` holds its worker until the test adds a permit; `test.count` only counts.
struct Busy {
    permits: Arc<Semaphore>,
    runs: Arc<AtomicUsize>,
}

#[async_trait]
impl JobHandler for Busy {
    fn kind(&self) -> &'static str {
        "test.busy"
    }

    async fn run(&self, _context: JobContext, _payload: serde_json::Value) -> Result<(), JobError> {
        self.runs.fetch_add(1, Ordering::SeqCst);
        let permit = self.permits.acquire().await.map_err(JobError::retry)?;
        permit.forget();
        Ok(())
    }
}

struct Count(Arc<AtomicUsize>);

#[async_trait]
impl JobHandler for Count {
    fn kind(&self) -> &'static str {
        "test.count"
    }

    async fn run(&self, _context: JobContext, _payload: serde_json::Value) -> Result<(), JobError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

fn sqs_settings(moto: &Moto, queue_url: &str) -> SqsSettings {
    SqsSettings {
        queue_url: queue_url.to_owned(),
        region: "us-east-1".to_owned(),
        endpoint: Some(moto.endpoint.clone()),
        credentials: Some(("testing".to_owned(), secrecy::SecretString::from("testing"))),
        wait: Duration::from_secs(1),
    }
}

async fn visible_messages(client: &aws_sdk_sqs::Client, queue_url: &str) -> i64 {
    let attributes = client
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .expect("queue attributes");
    attributes
        .attributes()
        .and_then(|map| map.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages))
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1)
}

async fn wait_for(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done().await {
        assert!(Instant::now() < deadline, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A job row inserted with triggers off: no `NOTIFY`, so neither the workers' listener nor the
/// SQS forwarder hears of it; only a poll or a wake-up finds it.
async fn enqueue_silently(pool: &PgPool, kind: &str) -> JobId {
    let mut tx = pool.begin().await.expect("transaction");
    sqlx::query("set local session_replication_role = replica").execute(&mut *tx).await.expect("triggers off");
    let id = queue::enqueue_in(&mut tx, kind, &json!({}), Default::default()).await.expect("enqueue");
    tx.commit().await.expect("commit");
    id
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn sqs_carries_job_ids_holds_the_backlog_while_workers_are_busy_and_wakes_an_idle_worker(pool: PgPool) {
    let moto = Moto::start().await;
    let admin = lectern::jobs::sqs::client(&sqs_settings(&moto, "")).await;
    let queue_url = admin
        .create_queue()
        .queue_name("lectern-jobs")
        .send()
        .await
        .expect("create the queue in moto")
        .queue_url
        .expect("a queue URL");

    let dir = tempfile::tempdir().expect("temp dir");
    let storage = lectern::storage::connect(&StorageSettings::Local(LocalSettings {
        root: dir.path().to_owned(),
        public_url: url::Url::parse("http://127.0.0.1:1").expect("valid"),
        presign_secret: secrecy::SecretString::from("0123456789abcdef0123456789abcdef"),
    }))
    .await
    .expect("storage");
    let permits = Arc::new(Semaphore::new(0));
    let busy_runs = Arc::new(AtomicUsize::new(0));
    let counted = Arc::new(AtomicUsize::new(0));
    let handlers: Vec<Arc<dyn JobHandler>> =
        vec![Arc::new(Busy { permits: permits.clone(), runs: busy_runs.clone() }), Arc::new(Count(counted.clone()))];
    // A poll interval far longer than the test: only notifications and SQS wake workers.
    let settings = WorkerSettings {
        concurrency: 1,
        // One worker in all: a quick-only worker would take these quick test kinds too.
        quick_workers: 0,
        poll_interval: Duration::from_secs(120),
        sqs: Some(sqs_settings(&moto, &queue_url)),
        ..WorkerSettings::default()
    };
    let workers = WorkerPool::start(pool.clone(), storage.store, Arc::new(Metrics::new()), handlers, settings);

    // The only worker takes a job that holds it.
    let holding = queue::enqueue(&pool, "test.busy", &json!({}), Default::default()).await.expect("enqueue");
    wait_for("the worker to be busy", Duration::from_secs(20), async || busy_runs.load(Ordering::SeqCst) == 1).await;
    // Let the receiver's pending long poll (started while the worker was idle) run out, then
    // queue more: their messages stay, as the backlog.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = visible_messages(&admin, &queue_url).await;
    let mut backlog = Vec::new();
    for _ in 0..3 {
        backlog.push(queue::enqueue(&pool, "test.count", &json!({}), Default::default()).await.expect("enqueue"));
    }
    wait_for("three more messages in the queue", Duration::from_secs(20), async || {
        visible_messages(&admin, &queue_url).await >= before + 3
    })
    .await;
    // Peek at the bodies without consuming them for good: they are the job ids.
    let peeked = admin
        .receive_message()
        .queue_url(&queue_url)
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .expect("receive");
    let bodies: Vec<String> = peeked.messages().iter().filter_map(|m| m.body().map(str::to_owned)).collect();
    for id in &backlog {
        assert!(bodies.contains(&id.to_string()), "no message for job {id} in {bodies:?}");
    }
    assert_eq!(counted.load(Ordering::SeqCst), 0, "the busy worker ran nothing else");

    // Freed, the worker drains the backlog and, idle, the queue.
    permits.add_permits(1);
    wait_for("the backlog to run", Duration::from_secs(20), async || counted.load(Ordering::SeqCst) == 3).await;
    wait_for("the queue to empty", Duration::from_secs(20), async || visible_messages(&admin, &queue_url).await == 0)
        .await;
    let row = queue::get(&pool, holding).await.expect("get").expect("exists");
    assert_eq!(row.state, "succeeded");

    // A job nobody was told about waits for the poll (two minutes away)…
    let silent = enqueue_silently(&pool, "test.count").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(counted.load(Ordering::SeqCst), 3, "without a wake-up the job waits for the poll");
    // …until a message with its id arrives; the woken worker claims it from PostgreSQL.
    let sent = Instant::now();
    admin.send_message().queue_url(&queue_url).message_body(silent.to_string()).send().await.expect("send");
    wait_for("the woken worker to run the job", Duration::from_secs(15), async || counted.load(Ordering::SeqCst) == 4)
        .await;
    assert!(sent.elapsed() < Duration::from_secs(15));
    let row = queue::get(&pool, silent).await.expect("get").expect("exists");
    assert_eq!((row.state.as_str(), row.attempts), ("succeeded", 1));
    wait_for("the wake-up to be deleted", Duration::from_secs(20), async || {
        visible_messages(&admin, &queue_url).await == 0
    })
    .await;

    workers.shutdown().await;
}
