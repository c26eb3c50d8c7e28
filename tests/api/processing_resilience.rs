//! Processing survives what production throws at it: a worker process SIGKILLed mid-encode (its
//! engine child dies with it, and another worker publishes), a PostgreSQL restart mid-encode, an
//! object-storage outage mid-transcode, workers lost on a job's final attempt (the asset is
//! settled, not left `probing`), a worker lost right after publishing (nothing is published
//! twice), and a reprocess that fails for good (the asset keeps playing its old version).
//! The kill and the database restart run on both storage backends (local and SeaweedFS).
//!
//! Real processes throughout: `lectern worker` from this build, a private PostgreSQL cluster
//! (initdb and pg_ctl) and a private SeaweedFS (`scripts/seaweedfs.sh` on shifted ports), so
//! stopping them never disturbs the shared servers other tests use.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::media::{event_types, fixtures};
use crate::helpers::processing::{
    alive, assert_only_version_stored, engine_children_of, lecture_clip, start_processing, transcode_job, versions,
    wait_for_asset, wait_for_encoding,
};
use crate::helpers::storage::{keys_under, remove_bucket, s3_settings_at, seaweed_settings};
use crate::helpers::{TestApp, TestOptions, free_port, instructor, spawn_app_with, test_ingest_settings};
use lectern::jobs::{JobContext, JobId, WorkerSettings, queue};
use lectern::storage::StorageSettings;
use secrecy::ExposeSecret;
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

/// Short leases, polls and retries, so lost workers and failed attempts are noticed in seconds.
fn quick_jobs(lease: Duration) -> WorkerSettings {
    WorkerSettings {
        lease,
        poll_interval: Duration::from_millis(200),
        retry_delay: Duration::from_secs(1),
        retry_max_delay: Duration::from_secs(4),
        ..WorkerSettings::default()
    }
}

async fn app_with(pool: PgPool, workers: usize, storage: Option<StorageSettings>, jobs: WorkerSettings) -> TestApp {
    let options = TestOptions { workers, storage, job_timings: Some(jobs), ..TestOptions::default() };
    Box::pin(spawn_app_with(pool, options)).await
}

// ---------------------------------------------------------------------------------------------
// A worker process killed with SIGKILL.

/// A `lectern worker` process of this build on the test's database, killed (SIGKILL) on drop.
/// Its log is printed when the test fails.
struct WorkerProcess {
    child: Child,
    dir: tempfile::TempDir,
}

impl WorkerProcess {
    /// A worker on the test's database and the app's storage (its local directory, or its
    /// bucket on SeaweedFS).
    fn start(database_url: &str, app: &TestApp, lease: &str) -> Self {
        let dir = tempfile::tempdir().expect("worker dir");
        let log = std::fs::File::create(dir.path().join("worker.log")).expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_lectern"));
        command.arg("worker").env_clear();
        match &app.storage_settings {
            StorageSettings::S3(s3) => {
                command
                    .env("LECTERN_STORAGE", "s3")
                    .env("LECTERN_S3_BUCKET", &s3.bucket)
                    .env("LECTERN_S3_ENDPOINT", s3.endpoint.as_ref().map(url::Url::as_str).unwrap_or_default())
                    .env("LECTERN_S3_REGION", &s3.region)
                    .env("LECTERN_S3_FORCE_PATH_STYLE", s3.force_path_style.to_string())
                    .env("AWS_ACCESS_KEY_ID", s3.access_key_id.clone().unwrap_or_default())
                    .env(
                        "AWS_SECRET_ACCESS_KEY",
                        s3.secret_access_key
                            .as_ref()
                            .map(|secret| secret.expose_secret().to_owned())
                            .unwrap_or_default(),
                    );
            }
            _ => {
                command.env("LECTERN_STORAGE", "local").env("LECTERN_STORAGE_DIR", app.data_dir.path().join("objects"));
            }
        }
        let child = command
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", database_url)
            .env("LECTERN_DB_CREATE", "false")
            .env("LECTERN_DATA_DIR", dir.path().join("data"))
            .env("LECTERN_WORK_DIR", dir.path().join("work"))
            .env("LECTERN_JOB_LEASE", lease)
            .env("LECTERN_JOB_POLL_INTERVAL", "200ms")
            .env("LECTERN_JOB_RETRY_DELAY", "1s")
            // The ladder's versions alone: the fast first package has its own tests
            // (media_fast_start) and would take version 1 here.
            .env("LECTERN_FAST_START", "false")
            .env("RUST_LOG", "warn,lectern=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("lectern worker starts");
        Self { child, dir }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL, as the OOM killer or a lost machine would: no shutdown, no release.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(self.dir.path().join("worker.log")).unwrap_or_default();
            eprintln!("--- log of worker {} ---\n{log}", self.child.id());
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

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_worker_killed_mid_encode_takes_its_engine_child_along_and_another_worker_publishes(pool: PgPool) {
    worker_killed_mid_encode(pool, None).await;
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_worker_killed_mid_encode_on_s3_leaves_only_the_published_version_in_the_bucket(pool: PgPool) {
    let storage = seaweed_settings().await;
    worker_killed_mid_encode(pool, Some(storage.clone())).await;
    remove_bucket(&storage).await;
}

async fn worker_killed_mid_encode(pool: PgPool, storage: Option<StorageSettings>) {
    // The API alone in this process; the work happens in `lectern worker` processes.
    let app = app_with(pool.clone(), 0, storage, quick_jobs(Duration::from_secs(3))).await;
    let url = database_url(&pool).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = start_processing(&app, &token, lecture_clip(), "fast").await;

    let mut first = WorkerProcess::start(&url, &app, "3s");
    wait_for_encoding(&pool, asset_id).await;
    let engines = engine_children_of(first.pid());
    assert_eq!(engines.len(), 1, "one engine child encodes: {engines:?}");
    first.kill();
    // The orphaned engine must stop at once, not encode (and write) on for nobody.
    let deadline = Instant::now() + Duration::from_secs(3);
    while alive(engines[0]) {
        assert!(Instant::now() < deadline, "engine child {} outlived its killed worker", engines[0]);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(versions(&pool, asset_id).await, [(1, "processing".to_owned())], "the killed attempt's version");

    // A second worker takes the job over once the dead one's lease expires.
    let _second = WorkerProcess::start(&url, &app, "3s");
    wait_for_asset(&pool, asset_id, "v2 published", Duration::from_secs(120), |status, version, _| {
        status == "ready" && version == Some(2)
    })
    .await;
    assert_eq!(versions(&pool, asset_id).await, [(1, "failed".to_owned()), (2, "published".to_owned())]);
    assert_only_version_stored(&*app.storage, asset_id, 2).await;
    let (state, attempts, last_error) = transcode_job(&pool, asset_id).await;
    assert_eq!((state.as_str(), attempts, last_error), ("succeeded", 2, None));
    let asset: Value = app.get_with(&format!("/v1/assets/{asset_id}"), &token).await.json().await.expect("json");
    assert_eq!(asset["current_version"], 2);
    let renditions = asset["renditions"].as_array().expect("renditions");
    assert!(
        renditions.iter().any(|r| r["kind"] == "video") && renditions.iter().any(|r| r["kind"] == "audio"),
        "{asset}"
    );
    let events = event_types(&pool, asset_id).await;
    assert_eq!(events.iter().filter(|e| *e == "asset.ready").count(), 1, "{events:?}");
}

// ---------------------------------------------------------------------------------------------
// A PostgreSQL restart.

/// A PostgreSQL cluster of its own (initdb in a temporary directory, trust authentication, a
/// free port on 127.0.0.1), stopped on drop. Run as `postgres` when the tests run as root.
struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
}

impl PrivatePostgres {
    fn start() -> Self {
        let bin = ["/usr/local/bin", "/usr/local/pgsql/bin"]
            .into_iter()
            .map(PathBuf::from)
            .chain(glob_dirs("/usr/lib/postgresql"))
            .find(|dir| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file())
            .expect("initdb and pg_ctl (Debian: the postgresql package)");
        let dir = tempfile::tempdir().expect("cluster dir");
        let port = free_port();
        let cluster = Self { dir, bin, port };
        if running_as_root() {
            let status = Command::new("chown").arg("postgres").arg(cluster.dir.path()).status().expect("chown runs");
            assert!(status.success(), "cannot hand the cluster directory to postgres");
        }
        let data = cluster.data();
        cluster.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres", "--no-sync"]);
        cluster.pg_ctl("start");
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        let data = self.data();
        let args: Vec<&str> = match action {
            // Fast: open connections are cut, as in a failover or a restart for an upgrade.
            "stop" => vec!["-D", &data, "-w", "-t", "30", "-m", "fast", "stop"],
            _ => vec!["-D", &data, "-l", &log, "-w", "-t", "30", "-o", &options, action],
        };
        self.run("pg_ctl", &args);
    }

    /// A PostgreSQL tool, run as `postgres` when the tests run as root (initdb refuses root).
    fn tool(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(&path);
            command
        } else {
            Command::new(&path)
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let output = self.tool(program).args(args).current_dir(self.dir.path()).output().expect("postgres tools run");
        assert!(
            output.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self.tool("pg_ctl").args(["-D", &data, "-w", "-m", "immediate", "stop"]).output();
    }
}

fn glob_dirs(parent: &str) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(parent)
        .map(|entries| entries.flatten().map(|entry| entry.path().join("bin")).collect())
        .unwrap_or_default();
    dirs.sort();
    dirs.reverse();
    dirs
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|line| line.strip_prefix("Uid:"))
                .map(|ids| ids.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

#[tokio::test]
async fn a_database_restart_mid_encode_still_ends_ready_with_one_published_version() {
    database_restart_mid_encode(None).await;
}

#[tokio::test]
async fn a_database_restart_mid_encode_on_s3_still_ends_ready_with_one_published_version() {
    let storage = seaweed_settings().await;
    database_restart_mid_encode(Some(storage.clone())).await;
    remove_bucket(&storage).await;
}

async fn database_restart_mid_encode(storage: Option<StorageSettings>) {
    let postgres = PrivatePostgres::start();
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect(&postgres.url())
        .await
        .expect("private database");
    lectern::db::migrate(&pool).await.expect("migrations");
    let app = app_with(pool.clone(), 1, storage, quick_jobs(Duration::from_secs(6))).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = start_processing(&app, &token, lecture_clip(), "fast").await;
    wait_for_encoding(&pool, asset_id).await;

    // Every connection is cut, and for a few seconds nothing answers.
    postgres.pg_ctl("stop");
    tokio::time::sleep(Duration::from_secs(4)).await;
    postgres.pg_ctl("start");

    wait_for_asset(&pool, asset_id, "ready", Duration::from_secs(120), |status, _, _| status == "ready").await;
    let states = versions(&pool, asset_id).await;
    let published: Vec<_> = states.iter().filter(|(_, state)| state == "published").collect();
    assert_eq!(published.len(), 1, "{states:?}");
    assert!(states.iter().all(|(_, state)| state == "published" || state == "failed"), "{states:?}");
    let current: Option<i32> = sqlx::query_scalar("select current_version from asset where asset_id = $1")
        .bind(asset_id)
        .fetch_one(&pool)
        .await
        .expect("asset");
    assert_eq!(current, Some(published[0].0));
    assert_only_version_stored(&*app.storage, asset_id, published[0].0).await;
    assert_eq!(transcode_job(&pool, asset_id).await.0, "succeeded");
    drop(app);
}

// ---------------------------------------------------------------------------------------------
// An object-storage outage.

/// A SeaweedFS of its own, started by `scripts/seaweedfs.sh` with every port shifted away from
/// the shared instance's; stopped on drop.
struct PrivateSeaweed {
    dir: tempfile::TempDir,
    port: u16,
}

impl PrivateSeaweed {
    fn start() -> Self {
        let dir = tempfile::tempdir().expect("SeaweedFS dir");
        let port = Self::free_offset_port();
        let seaweed = Self { dir, port };
        seaweed.script("start");
        seaweed
    }

    /// An S3 port whose whole shifted family (`weed mini` binds master, volume, filer, WebDAV,
    /// admin and their gRPC ports at fixed offsets from it) is free.
    fn free_offset_port() -> u16 {
        let defaults: [u16; 11] = [8333, 18333, 9333, 19333, 9340, 19340, 8888, 18888, 7333, 23646, 33646];
        for _ in 0..200 {
            let offset = 1000 + (rand::random::<u16>() % 20000);
            let ports: Vec<u16> = defaults.iter().map(|port| port + offset).collect();
            if ports.iter().all(|port| TcpListener::bind(("127.0.0.1", *port)).is_ok()) {
                return 8333 + offset;
            }
        }
        panic!("no free port family for a private SeaweedFS");
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn script(&self, action: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/seaweedfs.sh");
        let output = Command::new("bash")
            .arg(script)
            .arg(action)
            .env("LECTERN_SEAWEED_DIR", self.dir.path())
            .env("LECTERN_SEAWEED_PORT", self.port.to_string())
            .output()
            .expect("bash runs");
        assert!(
            output.status.success(),
            "seaweedfs.sh {action} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for PrivateSeaweed {
    fn drop(&mut self) {
        self.script("stop");
    }
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_storage_outage_mid_transcode_is_retried_until_the_asset_is_ready(pool: PgPool) {
    let seaweed = PrivateSeaweed::start();
    let storage = StorageSettings::S3(s3_settings_at(&seaweed.endpoint()).await);
    let app = app_with(pool.clone(), 1, Some(storage.clone()), quick_jobs(Duration::from_secs(6))).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = start_processing(&app, &token, lecture_clip(), "fast").await;
    wait_for_encoding(&pool, asset_id).await;

    // Storage goes away while the engine encodes: the package upload fails, and so does the next
    // attempt's download of the original.
    seaweed.script("stop");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (state, attempts, last_error) = transcode_job(&pool, asset_id).await;
        if attempts >= 2 && state == "queued" {
            assert!(last_error.is_some(), "a failed attempt records its error");
            break;
        }
        assert!(
            state != "failed" && state != "succeeded",
            "the job ended {state} while storage was down: {last_error:?}"
        );
        assert!(Instant::now() < deadline, "no attempt failed while storage was down ({state}, {attempts})");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, _, _, _) = crate::helpers::processing::try_status(&pool, asset_id).await.expect("asset");
    assert_eq!(status, "processing", "an outage is not the video's fault");
    seaweed.script("start");

    wait_for_asset(&pool, asset_id, "ready", Duration::from_secs(120), |status, _, _| status == "ready").await;
    let states = versions(&pool, asset_id).await;
    let (published, _) = states.last().cloned().expect("versions");
    assert_eq!(states.iter().filter(|(_, state)| state == "published").count(), 1, "{states:?}");
    assert!(states[..states.len() - 1].iter().all(|(_, state)| state == "failed"), "{states:?}");
    // The failed attempts' files could not be deleted during the outage; their deletion jobs
    // run once storage is back.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let keys = keys_under(&*app.storage, &format!("assets/{asset_id}/")).await;
        let prefix = format!("assets/{asset_id}/v{published}/");
        let source = lectern::media::source_key(lectern::media::AssetId(asset_id));
        if keys.iter().all(|key| key.starts_with(&prefix) || *key == source.as_str()) {
            break;
        }
        assert!(Instant::now() < deadline, "failed versions' files remain: {keys:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_only_version_stored(&*app.storage, asset_id, published).await;
    drop(app);
    remove_bucket(&storage).await;
}

// ---------------------------------------------------------------------------------------------
// Workers lost on a job's final attempt.

/// Makes the asset's job of `kind` look like its worker died during the final attempt: running,
/// attempts used up, lease expired.
async fn lose_final_attempt(pool: &PgPool, asset_id: Uuid, kind: &str) {
    let updated = sqlx::query(
        r#"
        update job set state = 'running', attempts = max_attempts, locked_by = 'dead-worker',
                       lease_until = now() - interval '1 second'
        where kind = $1 and payload ->> 'asset_id' = $2
        "#,
    )
    .bind(kind)
    .bind(asset_id.to_string())
    .execute(pool)
    .await
    .expect("job updated");
    assert_eq!(updated.rows_affected(), 1);
}

async fn job_state(pool: &PgPool, asset_id: Uuid, kind: &str) -> String {
    sqlx::query_scalar("select state from job where kind = $1 and payload ->> 'asset_id' = $2")
        .bind(kind)
        .bind(asset_id.to_string())
        .fetch_one(pool)
        .await
        .expect("job")
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn an_asset_whose_worker_died_on_the_final_probe_attempt_is_errored_not_left_probing(pool: PgPool) {
    // No workers yet: the probe job waits while the test stages the crash.
    let app = app_with(pool.clone(), 0, None, quick_jobs(Duration::from_secs(2))).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = start_processing(&app, &token, &fixtures().0.join("moov_at_end.mp4"), "fast").await;
    sqlx::query("update asset set status = 'probing' where asset_id = $1")
        .bind(asset_id)
        .execute(&pool)
        .await
        .expect("probing");
    lose_final_attempt(&pool, asset_id, "media.probe").await;

    let _workers = app_with(pool.clone(), 1, None, quick_jobs(Duration::from_secs(2))).await;
    wait_for_asset(&pool, asset_id, "errored", Duration::from_secs(20), |status, _, _| status == "errored").await;
    let (_, _, _, code) = crate::helpers::processing::try_status(&pool, asset_id).await.expect("asset");
    assert_eq!(code.as_deref(), Some("probe_failed"));
    assert_eq!(job_state(&pool, asset_id, "media.probe").await, "failed");
    assert_eq!(event_types(&pool, asset_id).await.last().map(String::as_str), Some("asset.errored"));
    // The reaper failed it; no worker ran it a sixth time.
    let attempts: i32 =
        sqlx::query_scalar("select attempts from job where kind = 'media.probe'").fetch_one(&pool).await.expect("job");
    assert_eq!(attempts, 5);
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_transcode_lost_on_its_final_attempt_fails_its_version_and_errors_the_asset(pool: PgPool) {
    let app = app_with(pool.clone(), 0, None, quick_jobs(Duration::from_secs(2))).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = new_processing_asset(&app, &token).await;
    // The dead attempt had taken version 1.
    sqlx::query("insert into asset_version (asset_id, version, preset) values ($1, 1, 'fast')")
        .bind(asset_id)
        .execute(&pool)
        .await
        .expect("version");
    lose_final_attempt(&pool, asset_id, "media.transcode").await;

    let _workers = app_with(pool.clone(), 1, None, quick_jobs(Duration::from_secs(2))).await;
    wait_for_asset(&pool, asset_id, "errored", Duration::from_secs(20), |status, _, _| status == "errored").await;
    let (_, _, _, code) = crate::helpers::processing::try_status(&pool, asset_id).await.expect("asset");
    assert_eq!(code.as_deref(), Some("transcode_failed"));
    assert_eq!(versions(&pool, asset_id).await, [(1, "failed".to_owned())]);
    assert_eq!(job_state(&pool, asset_id, "media.transcode").await, "failed");
    let deletion: i64 = sqlx::query_scalar(
        "select count(*) from job where kind = 'storage.delete_prefix' and payload ->> 'prefix' = $1",
    )
    .bind(format!("assets/{asset_id}/v1/"))
    .fetch_one(&pool)
    .await
    .expect("count");
    assert_eq!(deletion, 1, "the dead attempt's files are queued for deletion");
}

/// An asset that was probed (its transcode job queued), without running any job: the probe is
/// skipped by writing its outcome directly.
async fn new_processing_asset(app: &TestApp, token: &str) -> Uuid {
    let asset_id = start_processing(app, token, &fixtures().0.join("moov_at_end.mp4"), "fast").await;
    sqlx::query("update job set state = 'succeeded', finished_at = now() where kind = 'media.probe' and payload ->> 'asset_id' = $1")
        .bind(asset_id.to_string())
        .execute(&app.pool)
        .await
        .expect("probe done");
    sqlx::query("update asset set status = 'processing', source = '{}' where asset_id = $1")
        .bind(asset_id)
        .execute(&app.pool)
        .await
        .expect("processing");
    sqlx::query("insert into job (kind, payload) values ('media.transcode', $1)")
        .bind(serde_json::json!({"asset_id": asset_id}))
        .execute(&app.pool)
        .await
        .expect("transcode job");
    asset_id
}

// ---------------------------------------------------------------------------------------------
// A worker lost right after publishing.

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_worker_lost_right_after_publishing_leaves_nothing_to_publish_again(pool: PgPool) {
    // This process runs the jobs by hand, as a worker would, and "dies" after the handler
    // returns: it never records the outcome itself.
    let app = app_with(pool.clone(), 0, None, quick_jobs(Duration::from_secs(1))).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = start_processing(&app, &token, &fixtures().0.join("moov_at_end.mp4"), "fast").await;
    let settings = lectern::app::Settings {
        ingest: std::sync::Arc::new(test_ingest_settings()),
        webhooks: app.webhooks(),
        training: std::sync::Arc::default(),
        payments: std::sync::Arc::default(),
        lti: app.lti(),
        mail: std::sync::Arc::default(), // accounts (issue 21)
    };
    let handlers = lectern::app::job_handlers(&crate::helpers::services(&app, &settings).await, &settings);
    let lease = Duration::from_secs(1);
    for kind in ["media.probe", "media.transcode"] {
        let job = queue::claim(&pool, "doomed", &[kind.to_owned()], lease).await.expect("claim").expect("a job");
        let handler = handlers.iter().find(|handler| handler.kind() == kind).expect("handler");
        let context = JobContext {
            job_id: JobId(job.job_id),
            worker_id: "doomed".to_owned(),
            attempt: job.attempts,
            max_attempts: job.max_attempts,
            pool: pool.clone(),
            storage: app.storage.clone(),
            cancellation: tokio_util::sync::CancellationToken::new(),
        };
        // Heartbeats a real worker would send while the engine runs longer than the lease.
        let beating = {
            let pool = pool.clone();
            let job_id = JobId(job.job_id);
            tokio::spawn(async move {
                loop {
                    let _ = queue::heartbeat(&pool, job_id, "doomed", lease).await;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        };
        handler.run(context, job.payload).await.unwrap_or_else(|error| panic!("{kind}: {error}"));
        beating.abort();
        if kind == "media.probe" {
            assert!(queue::succeed(&pool, JobId(job.job_id), "doomed").await.expect("succeed"));
        }
    }
    // The publish committed the job's success with the version.
    assert_eq!(versions(&pool, asset_id).await, [(1, "published".to_owned())]);
    assert_eq!(transcode_job(&pool, asset_id).await.0, "succeeded");

    // Live workers find nothing to redo, however long they look.
    let _workers = app_with(pool.clone(), 1, None, quick_jobs(lease)).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(versions(&pool, asset_id).await, [(1, "published".to_owned())]);
    let (state, attempts, _) = transcode_job(&pool, asset_id).await;
    assert_eq!((state.as_str(), attempts), ("succeeded", 1));
    let events = event_types(&pool, asset_id).await;
    assert_eq!(events.iter().filter(|e| *e == "asset.ready").count(), 1, "{events:?}");
}

// ---------------------------------------------------------------------------------------------
// A reprocess that fails for good.

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn a_failed_reprocess_keeps_the_asset_ready_on_its_old_version(pool: PgPool) {
    // Retries in quick succession: the engine fails on every attempt.
    let jobs = WorkerSettings {
        retry_delay: Duration::from_millis(100),
        retry_max_delay: Duration::from_millis(200),
        ..quick_jobs(Duration::from_secs(10))
    };
    let app = app_with(pool.clone(), 1, None, jobs).await;
    let token = instructor(&app, "teacher@example.com").await;
    let asset_id = start_processing(&app, &token, &fixtures().0.join("moov_at_end.mp4"), "fast").await;
    wait_for_asset(&pool, asset_id, "v1", Duration::from_secs(120), |status, version, _| {
        status == "ready" && version == Some(1)
    })
    .await;

    // The stored original is damaged since: the engine cannot open it, attempt after attempt.
    let key = lectern::media::source_key(lectern::media::AssetId(asset_id));
    lectern::storage::put_bytes(
        &*app.storage,
        &key,
        bytes::Bytes::from_static(b"not a video at all"),
        Default::default(),
    )
    .await
    .expect("overwritten");
    let response = app
        .client
        .post(app.url(&format!("/v1/assets/{asset_id}/reprocess")))
        .bearer_auth(&token)
        .json(&serde_json::json!({"preset": "course"}))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 202);

    let deadline = Instant::now() + Duration::from_secs(60);
    while !event_types(&pool, asset_id).await.iter().any(|e| e == "asset.reprocess_failed") {
        if Instant::now() > deadline {
            let (events, job, states) = (
                event_types(&pool, asset_id).await,
                transcode_job(&pool, asset_id).await,
                versions(&pool, asset_id).await,
            );
            panic!("no asset.reprocess_failed: {events:?}; job {job:?}; versions {states:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let asset: Value = app.get_with(&format!("/v1/assets/{asset_id}"), &token).await.json().await.expect("json");
    assert_eq!(asset["status"], "ready", "{asset}");
    assert_eq!(asset["playable"], true);
    assert_eq!(asset["current_version"], 1);
    assert_eq!(asset["error"]["code"], "transcode_failed", "{asset}");
    assert!(asset["progress"].is_null(), "{asset}");
    let states = versions(&pool, asset_id).await;
    assert_eq!(states.len(), 6, "one version per attempt: {states:?}");
    assert_eq!(states[0], (1, "published".to_owned()));
    assert!(states[1..].iter().all(|(_, state)| state == "failed"), "{states:?}");
    assert_only_version_stored(&*app.storage, asset_id, 1).await;
    let (state, attempts, _) = transcode_job(&pool, asset_id).await;
    assert_eq!((state.as_str(), attempts), ("failed", 5));
    // A playback session can still be opened on it.
    let response = app
        .client
        .post(app.url(&format!("/v1/assets/{asset_id}/playback")))
        .bearer_auth(&token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("request");
    assert!(response.status().is_success(), "playback: {}", response.text().await.unwrap_or_default());
}
