//! The engine's output plays in real browser players: a package made by `lectern transcode` is
//! served over HTTP and played in Debian's Chromium with hls.js, dash.js and Shaka Player,
//! each forced onto every rendition in turn (`tests/players/play.mjs`).
//!
//! Needs Chromium and the pinned npm packages: `scripts/install-players.sh` (which
//! `scripts/test.sh` runs) installs both.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::helpers::playback::transcoded_clip;
use crate::helpers::players::{play, players_dir, require_players};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `serve.mjs` on a free port and returns its base URL.
fn serve(dir: &Path) -> (Server, String) {
    let mut child = Command::new("node")
        .arg(players_dir().join("serve.mjs"))
        .arg(dir)
        .args(["--port", "0", "--quiet"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("node runs serve.mjs");
    let stdout = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(stdout);
    let mut first = String::new();
    reader.read_line(&mut first).expect("serve.mjs announces its URL");
    // Keep reading: a closed pipe would kill the server at its next write.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    let url = first.trim().rsplit(" at ").next().expect("serving DIR at URL").trim_end_matches('/').to_owned();
    (Server(child), url)
}

#[test]
fn a_transcoded_lecture_plays_in_hls_js_dash_js_and_shaka_with_every_rendition() {
    require_players();
    let work = tempfile::tempdir().expect("temp dir");
    // Nine seconds of 720p: three 4-second segments, four rungs (720p to 240p) with the
    // default course preset.
    let (out, package) = transcoded_clip(work.path(), "1280x720", 9);
    let renditions = package["video"].as_array().expect("video renditions").len();
    assert_eq!(renditions, 4, "720p, 480p, 360p and 240p");

    let (_server, base) = serve(&out);
    play("hls", &format!("{base}/master.m3u8"), renditions);
    play("dash", &format!("{base}/manifest.mpd"), renditions);
    play("shaka", &format!("{base}/manifest.mpd"), renditions);
    play("shaka", &format!("{base}/master.m3u8"), renditions);
}
