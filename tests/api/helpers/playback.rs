//! Shared set-up for the playback tests: one real package made by `lectern transcode` from a
//! short ffmpeg clip (once per test run), published as version 1 of an asset the way the
//! transcode job publishes one: files under `assets/{id}/v1/` in the app's object store, a
//! `published` `asset_version` row, and the asset `ready` and `playable`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{Value, json};

use super::{TestApp, account_with_roles};

/// The package directory and its `package.json`.
pub fn package() -> &'static (PathBuf, Value) {
    static PACKAGE: OnceLock<(PathBuf, Value)> = OnceLock::new();
    // Five seconds of 640x360: two segments per rendition, two rungs (360p, 240p) and audio.
    PACKAGE.get_or_init(|| transcoded_clip(&tempfile::tempdir().expect("temp dir").keep(), "640x360", 5))
}

/// Makes a `seconds`-long clip of `size` (a test picture and a tone) in `work` and transcodes it
/// with `lectern transcode` and the default preset into `work/package`; returns the package
/// directory and its `package.json`.
pub fn transcoded_clip(work: &Path, size: &str, seconds: u32) -> (PathBuf, Value) {
    let source = work.join("lecture.mp4");
    let status = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i", &format!("testsrc2=size={size}:rate=30:duration={seconds}")])
        .args(["-f", "lavfi", "-i", &format!("sine=frequency=440:duration={seconds}")])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"])
        .arg(&source)
        .status()
        .expect("ffmpeg runs");
    assert!(status.success());
    let out = work.join("package");
    let output = Command::new(env!("CARGO_BIN_EXE_lectern"))
        .args(["transcode", source.to_str().expect("utf-8"), "--out", out.to_str().expect("utf-8"), "--quiet"])
        .output()
        .expect("lectern runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let package =
        serde_json::from_str(&std::fs::read_to_string(out.join("package.json")).expect("package.json")).expect("JSON");
    (out, package)
}

/// The names of the package's video renditions.
pub fn video_renditions() -> Vec<String> {
    package().1["video"]
        .as_array()
        .expect("video renditions")
        .iter()
        .map(|rendition| rendition["name"].as_str().expect("name").to_owned())
        .collect()
}

fn files(dir: &Path, base: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files(&path, base, out);
        } else {
            out.push(path.strip_prefix(base).expect("inside").to_path_buf());
        }
    }
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "m4s" => "video/iso.segment",
        "mp4" => "video/mp4",
        "jpg" => "image/jpeg",
        "vtt" => "text/vtt",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// Makes `asset_id` a ready asset whose version 1 is the shared package.
pub async fn publish(app: &TestApp, asset_id: uuid::Uuid) {
    publish_package(app, asset_id, &package().0).await;
}

/// Makes `asset_id` a ready asset whose version 1 is the package in `dir` (one made by
/// [`transcoded_clip`]).
pub async fn publish_package(app: &TestApp, asset_id: uuid::Uuid, dir: &Path) {
    let mut paths = Vec::new();
    files(dir, dir, &mut paths);
    for path in paths {
        let relative = path.to_str().expect("utf-8");
        let key = lectern::storage::ObjectKey::parse(format!("assets/{asset_id}/v1/{relative}")).expect("key");
        let bytes = std::fs::read(dir.join(&path)).expect("read");
        let options =
            lectern::storage::PutOptions { content_type: Some(content_type(&path).to_owned()), cache_control: None };
        lectern::storage::put_bytes(app.storage.as_ref(), &key, bytes.into(), options).await.expect("upload");
    }
    let manifests = json!({
        "hls": "master.m3u8", "dash": "manifest.mpd", "poster": "images/poster.jpg",
        "storyboard": "images/storyboard.vtt", "download": "download.mp4"
    });
    sqlx::query(
        "insert into asset_version (asset_id, version, preset, state, manifests, published_at)
         values ($1, 1, 'course', 'published', $2, now())",
    )
    .bind(asset_id)
    .bind(manifests)
    .execute(&app.pool)
    .await
    .expect("version row");
    sqlx::query("update asset set status = 'ready', current_version = 1, playable = true where asset_id = $1")
        .bind(asset_id)
        .execute(&app.pool)
        .await
        .expect("ready");
}

/// A new ready asset of the account `owner_token` signs in, whose version 1 is the package in
/// `dir` and whose probed length is `seconds` (what a lesson takes its duration from: the
/// package is published without rendition rows).
pub async fn video_asset(app: &TestApp, owner_token: &str, dir: &Path, seconds: f64) -> uuid::Uuid {
    let asset_id = super::media::new_asset(app, owner_token).await;
    publish_package(app, asset_id, dir).await;
    sqlx::query("update asset set source = jsonb_build_object('duration_seconds', $2::float8) where asset_id = $1")
        .bind(asset_id)
        .bind(seconds)
        .execute(&app.pool)
        .await
        .expect("duration");
    asset_id
}

/// An instructor with a ready (published) asset, and a learner: owner token, asset id, learner
/// id, learner token.
pub struct Lesson {
    pub owner: String,
    pub asset_id: uuid::Uuid,
    pub learner_id: uuid::Uuid,
    pub learner: String,
}

pub async fn lesson(app: &TestApp) -> Lesson {
    let (_, owner) = account_with_roles(app, "teacher@example.com", &["learner", "instructor"]).await;
    let (learner_id, learner) = account_with_roles(app, "learner@example.com", &["learner"]).await;
    let asset_id = super::media::new_asset(app, &owner).await;
    publish(app, asset_id).await;
    Lesson { owner, asset_id, learner_id, learner }
}

pub async fn grant(app: &TestApp, lesson: &Lesson, account_id: uuid::Uuid) -> reqwest::Response {
    app.client
        .post(app.url(&format!("/v1/assets/{}/grants", lesson.asset_id)))
        .bearer_auth(&lesson.owner)
        .json(&json!({"account_id": account_id}))
        .send()
        .await
        .expect("request")
}

pub async fn start_session(app: &TestApp, asset_id: uuid::Uuid, token: &str, body: Option<Value>) -> reqwest::Response {
    let request = app.client.post(app.url(&format!("/v1/assets/{asset_id}/playback"))).bearer_auth(token);
    let request = match body {
        Some(body) => request.json(&body),
        None => request,
    };
    request.send().await.expect("request")
}
