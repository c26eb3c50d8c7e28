//! Operations as deployed (issue 19), with real processes of this build:
//!
//! - spans exported over OTLP/HTTP reach a test collector that decodes the real protobuf
//!   (`opentelemetry-proto`): the request that finished an upload, the probe job it queued (in
//!   another process, `lectern worker`), the transcode job the probe queued and the engine
//!   child's `TRACEPARENT` all share one trace, and carry the request, asset and job ids;
//! - `LECTERN_LOG_FORMAT=json` writes one JSON object per line, with the request id;
//! - several `lectern worker` processes share the PostgreSQL queue: each job runs exactly once,
//!   and every process does some of them.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::{Value, json};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::free_port;
use crate::helpers::processing::{engine_children_of, lecture_clip};

// ---------------------------------------------------------------------------------------------
// Processes.

/// A `lectern` process of this build, stopped with SIGTERM (so it flushes its spans) or killed
/// on drop; its standard error is kept in a file and printed when the test fails.
struct Process {
    child: Child,
    log: std::path::PathBuf,
    name: String,
}

impl Process {
    fn start(name: &str, subcommand: &str, dir: &Path, env: &[(&str, String)]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_lectern"));
        command.arg(subcommand).env_clear();
        for (key, value) in env {
            command.env(key, value);
        }
        let child = command
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("lectern starts");
        Self { child, log, name: name.to_owned() }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then waits (asynchronously: the test's collector must keep answering while the
    /// process flushes its spans) until it exits.
    async fn stop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().expect("try_wait").is_none() {
            assert!(Instant::now() < deadline, "{} did not stop within 30 s after SIGTERM", self.name);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- log of {} ---\n{}", self.name, self.log());
        }
    }
}

/// The URL of the database `#[sqlx::test]` made for this test, for a child process.
async fn database_url(pool: &PgPool) -> String {
    let name: String = sqlx::query_scalar("select current_database()").fetch_one(pool).await.expect("name");
    let base = std::env::var("DATABASE_URL").expect("DATABASE_URL is set for the tests");
    let mut url = url::Url::parse(&base).expect("DATABASE_URL is a URL");
    url.set_path(&name);
    url.to_string()
}

/// Settings every process of one deployment shares: the database, one data directory (keys and
/// local objects), short job timings.
fn deployment(database_url: &str, dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("DATABASE_URL", database_url.to_owned()),
        ("LECTERN_DB_CREATE", "false".to_owned()),
        ("LECTERN_DATA_DIR", dir.join("data").display().to_string()),
        ("LECTERN_JOB_POLL_INTERVAL", "200ms".to_owned()),
        ("LECTERN_SHUTDOWN_TIMEOUT", "2s".to_owned()),
    ]
}

async fn wait_until_answers(url: &str, process: &mut Process) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(status) = process.child.try_wait().expect("try_wait") {
            panic!("{} exited ({status}) before answering {url}:\n{}", process.name, process.log());
        }
        if client.get(url).send().await.is_ok_and(|response| response.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "{url} did not answer within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// An administrator made with `lectern users create-admin`, logged in; returns the access token.
async fn admin_token(env: &[(&str, String)], api: &str) -> String {
    let (email, password) = ("ops@example.test", "an operations test password");
    let mut command = Command::new(env!("CARGO_BIN_EXE_lectern"));
    command.args(["users", "create-admin", "--email", email]).env_clear();
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("runs");
    std::io::Write::write_all(&mut child.stdin.take().expect("stdin"), password.as_bytes()).expect("password");
    let output = child.wait_with_output().expect("create-admin finishes");
    assert!(output.status.success(), "create-admin failed: {}", String::from_utf8_lossy(&output.stderr));
    let login: Value = reqwest::Client::new()
        .post(format!("{api}/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .expect("login answers")
        .json()
        .await
        .expect("login JSON");
    login["tokens"]["access_token"].as_str().or(login["access_token"].as_str()).expect("an access token").to_owned()
}

// ---------------------------------------------------------------------------------------------
// The test collector: an OTLP/HTTP receiver decoding the exporter's protobuf.

#[derive(Clone, Default)]
struct Collector {
    /// Every span received, with the `service.name` of its resource.
    spans: Arc<Mutex<Vec<(String, Span)>>>,
    /// Requests that were not `application/x-protobuf` or did not decode.
    refused: Arc<Mutex<Vec<String>>>,
}

impl Collector {
    async fn start() -> (String, Self) {
        let collector = Self::default();
        let router =
            axum::Router::new().route("/v1/traces", axum::routing::post(receive_traces)).with_state(collector.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, router).await });
        (format!("http://{address}"), collector)
    }

    fn spans(&self) -> Vec<(String, Span)> {
        self.spans.lock().expect("lock").clone()
    }
}

async fn receive_traces(State(collector): State<Collector>, headers: HeaderMap, body: Bytes) -> impl IntoResponse {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    if content_type != "application/x-protobuf" {
        collector.refused.lock().expect("lock").push(format!("content type {content_type:?}"));
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, Vec::new()).into_response();
    }
    let request = match ExportTraceServiceRequest::decode(body) {
        Ok(request) => request,
        Err(error) => {
            collector.refused.lock().expect("lock").push(format!("undecodable: {error}"));
            return (StatusCode::BAD_REQUEST, Vec::new()).into_response();
        }
    };
    let mut spans = collector.spans.lock().expect("lock");
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|resource| string_attribute(&resource.attributes, "service.name"))
            .unwrap_or_default();
        for scope_spans in resource_spans.scope_spans {
            spans.extend(scope_spans.spans.into_iter().map(|span| (service.clone(), span)));
        }
    }
    let response = ExportTraceServiceResponse::default().encode_to_vec();
    ([(header::CONTENT_TYPE, "application/x-protobuf")], response).into_response()
}

fn string_attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?.value.as_ref()?;
    Some(match value {
        any_value::Value::StringValue(text) => text.clone(),
        any_value::Value::IntValue(number) => number.to_string(),
        other => format!("{other:?}"),
    })
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    string_attribute(&span.attributes, key)
}

// ---------------------------------------------------------------------------------------------
// Tracing.

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_request_and_the_jobs_it_caused_in_another_process_share_one_exported_trace(pool: PgPool) {
    let (collector_url, collector) = Collector::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let mut env = deployment(&database_url(&pool).await, dir.path());
    env.extend([
        ("LECTERN_LISTEN", format!("127.0.0.1:{port}")),
        ("LECTERN_OTLP_ENDPOINT", collector_url.clone()),
        ("RUST_LOG", "info".to_owned()),
    ]);
    let mut serve_env = env.clone();
    serve_env.extend([("LECTERN_WORKERS", "0".to_owned()), ("LECTERN_OTLP_SERVICE_NAME", "lectern-api".to_owned())]);
    let mut serve = Process::start("serve", "serve", dir.path(), &serve_env);
    wait_until_answers(&format!("{api}/readyz"), &mut serve).await;
    let token = admin_token(&env, &api).await;

    // An upload through tus; the PATCH that completes it queues the probe.
    let client = reqwest::Client::new();
    let asset: Value = client
        .post(format!("{api}/v1/assets"))
        .bearer_auth(&token)
        .json(&json!({"title": "Traced lecture"}))
        .send()
        .await
        .expect("create asset")
        .json()
        .await
        .expect("asset JSON");
    let asset_id = asset["id"].as_str().expect("asset id").to_owned();
    sqlx::query("update asset set preset = 'fast' where asset_id = $1::uuid")
        .bind(&asset_id)
        .execute(&pool)
        .await
        .expect("preset");
    let body = std::fs::read(lecture_clip()).expect("clip");
    let metadata = format!("asset_id {}", base64_encode(asset_id.as_bytes()));
    let created = client
        .post(asset["upload"]["tus_url"].as_str().expect("tus URL"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", body.len().to_string())
        .header("Upload-Metadata", metadata)
        .send()
        .await
        .expect("tus create");
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().expect("location").to_owned();
    let location = url::Url::parse(&api).expect("api URL").join(&location).expect("upload URL");
    let request_id = format!("trace-test-{}", Uuid::new_v4().simple());
    let patched = client
        .patch(location)
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("X-Request-Id", &request_id)
        .body(body)
        .send()
        .await
        .expect("tus patch");
    assert_eq!(patched.status(), 204);

    // A worker in another process probes, then transcodes; its engine children get TRACEPARENT.
    let mut worker_env = env.clone();
    worker_env.push(("LECTERN_OTLP_SERVICE_NAME", "lectern-worker".to_owned()));
    let mut worker = Process::start("worker", "worker", dir.path(), &worker_env);
    let mut engine_traceparents = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        for pid in engine_children_of(worker.pid()) {
            if let Some(traceparent) = environment_variable(pid, "TRACEPARENT") {
                engine_traceparents.push(traceparent);
            }
        }
        let transcoding: Option<(String, Option<f32>)> = sqlx::query_as(
            "select state, progress from job where kind = 'media.transcode' and payload ->> 'asset_id' = $1",
        )
        .bind(&asset_id)
        .fetch_optional(&pool)
        .await
        .expect("transcode job");
        if matches!(&transcoding, Some((state, progress)) if state == "succeeded" || progress.is_some_and(|p| p > 0.0))
            && !engine_traceparents.is_empty()
        {
            break;
        }
        if let Some(status) = worker.child.try_wait().expect("try_wait") {
            panic!("the worker exited ({status}):\n{}", worker.log());
        }
        assert!(Instant::now() < deadline, "the transcode did not start within 180 s (job: {transcoding:?})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let probe_job_id: Uuid = sqlx::query_scalar(
        "select job_id from job where kind = 'media.probe' and payload ->> 'asset_id' = $1 and state = 'succeeded'",
    )
    .bind(&asset_id)
    .fetch_one(&pool)
    .await
    .expect("the probe job succeeded");
    // Both processes flush their spans on the way out.
    worker.stop().await;
    serve.stop().await;

    assert!(collector.refused.lock().expect("lock").is_empty(), "{:?}", collector.refused.lock().expect("lock"));
    let spans = collector.spans();
    let describe = || {
        spans
            .iter()
            .map(|(service, span)| {
                format!("{service}/{} {:?}", span.name, span.attributes.iter().map(|kv| &kv.key).collect::<Vec<_>>())
            })
            .collect::<Vec<_>>()
    };
    let (service, request_span) = spans
        .iter()
        .find(|(_, span)| span.name == "http" && attribute(span, "request_id").as_deref() == Some(request_id.as_str()))
        .unwrap_or_else(|| panic!("no http span with request_id {request_id}; got {:?}", describe()));
    assert_eq!(service, "lectern-api");
    assert_eq!(attribute(request_span, "method").as_deref(), Some("PATCH"));
    let trace_id = request_span.trace_id.clone();
    assert_eq!(trace_id.len(), 16);
    let in_trace = |span: &Span| span.trace_id == trace_id;
    assert!(
        spans
            .iter()
            .any(|(_, span)| in_trace(span) && attribute(span, "asset_id").as_deref() == Some(asset_id.as_str())),
        "no span of the request names the asset: {:?}",
        describe()
    );

    let job_span = |kind: &str| {
        spans
            .iter()
            .find(|(_, span)| {
                span.name == "job"
                    && attribute(span, "kind").as_deref() == Some(kind)
                    && attribute(span, "asset_id").as_deref() == Some(asset_id.as_str())
            })
            .unwrap_or_else(|| panic!("no {kind} job span for the asset; got {:?}", describe()))
    };
    let (service, probe) = job_span("media.probe");
    assert_eq!(service, "lectern-worker");
    assert_eq!(hex::encode(&probe.trace_id), hex::encode(&trace_id), "the probe job continues the request's trace");
    assert_eq!(attribute(probe, "job_id"), Some(probe_job_id.to_string()));
    assert_eq!(attribute(probe, "attempt").as_deref(), Some("1"));
    assert!(!probe.parent_span_id.is_empty(), "the probe's span has the enqueuing span as its parent");
    let enqueuer = spans.iter().find(|(_, span)| span.span_id == probe.parent_span_id);
    assert!(
        enqueuer.is_some_and(|(service, span)| service == "lectern-api" && in_trace(span)),
        "the probe's parent is a span of the request in lectern serve"
    );
    let (_, transcode) = job_span("media.transcode");
    assert_eq!(hex::encode(&transcode.trace_id), hex::encode(&trace_id), "the transcode, queued by the probe, too");

    let hex_trace = hex::encode(&trace_id);
    for traceparent in &engine_traceparents {
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "{traceparent}");
        assert_eq!(parts[1], hex_trace, "the engine child runs in the request's trace: {traceparent}");
    }
}

/// A variable of a running process's environment (`/proc/<pid>/environ`).
fn environment_variable(pid: u32, name: &str) -> Option<String> {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).ok()?;
    environ.split(|byte| *byte == 0).find_map(|entry| {
        let entry = String::from_utf8_lossy(entry);
        entry.strip_prefix(&format!("{name}=")).map(str::to_owned)
    })
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

// ---------------------------------------------------------------------------------------------
// JSON logs.

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn json_logs_are_one_object_per_line_with_level_message_target_timestamp_and_the_request_id(pool: PgPool) {
    let dir = tempfile::tempdir().expect("temp dir");
    let port = free_port();
    let api = format!("http://127.0.0.1:{port}");
    let mut env = deployment(&database_url(&pool).await, dir.path());
    env.extend([
        ("LECTERN_LISTEN", format!("127.0.0.1:{port}")),
        ("LECTERN_WORKERS", "1".to_owned()),
        ("LECTERN_LOG_FORMAT", "json".to_owned()),
        // tower-http's request and response events are at debug.
        ("RUST_LOG", "info,tower_http=debug".to_owned()),
    ]);
    let mut serve = Process::start("serve", "serve", dir.path(), &env);
    wait_until_answers(&format!("{api}/readyz"), &mut serve).await;
    let request_id = format!("json-log-{}", Uuid::new_v4().simple());
    let response = reqwest::Client::new()
        .get(format!("{api}/v1/assets/not-an-id"))
        .header("X-Request-Id", &request_id)
        .send()
        .await
        .expect("answers");
    assert!(response.status().is_client_error());
    serve.stop().await;

    let log = serve.log();
    let mut with_request_id = 0;
    let mut lines = 0;
    for line in log.lines().filter(|line| !line.trim().is_empty()) {
        lines += 1;
        let object: Value = serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"));
        for key in ["timestamp", "level", "target", "message"] {
            assert!(object[key].is_string(), "no {key} in {line}");
        }
        time::OffsetDateTime::parse(
            object["timestamp"].as_str().unwrap_or(""),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or_else(|error| panic!("the timestamp is not RFC 3339 ({error}): {line}"));
        assert!(
            ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"].contains(&object["level"].as_str().unwrap_or("")),
            "{line}"
        );
        if object["span"]["request_id"] == request_id.as_str() {
            assert_eq!(object["span"]["name"], "http", "{line}");
            with_request_id += 1;
        }
    }
    assert!(lines >= 3, "too few log lines:\n{log}");
    assert!(with_request_id >= 2, "the request's start and end carry its id:\n{log}");
}

// ---------------------------------------------------------------------------------------------
// Scale-out.

/// Sums `lectern_jobs_finished_total{kind=…,outcome=…}` in a Prometheus text exposition.
fn finished(metrics: &str, kind: &str, outcome: &str) -> u64 {
    metrics
        .lines()
        .filter(|line| line.starts_with("lectern_jobs_finished_total{"))
        .filter(|line| line.contains(&format!("kind=\"{kind}\"")) && line.contains(&format!("outcome=\"{outcome}\"")))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .map(|value| value as u64)
        .sum()
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn several_worker_processes_share_the_queue_and_run_each_job_exactly_once(pool: PgPool) {
    const JOBS: usize = 60;
    const PROCESSES: usize = 3;
    let dir = tempfile::tempdir().expect("temp dir");
    let env = deployment(&database_url(&pool).await, dir.path());
    let mut workers = Vec::new();
    let mut metrics_urls = Vec::new();
    for index in 0..PROCESSES {
        let port = free_port();
        let mut worker_env = env.clone();
        worker_env.extend([
            ("LECTERN_WORKERS", "2".to_owned()),
            ("LECTERN_METRICS_LISTEN", format!("127.0.0.1:{port}")),
            ("RUST_LOG", "warn".to_owned()),
        ]);
        let mut worker = Process::start(&format!("worker-{index}"), "worker", dir.path(), &worker_env);
        wait_until_answers(&format!("http://127.0.0.1:{port}/healthz"), &mut worker).await;
        metrics_urls.push(format!("http://127.0.0.1:{port}/metrics"));
        workers.push(worker);
    }

    // Objects to delete, so every job does real work on the shared storage.
    let objects = dir.path().join("data/objects");
    let mut ids = Vec::new();
    let mut tx = pool.begin().await.expect("transaction");
    for index in 0..JOBS {
        let folder = objects.join(format!("scale/{index}"));
        std::fs::create_dir_all(&folder).expect("folder");
        std::fs::write(folder.join("segment.m4s"), b"bytes").expect("object");
        let payload = json!({"prefix": format!("scale/{index}/")});
        let id = lectern::jobs::queue::enqueue_in(&mut tx, "storage.delete_prefix", &payload, Default::default())
            .await
            .expect("enqueue");
        ids.push(id.0);
    }
    tx.commit().await.expect("commit");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done: i64 = sqlx::query_scalar("select count(*) from job where job_id = any($1) and state = 'succeeded'")
            .bind(&ids)
            .fetch_one(&pool)
            .await
            .expect("count");
        if done == JOBS as i64 {
            break;
        }
        assert!(Instant::now() < deadline, "only {done} of {JOBS} jobs succeeded within 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let attempts: Vec<i32> = sqlx::query_scalar("select attempts from job where job_id = any($1)")
        .bind(&ids)
        .fetch_all(&pool)
        .await
        .expect("attempts");
    assert!(attempts.iter().all(|attempts| *attempts == 1), "a job was claimed twice: {attempts:?}");

    let client = reqwest::Client::new();
    let mut per_process = Vec::new();
    for url in &metrics_urls {
        let metrics = client.get(url).send().await.expect("metrics").text().await.expect("text");
        per_process.push(finished(&metrics, "storage.delete_prefix", "succeeded"));
    }
    assert_eq!(per_process.iter().sum::<u64>(), JOBS as u64, "each job ran exactly once: {per_process:?}");
    assert!(per_process.iter().all(|n| *n > 0), "every worker process did some of the work: {per_process:?}");
    for index in 0..JOBS {
        assert!(!objects.join(format!("scale/{index}/segment.m4s")).exists(), "job {index} did its work");
    }
    for worker in &mut workers {
        worker.stop().await;
    }
}
