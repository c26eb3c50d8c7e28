//! The web console in Debian's Chromium against a real server and PostgreSQL
//! (`tests/players/console.mjs` drives it; see there for the steps): first run with the setup
//! token, an upload whose progress bar moves and whose asset becomes playable and plays in the
//! preview, an upload that loses its connection half-way and resumes, a course built and
//! published, and a learner who enrols, watches, closes the tab and resumes at the right second.
//! axe-core checks every page; screenshots at desktop and phone widths land in
//! `target/console-screenshots/` for a person to look at.
//!
//! Needs Chromium and the pinned npm packages (`scripts/install-players.sh`) and the built
//! console (`scripts/build-ui.sh`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use lectern::net::AddressPolicy;
use lectern::webhooks::WebhookSettings;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::players::{players_dir, require_players};
use crate::helpers::{PASSWORD, TestOptions, generated_bytes, sha256_hex, spawn_app_with, test_ingest_settings};

/// How long the learner watches before closing the tab (past the first periodic report).
const WATCH_SECONDS: u32 = 12;
/// How far from where the tab was closed the lesson may resume.
const RESUME_TOLERANCE_MS: f64 = 1_500.0;

fn make_clip(dir: &Path) -> std::path::PathBuf {
    let clip = dir.join("lecture-01.mp4");
    let status = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        // Noise and a high bit rate make it about 11 MB: two tus chunks, so the progress bar has
        // a value between 0 and 100 % to show even over loopback.
        .args(["-vf", "noise=alls=40:allf=t", "-t", "30"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "3M", "-pix_fmt", "yuv420p", "-g", "50"])
        .args(["-c:a", "aac", "-b:a", "64k", "-movflags", "+faststart"])
        .arg(&clip)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success(), "ffmpeg could not make the test clip");
    clip
}

#[sqlx::test(migrator = "lectern::db::MIGRATOR")]
async fn instructor_and_learner_flows_work_in_chromium(pool: PgPool) {
    require_players();
    assert!(lectern::console::is_built(), "web/dist is missing: run scripts/build-ui.sh");
    let setup_token = lectern::auth::setup::prepare(&pool).await.expect("prepare").expect("fresh install: a token");
    // Fast start on, as by default: the asset plays from its preview package while the ladder
    // is made.
    let ingest = lectern::media::IngestSettings { fast_start: true, ..test_ingest_settings() };
    // The webhook receiver is console.mjs's, on 127.0.0.1 over plain http; a short retry window
    // turns its refusals into `failed` deliveries within the test.
    let webhooks = WebhookSettings {
        fetch: WebhookSettings::fetch_settings(
            AddressPolicy::parse(&["127.0.0.1"]).expect("valid allow-list"),
            Duration::from_secs(5),
        ),
        allow_http: true,
        retry_base_delay: Duration::from_millis(200),
        retry_max_delay: Duration::from_secs(1),
        retry_window: Duration::from_secs(3),
        ..WebhookSettings::default()
    };
    let app = spawn_app_with(
        pool.clone(),
        TestOptions { workers: 2, ingest: Some(ingest), webhooks: Some(webhooks), ..TestOptions::default() },
    )
    .await;

    let work = tempfile::tempdir().expect("temp dir");
    let clip = make_clip(work.path());
    // Bigger than one tus chunk (8 MiB), so the cut falls between two PATCHes; not a video,
    // so it ends `errored` with its message shown.
    let big = generated_bytes(17, 12 * 1024 * 1024);
    let big_file = work.path().join("scanned-notes.mp4");
    std::fs::write(&big_file, &big).expect("write");
    // Picked, half sent, the page reloaded, picked again: it must resume into the same asset.
    let reloaded = generated_bytes(23, 12 * 1024 * 1024);
    let reload_file = work.path().join("whiteboard.mp4");
    std::fs::write(&reload_file, &reloaded).expect("write");
    let screenshots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
    let config = json!({
        "url": format!("{}/", app.address),
        "setup_token": setup_token,
        "video": clip,
        "big_file": big_file,
        "reload_file": reload_file,
        "screenshots": screenshots,
        "admin": {"email": "head@example.com", "password": PASSWORD},
        "learner": {"email": "student@example.com", "password": PASSWORD},
        "watch_seconds": WATCH_SECONDS,
    });
    let config_file = work.path().join("console.json");
    std::fs::write(&config_file, config.to_string()).expect("write config");

    let child = tokio::process::Command::new("node")
        .arg(players_dir().join("console.mjs"))
        .arg(&config_file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs console.mjs");
    let output = tokio::time::timeout(Duration::from_secs(600), child.wait_with_output())
        .await
        .expect("console.mjs finishes within 10 minutes")
        .expect("wait");
    let stdout = String::from_utf8_lossy(&output.stdout);
    eprintln!("{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "console.mjs failed:\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let steps: Vec<Value> = stdout.lines().filter_map(|line| serde_json::from_str(line).ok()).collect();
    let done = steps.iter().find(|step| step["done"] == true).expect("a last line");

    // The learner came back where the tab was closed.
    let closed_ms = done["closed_at_seconds"].as_f64().expect("closed") * 1000.0;
    let resume_ms = done["resume_ms"].as_f64().expect("resume");
    let current_ms = done["current_seconds"].as_f64().expect("current") * 1000.0;
    assert!(closed_ms >= f64::from(WATCH_SECONDS) * 1000.0, "{done}");
    // The training domain rewinds the resume point 3 s, so the learner sees the last moment again.
    assert!(
        (resume_ms - (closed_ms - 3_000.0)).abs() <= RESUME_TOLERANCE_MS,
        "resumed at {resume_ms} ms, closed at {closed_ms} ms"
    );
    assert!(
        (current_ms - resume_ms).abs() <= RESUME_TOLERANCE_MS + 1_000.0,
        "player at {current_ms} ms, resume {resume_ms}"
    );
    // Every page passed axe.
    let checked: Vec<&str> = steps.iter().filter(|s| s["step"] == "axe").filter_map(|s| s["page"].as_str()).collect();
    for page in [
        "setup",
        "library",
        "course-editor",
        "api-keys",
        "webhooks",
        "sign-in",
        "catalogue",
        "course",
        "player",
        "my-learning",
    ] {
        assert!(checked.contains(&page), "axe did not check {page}: {checked:?}");
    }

    // What the server holds: the first administrator, the cut upload whole, the course published.
    let roles: Vec<String> = sqlx::query_scalar("select roles from account where email = 'head@example.com'")
        .fetch_one(&pool)
        .await
        .expect("the administrator exists");
    assert!(roles.contains(&"admin".to_owned()), "{roles:?}");
    let big_sha: Option<String> = sqlx::query_scalar("select source_sha256 from asset where title = 'scanned-notes'")
        .fetch_one(&pool)
        .await
        .expect("the second asset");
    assert_eq!(big_sha.as_deref(), Some(sha256_hex(&big).as_str()), "the resumed upload is not the file sent");
    let whiteboards: Vec<Option<String>> =
        sqlx::query_scalar("select source_sha256 from asset where title = 'whiteboard'")
            .fetch_all(&pool)
            .await
            .expect("the reloaded upload's asset");
    assert_eq!(whiteboards, vec![Some(sha256_hex(&reloaded))], "one asset, holding the whole file");
    let published: String = sqlx::query_scalar("select status from course where title = 'Calculus I'")
        .fetch_one(&pool)
        .await
        .expect("the course");
    assert_eq!(published, "published");
    let keys: Vec<(String, bool)> = sqlx::query_as(
        "select name, revoked_at is not null from api_key join account using (account_id) where email = 'head@example.com'",
    )
    .fetch_all(&pool)
    .await
    .expect("api keys");
    assert_eq!(keys, vec![("course site".to_owned(), true)], "the key made and revoked in the console");
    for name in ["setup", "api-keys", "library-preview", "course-editor", "catalogue", "player", "my-learning-ru"] {
        for width in ["desktop", "phone"] {
            assert!(screenshots.join(format!("{name}-{width}.png")).exists(), "no screenshot {name}-{width}");
        }
    }
}
