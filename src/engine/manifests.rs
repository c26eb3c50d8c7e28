//! Writes the manifests of a finished package next to its media: the HLS master and media
//! playlists, the DASH MPD and the storyboard's WebVTT. The text comes from `pipelines`; this
//! module only puts it in files.

use std::path::Path;

use pipelines::package::Package;
use pipelines::plan::ImagePlan;
use pipelines::{dash, hls, naming, storyboard};
use workers::EngineError;

/// `images` is the plan's image plan, needed for the storyboard's VTT when the package has one
/// (a remuxed preview has none).
pub fn write(out_dir: &Path, package: &Package, images: Option<&ImagePlan>) -> Result<(), EngineError> {
    let write = |relative: &str, text: String| {
        let path = out_dir.join(relative);
        std::fs::write(&path, text)
            .map_err(|source| EngineError::Io { context: format!("writing {}", path.display()), source })
    };
    for rendition in package.video.iter().chain(&package.audio) {
        write(&hls::media_playlist_path(rendition), hls::media_playlist(rendition))?;
    }
    write(naming::MASTER_PLAYLIST, hls::master_playlist(package))?;
    write(naming::DASH_MANIFEST, dash::mpd(package))?;
    if let (Some(vtt), Some(images)) = (&package.storyboard_vtt, images) {
        let tiles = storyboard::tile_layout(package.duration_seconds, images);
        write(vtt, storyboard::webvtt(&tiles))?;
    }
    Ok(())
}
