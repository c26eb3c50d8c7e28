//! Fixture generation shared by the integration tests: every source file is made with the
//! `ffmpeg` CLI in a temporary directory, so no binary media is committed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub mod check;
pub mod plans;

pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Runs `ffmpeg` with the given arguments, writing `name` inside `dir`, and returns its path.
pub fn ffmpeg(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg failed making {name}");
    out
}

/// Runs `ffmpeg` writing to a pipe, so the muxer cannot seek back to write a duration or
/// cues, as a browser's MediaRecorder does.
pub fn ffmpeg_piped(dir: &Path, name: &str, args: &[&str]) -> PathBuf {
    let out = dir.join(name);
    let file = std::fs::File::create(&out).unwrap();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .arg("pipe:1")
        .stdout(Stdio::from(file))
        .status()
        .unwrap();
    assert!(status.success(), "ffmpeg failed making {name}");
    out
}

/// A plain H.264 + AAC MP4 (moov at the end, the muxer's default), `seconds` long.
pub fn basic_mp4(dir: &Path, name: &str, seconds: u32, size: &str, rate: u32) -> PathBuf {
    let video = format!("testsrc2=size={size}:rate={rate}:duration={seconds}");
    let audio = format!("sine=frequency=440:sample_rate=44100:duration={seconds}");
    ffmpeg(
        dir,
        name,
        &[
            "-f",
            "lavfi",
            "-i",
            &video,
            "-f",
            "lavfi",
            "-i",
            &audio,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ],
    )
}

pub fn ffprobe_json(path: &Path, extra: &[&str]) -> serde_json::Value {
    let output = Command::new("ffprobe").args(["-v", "error", "-of", "json"]).args(extra).arg(path).output().unwrap();
    assert!(
        output.status.success(),
        "ffprobe failed on {}: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
