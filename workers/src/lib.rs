//! Lectern's media engine. It reads a local file and writes a package to a directory; it knows
//! nothing of HTTP, SQL or object storage.

pub mod engine;
mod ffi;
pub mod probe;

pub use engine::{EngineError, Progress, transcode};
pub use probe::{ProbeError, probe};

/// Initialises FFmpeg once per process and quietens its logging to errors, so a hostile file
/// cannot flood the job's log.
pub fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        // Initialisation only registers components; on FFmpeg 5 it cannot fail in practice,
        // and a failure would surface again as an error when a file is opened.
        let _ = ffmpeg_next::init();
        ffmpeg_next::util::log::set_level(ffmpeg_next::util::log::Level::Error);
    });
}
