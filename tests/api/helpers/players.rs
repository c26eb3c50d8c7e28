//! The browser players of `tests/players` (hls.js, dash.js and Shaka in Debian's Chromium,
//! installed by `scripts/install-players.sh`).

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn players_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/players")
}

pub fn require_players() {
    assert!(
        Path::new("/usr/bin/chromium").exists() && players_dir().join("node_modules/playwright-core").exists(),
        "Chromium or the player packages are missing: run scripts/install-players.sh"
    );
}

/// Plays `url` with `player` through `play.mjs`, forced onto each of `renditions` in turn; fails
/// the test when it cannot. Blocks until the browser is done.
pub fn play(player: &str, url: &str, renditions: usize) {
    let output = Command::new("node")
        .arg(players_dir().join("play.mjs"))
        .args(["--player", player, "--url", url, "--timeout", "120", "--json"])
        .args(["--expect-renditions", &renditions.to_string()])
        .output()
        .expect("node runs play.mjs");
    assert!(
        output.status.success(),
        "{player} could not play {url}:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
