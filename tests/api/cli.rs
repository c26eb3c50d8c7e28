//! The `lectern` binary as an operator meets it: configuration errors exit 2 naming the
//! setting, an unreachable database gives up with a clear message, keys are generated once, and
//! `serve` comes up ready and stops cleanly on SIGTERM.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn lectern() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lectern"));
    // A clean slate: only what each test sets.
    for (name, _) in std::env::vars() {
        if name.starts_with("LECTERN_") || name.starts_with("AWS_") || name == "DATABASE_URL" || name == "RUST_LOG" {
            command.env_remove(name);
        }
    }
    command.stdin(Stdio::null());
    command
}

#[test]
fn s3_storage_without_a_bucket_exits_2_naming_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output =
        lectern().args(["serve", "--storage", "s3"]).env("LECTERN_DATA_DIR", dir.path()).output().expect("runs");
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("LECTERN_S3_BUCKET"), "{stderr}");
}

#[test]
fn an_unparsable_public_url_exits_2_naming_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = lectern()
        .args(["serve"])
        .env("LECTERN_DATA_DIR", dir.path())
        .env("LECTERN_PUBLIC_URL", "ftp//nope")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("LECTERN_PUBLIC_URL"));
}

#[test]
fn an_unreadable_explicit_key_file_exits_2_naming_the_setting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = lectern()
        .args(["serve"])
        .env("LECTERN_DATA_DIR", dir.path())
        .env("LECTERN_CDN_KEY_FILE", dir.path().join("missing.pem"))
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("LECTERN_CDN_KEY_FILE"));
}

#[test]
fn an_unreachable_database_is_retried_then_reported_clearly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let started = Instant::now();
    let output = lectern()
        .args(["serve"])
        .env("LECTERN_DATA_DIR", dir.path())
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/lectern")
        .env("LECTERN_DB_CONNECT_TIMEOUT", "1s")
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("database unreachable"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn keys_generate_creates_private_keys_once_and_prints_the_public_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let first = lectern().args(["keys", "generate"]).env("LECTERN_DATA_DIR", dir.path()).output().expect("runs");
    assert!(first.status.success(), "{first:?}");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(stdout.starts_with("-----BEGIN PUBLIC KEY-----"), "{stdout}");
    assert!(String::from_utf8_lossy(&first.stderr).contains("generated"));
    let key = std::fs::read_to_string(dir.path().join("keys/cdn-signing-key.pem")).expect("key written");
    let second = lectern().args(["keys", "generate"]).env("LECTERN_DATA_DIR", dir.path()).output().expect("runs");
    assert!(String::from_utf8_lossy(&second.stderr).contains("nothing generated"));
    assert_eq!(std::fs::read_to_string(dir.path().join("keys/cdn-signing-key.pem")).expect("kept"), key);
}

/// The real thing: `lectern serve` with embedded defaults creates its own database, migrates,
/// generates keys, answers `/readyz` with 200, and exits 0 on SIGTERM.
#[test]
fn serve_with_embedded_defaults_becomes_ready_and_stops_on_sigterm() {
    let base =
        std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut url = url::Url::parse(&base).expect("DATABASE_URL is a URL");
    let database = format!("lectern_cli_{}", uuid::Uuid::new_v4().simple());
    url.set_path(&database);

    let dir = tempfile::tempdir().expect("temp dir");
    let port = crate::helpers::free_port();
    let mut child = lectern()
        .args(["serve"])
        .env("LECTERN_DATA_DIR", dir.path())
        .env("LECTERN_LISTEN", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", url.as_str())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let ready = runtime.block_on(async {
        let client = reqwest::Client::new();
        for _ in 0..150 {
            if let Ok(response) = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await {
                return Some((response.status(), response.text().await.unwrap_or_default()));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    });
    let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(kill.success());
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = {
        use std::io::Read;
        let mut text = String::new();
        child.stderr.take().map(|mut e| e.read_to_string(&mut text));
        text
    };
    runtime.block_on(async {
        if let Ok(mut admin) = sqlx::PgConnection::connect(&base).await {
            use sqlx::Connection;
            let _ = sqlx::query(&format!("drop database if exists {database} with (force)")).execute(&mut admin).await;
            let _ = admin.close().await;
        }
    });

    let (ready_status, body) = ready.unwrap_or_else(|| panic!("never answered /readyz; stderr:\n{stderr}"));
    assert_eq!(ready_status, 200, "{body}\n{stderr}");
    assert!(body.contains(r#""database":{"status":"ok""#), "{body}");
    assert!(status.success(), "exit {status:?}; stderr:\n{stderr}");
    assert!(dir.path().join("keys/cdn-signing-key.pem").exists());
    assert!(dir.path().join("objects").is_dir());
}

use sqlx::Connection as _;
