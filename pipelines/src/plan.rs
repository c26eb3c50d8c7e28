//! What the engine must make from one source: the contract between the planner (this crate)
//! and the executor (`workers`). Everything the engine needs to decide is decided here.

use serde::{Deserialize, Serialize};

use crate::source::Rational;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Target segment duration in seconds (default 4). Every video rung has a keyframe at each
    /// multiple of it, so segment boundaries line up across rungs.
    pub segment_duration_seconds: u32,
    /// The video stream of the source to use; `None` for an audio-only package.
    pub source_video_index: Option<usize>,
    /// Per-source filters applied once, before the picture is scaled for each rung.
    pub video_filters: VideoFilters,
    /// Highest rung first.
    pub video: Vec<VideoRung>,
    /// One rendition per audio language; the first is the default.
    pub audio: Vec<AudioRendition>,
    pub images: ImagePlan,
    /// Name of the rung to also write as a single progressive MP4 with `faststart`, if any.
    pub download_rung: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct VideoFilters {
    /// Apply this clockwise rotation (0, 90, 180, 270) so the output is upright with no
    /// rotation metadata.
    pub rotate_degrees: u16,
    /// Deinterlace (the source is interlaced).
    pub deinterlace: bool,
    /// Tone-map HDR (PQ/HLG) to SDR and convert to BT.709.
    pub tone_map_to_sdr: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoRung {
    /// Short stable name used in output paths and manifests, e.g. `720p`.
    pub name: String,
    /// Output picture size: square pixels, even numbers, display aspect of the source kept.
    pub width: u32,
    pub height: u32,
    /// Constant output frame rate.
    pub frame_rate: Rational,
    /// Frames between keyframes: segment duration × frame rate. Closed GOPs, no scene-cut
    /// keyframes that would break alignment.
    pub keyframe_interval_frames: u32,
    pub codec: VideoCodec,
    /// x264 `preset`, e.g. `veryfast`.
    pub encoder_preset: String,
    pub profile: H264Profile,
    /// Capped CRF: the quality target…
    pub crf: f32,
    /// …bounded by VBV, in bits per second. Both must be passed to x264 (`vbv-maxrate`,
    /// `vbv-bufsize`) or the cap is ignored.
    pub max_bitrate: u32,
    pub buffer_size: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoCodec {
    H264,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum H264Profile {
    Baseline,
    Main,
    High,
}

impl H264Profile {
    /// The name libx264 takes for its `profile` option.
    pub fn x264_name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Main => "main",
            Self::High => "high",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioRendition {
    /// Short stable name used in output paths, e.g. `audio_eng`, or `audio` when unlabelled.
    pub name: String,
    /// Index of the source audio stream in the container.
    pub source_index: usize,
    /// BCP 47 / ISO 639 language for the manifests, when the source says.
    pub language: Option<String>,
    /// Human label for the player's menu.
    pub label: String,
    pub default: bool,
    /// Always AAC-LC, stereo, 48 kHz; the bitrate comes from the preset.
    pub bitrate: u32,
    pub channels: u16,
    pub sample_rate: u32,
    /// EBU R128 loudness normalisation target, when the preset asks for it.
    pub loudness: Option<LoudnessTarget>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LoudnessTarget {
    /// Integrated loudness in LUFS, e.g. -16.
    pub integrated_lufs: f32,
    /// Maximum true peak in dBTP, e.g. -1.5.
    pub true_peak_db: f32,
    /// Loudness range in LU, e.g. 11.
    pub loudness_range_lu: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImagePlan {
    /// Poster (JPEG) size; the poster is a representative, non-black frame.
    pub poster_width: u32,
    pub poster_height: u32,
    /// One thumbnail every this many seconds.
    pub thumbnail_interval_seconds: u32,
    pub thumbnail_width: u32,
    pub thumbnail_height: u32,
    /// Storyboard sprite sheets for trick-play: tiles of [`ImagePlan::storyboard_tile_size`],
    /// `storyboard_columns`×`storyboard_rows` per sheet, one tile per thumbnail interval.
    pub storyboard_columns: u32,
    pub storyboard_rows: u32,
    /// Storyboard tile size, smaller than a thumbnail (160 px wide against 320 by default) so
    /// a sheet of 10×10 tiles stays a small download. Added after the first contract: plans
    /// without these fields read as 0, which [`ImagePlan::storyboard_tile_size`] turns into
    /// the thumbnail size the first contract described.
    #[serde(default)]
    pub storyboard_tile_width: u32,
    #[serde(default)]
    pub storyboard_tile_height: u32,
}

impl ImagePlan {
    /// Width and height of one storyboard tile.
    pub fn storyboard_tile_size(&self) -> (u32, u32) {
        if self.storyboard_tile_width == 0 || self.storyboard_tile_height == 0 {
            (self.thumbnail_width, self.thumbnail_height)
        } else {
            (self.storyboard_tile_width, self.storyboard_tile_height)
        }
    }
}
