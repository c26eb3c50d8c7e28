//! Lectern's media engine. It reads a local file and writes a package to a directory; it knows
//! nothing of HTTP, SQL or object storage.
//!
//! - [`probe()`] says what a file holds ([`pipelines::source::SourceInfo`]) or why it is
//!   refused ([`pipelines::refusal::Refusal`] with a stable code). It reads headers and packet
//!   headers only; limits on duration and size are the caller's business.
//! - [`transcode()`] executes a [`pipelines::plan::Plan`]: one decode, every rung and audio
//!   rendition encoded in this process, CMAF segments (`{name}/init.mp4`,
//!   `{name}/seg_00001.m4s`…) shared by HLS and DASH, `images/` (poster, thumbnails,
//!   storyboard sheets) and `download.mp4`; it returns the [`pipelines::package::Package`] and
//!   writes it as `package.json`. The storyboard VTT and the manifests are written by the
//!   caller from the package with the `pipelines` functions.
//! - [`remux()`] executes a [`pipelines::preview::RemuxPlan`]: the source's H.264 and AAC
//!   copied into the same CMAF layout without decoding, for the fast first package.
//!
//! Nothing here exits the process or installs signal handlers; run it in a child process
//! with limits when the input is untrusted.

pub mod engine;
mod ffi;
pub mod probe;

pub use engine::{EngineError, Progress, remux, transcode};
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
