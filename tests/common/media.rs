//! The media fixtures of `tests/media/make-fixtures.sh`, generated once per test binary into the
//! shared target directory (the script keeps files that already exist, so reruns are quick).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::Value;

/// The fixture directory and the `fixtures` list of its `fixtures.json`.
pub fn fixtures() -> &'static (PathBuf, Vec<Value>) {
    static FIXTURES: OnceLock<(PathBuf, Vec<Value>)> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("media-fixtures");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/media/make-fixtures.sh");
        // Test binaries run in parallel; one lock file keeps two generators from racing.
        std::fs::create_dir_all(&dir).expect("fixture dir");
        let output = Command::new("flock")
            .arg(dir.join(".lock"))
            .arg("bash")
            .arg(&script)
            .arg(&dir)
            .output()
            .expect("flock and bash run");
        assert!(output.status.success(), "fixture generation failed: {}", String::from_utf8_lossy(&output.stderr));
        let manifest: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("fixtures.json")).expect("fixtures.json"))
                .expect("valid JSON");
        let list = manifest["fixtures"].as_array().expect("a fixture list").clone();
        (dir, list)
    })
}

pub fn fixture_dir() -> PathBuf {
    fixtures().0.clone()
}

/// The fixture entry named `name` (e.g. `landscape_1080p30`).
pub fn fixture(name: &str) -> &'static Value {
    fixtures().1.iter().find(|f| f["name"] == name).unwrap_or_else(|| panic!("no fixture {name}"))
}
