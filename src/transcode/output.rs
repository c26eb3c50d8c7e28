//! What a transcode produced, in one shape for every backend, so the asset pipeline registers
//! renditions the same way whether the local engine or MediaConvert made them.

use crate::storage::ObjectKey;

/// Everything a finished transcode left under its destination prefix, whichever backend ran it.
#[derive(Debug, Clone, PartialEq)]
pub struct TranscodeOutput {
    /// The HLS multivariant playlist (`master.m3u8`).
    pub master_playlist: ObjectKey,
    /// The DASH manifest (`master.mpd` from MediaConvert, `manifest.mpd` from the engine).
    pub dash_manifest: Option<ObjectKey>,
    /// Video renditions, highest bandwidth first, then audio renditions in playlist order.
    pub renditions: Vec<Rendition>,
    /// Frame captures in time order.
    pub thumbnails: Vec<ObjectKey>,
    /// Every object under the prefix, for size accounting and clean-up.
    pub total_bytes: u64,
    /// The presentation's duration as packaged, when the backend reports it.
    pub duration_seconds: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rendition {
    /// The plan's rung or audio name (`720p`, `audio_eng`).
    pub name: String,
    /// The rendition's media playlist.
    pub playlist: ObjectKey,
    pub kind: RenditionKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RenditionKind {
    Video {
        /// HLS `BANDWIDTH` (peak) and `AVERAGE-BANDWIDTH`, bits per second.
        bandwidth: u64,
        average_bandwidth: Option<u64>,
        /// RFC 6381 codecs, e.g. `avc1.640028` (the engine) or `avc1.640028,mp4a.40.2` (a
        /// MediaConvert variant, which names its audio too).
        codecs: Option<String>,
        width: Option<u64>,
        height: Option<u64>,
        frame_rate: Option<f64>,
    },
    Audio {
        language: Option<String>,
        label: String,
        default: bool,
        /// Peak bits per second and RFC 6381 codecs, when the backend reports them (the engine
        /// does; a MediaConvert package names its audio only inside the video variants).
        bandwidth: Option<u64>,
        codecs: Option<String>,
    },
}
