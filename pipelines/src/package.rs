//! What the engine made: the description from which HLS and DASH manifests are written.
//! One set of CMAF segments serves both; these types carry what each manifest needs.

use serde::{Deserialize, Serialize};

use crate::source::Rational;

/// A finished package: every rendition with its measured figures and segment list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Package {
    /// Duration of the presentation in seconds (the longest rendition).
    pub duration_seconds: f64,
    pub segment_duration_seconds: u32,
    pub video: Vec<PackagedRendition>,
    pub audio: Vec<PackagedRendition>,
    /// Relative paths of the extra outputs, when made.
    pub poster: Option<String>,
    pub storyboard_vtt: Option<String>,
    pub download: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackagedRendition {
    /// The rung or audio rendition name; also the folder of its files (`720p/`, `audio_eng/`).
    pub name: String,
    pub kind: RenditionKind,
    /// RFC 6381 codecs string taken from the encoded stream, e.g. `avc1.64001f` or `mp4a.40.2`.
    pub codecs: String,
    /// Peak bitrate over any one segment, bits per second (HLS `BANDWIDTH`, DASH `bandwidth`).
    pub peak_bitrate: u64,
    /// Average bitrate over the whole rendition, bits per second (HLS `AVERAGE-BANDWIDTH`).
    pub average_bitrate: u64,
    /// Timescale of the track in the init segment's `mdhd` (ticks per second).
    pub timescale: u32,
    /// Init segment path relative to the package root, e.g. `720p/init.mp4`.
    pub init_uri: String,
    /// Segments in order; their URIs are `{name}/{segment_template}` with the number filled in.
    pub segments: Vec<SegmentInfo>,
    /// The file name pattern of media segments inside the rendition folder, in DASH template
    /// form, e.g. `seg_$Number%05d$.m4s`, numbered from `start_number`.
    pub segment_template: String,
    pub start_number: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum RenditionKind {
    Video { width: u32, height: u32, frame_rate: Rational },
    Audio { language: Option<String>, label: String, channels: u16, sample_rate: u32, default: bool },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// Path relative to the package root, e.g. `720p/seg_00001.m4s`.
    pub uri: String,
    /// Decode time of the first sample (the `tfdt`), in `timescale` ticks.
    pub start_ticks: u64,
    /// Duration in `timescale` ticks.
    pub duration_ticks: u64,
    pub size_bytes: u64,
}
