//! Helpers for tests that follow an asset through the processing jobs: storing an original and
//! completing its upload, waiting on the asset's status and versions, checking which version's
//! files are stored, and finding the engine children (`lectern __engine`) of a process.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use lectern::media::AssetId;
use lectern::storage::ObjectStore;
use sqlx::PgPool;
use uuid::Uuid;

use super::TestApp;
use super::storage::keys_under;

/// A 20-second 720p30 clip with a tone: long enough that a transcode with the `fast` preset is
/// still running when a test interrupts it. Made once per test run in the shared target
/// directory (under a lock, written to a temporary name first).
pub fn lecture_clip() -> &'static Path {
    static CLIP: OnceLock<PathBuf> = OnceLock::new();
    CLIP.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("processing-clips");
        std::fs::create_dir_all(&dir).expect("clip dir");
        let clip = dir.join("lecture_20s_720p.mp4");
        let script = format!(
            "test -s {clip} || {{ ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=1280x720:rate=30:duration=20 \
             -f lavfi -i sine=frequency=440:duration=20:sample_rate=48000 -c:v libx264 -preset ultrafast -pix_fmt yuv420p \
             -c:a aac -shortest {tmp} && mv {tmp} {clip}; }}",
            clip = clip.display(),
            tmp = dir.join("lecture_20s_720p.part.mp4").display(),
        );
        let output = Command::new("flock")
            .arg(dir.join(".lock"))
            .args(["bash", "-c", &script])
            .output()
            .expect("flock, bash and ffmpeg run");
        assert!(output.status.success(), "cannot make the clip: {}", String::from_utf8_lossy(&output.stderr));
        clip
    })
}

/// Stores `original` as the asset's source, with `preset`, and completes the upload (which
/// enqueues the probe, and the probe the transcode). Returns the asset id.
pub async fn start_processing(app: &TestApp, token: &str, original: &Path, preset: &str) -> Uuid {
    let asset_id = super::media::new_asset(app, token).await;
    sqlx::query("update asset set preset = $2 where asset_id = $1")
        .bind(asset_id)
        .bind(preset)
        .execute(&app.pool)
        .await
        .expect("preset");
    super::media::complete_upload(app, asset_id, std::fs::read(original).expect("original bytes")).await;
    asset_id
}

/// Status, current version, progress and error code of an asset; `None` while the database
/// does not answer (some tests restart it).
pub async fn try_status(pool: &PgPool, asset_id: Uuid) -> Option<(String, Option<i32>, Option<f32>, Option<String>)> {
    sqlx::query_as("select status, current_version, progress, error_code from asset where asset_id = $1")
        .bind(asset_id)
        .fetch_one(pool)
        .await
        .ok()
}

/// Waits up to `limit` until `done(status, current_version, progress)` holds; fails on an
/// errored asset unless `done` accepts it.
pub async fn wait_for_asset(
    pool: &PgPool,
    asset_id: Uuid,
    what: &str,
    limit: Duration,
    done: impl Fn(&str, Option<i32>, Option<f32>) -> bool,
) {
    let deadline = Instant::now() + limit;
    let mut last = None;
    loop {
        if let Some((status, version, progress, error)) = try_status(pool, asset_id).await {
            if done(&status, version, progress) {
                return;
            }
            assert!(status != "errored", "asset errored ({error:?}) while waiting for {what}");
            last = Some((status, version, progress));
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; last seen {last:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until a transcode of the asset reports progress (its engine child is encoding).
pub async fn wait_for_encoding(pool: &PgPool, asset_id: Uuid) {
    wait_for_asset(pool, asset_id, "encoding progress", Duration::from_secs(120), |status, _, progress| {
        status == "processing" && progress.is_some_and(|p| p > 0.0)
    })
    .await;
}

/// The asset's versions and their states, in order.
pub async fn versions(pool: &PgPool, asset_id: Uuid) -> Vec<(i32, String)> {
    sqlx::query_as("select version, state from asset_version where asset_id = $1 order by version")
        .bind(asset_id)
        .fetch_all(pool)
        .await
        .expect("versions")
}

/// State, attempts and last error of the asset's latest transcode job.
pub async fn transcode_job(pool: &PgPool, asset_id: Uuid) -> (String, i32, Option<String>) {
    sqlx::query_as(
        "select state, attempts, last_error from job where kind = 'media.transcode' and payload ->> 'asset_id' = $1
         order by created_at desc limit 1",
    )
    .bind(asset_id.to_string())
    .fetch_one(pool)
    .await
    .expect("a transcode job")
}

/// Keys under `assets/{id}/` other than the original: every one must belong to `version`.
pub async fn assert_only_version_stored(store: &dyn ObjectStore, asset_id: Uuid, version: i32) {
    let keys = keys_under(store, &format!("assets/{asset_id}/")).await;
    let source = lectern::media::source_key(AssetId(asset_id));
    let package = format!("assets/{asset_id}/v{version}/");
    let strays: Vec<&String> =
        keys.iter().filter(|key| **key != source.as_str() && !key.starts_with(&package)).collect();
    assert!(strays.is_empty(), "files of other versions are stored: {strays:?}");
    assert!(keys.iter().any(|key| *key == format!("{package}master.m3u8")), "no master playlist in {keys:?}");
}

/// Live (not zombie) engine children (`lectern __engine`) of process `parent`, by pid.
pub fn engine_children_of(parent: u32) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else { continue };
        let ppid = status.lines().find_map(|line| line.strip_prefix("PPid:")).map(str::trim);
        if ppid != Some(&parent.to_string()) || !alive(pid) {
            continue;
        }
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains("__engine") {
            found.push(pid);
        }
    }
    found
}

/// The process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .is_ok_and(|status| !status.lines().any(|line| line.starts_with("State:") && line.contains('Z')))
}
