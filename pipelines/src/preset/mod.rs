//! Presets: how to encode, as opposed to what the source is. A preset is a TOML file; the
//! built-in ones are embedded in the binary so the planner never reads a file.

mod validate;

use serde::{Deserialize, Serialize};

use crate::plan::{H264Profile, LoudnessTarget};

const COURSE_TOML: &str = include_str!("../../presets/course.toml");
const FAST_TOML: &str = include_str!("../../presets/fast.toml");

/// Names accepted by [`Preset::builtin`], the default first.
pub const BUILTIN_PRESETS: &[&str] = &["course", "fast"];

/// Every encoding choice that does not depend on the source. Unknown keys are rejected so a
/// misspelt setting in a user's file fails loudly instead of silently keeping a default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Preset {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub segment_duration_seconds: u32,
    /// Write a progressive MP4 of one rung for offline viewing.
    pub downloads: bool,
    /// The download is the highest rung with at most this many lines (short side).
    pub download_max_lines: u32,
    pub video: VideoPreset,
    pub audio: AudioPreset,
    pub images: ImagePreset,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VideoPreset {
    /// x264 `preset`, e.g. `veryfast`.
    pub encoder_preset: String,
    pub max_frame_rate: u32,
    /// Frame rate for sources whose rate is variable or unknown.
    pub default_frame_rate: u32,
    /// Rungs of at most this many lines halve frame rates above 30.
    pub halve_frame_rate_max_lines: u32,
    /// A source between rungs gets an extra top rung at its own size when its short side
    /// exceeds the highest rung it reaches by more than this fraction.
    pub top_rung_min_extra_lines: f64,
    /// Ascending by `lines` once loaded.
    pub rungs: Vec<RungPreset>,
}

/// One rung of the ladder, for a 16:9 picture at up to 30 fps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RungPreset {
    /// Lines of the picture's short side: 720 means 1280×720 landscape or 720×1280 portrait.
    pub lines: u32,
    pub crf: f32,
    /// VBV max rate in bits per second.
    pub max_bitrate: u32,
    /// VBV buffer in bits; twice `max_bitrate` when absent.
    #[serde(default)]
    pub buffer_size: Option<u32>,
    pub profile: H264Profile,
}

impl RungPreset {
    pub fn buffer_size(&self) -> u32 {
        self.buffer_size.unwrap_or_else(|| self.max_bitrate.saturating_mul(2))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AudioPreset {
    /// AAC-LC bitrate in bits per second.
    pub bitrate: u32,
    /// Bitrate used when the source track is mono (still written as stereo).
    pub mono_bitrate: u32,
    pub channels: u16,
    pub sample_rate: u32,
    pub loudness: LoudnessPreset,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoudnessPreset {
    pub enabled: bool,
    pub integrated_lufs: f32,
    pub true_peak_db: f32,
    pub loudness_range_lu: f32,
}

impl LoudnessPreset {
    /// The target to put in the plan, or `None` when normalisation is switched off.
    pub fn target(&self) -> Option<LoudnessTarget> {
        self.enabled.then_some(LoudnessTarget {
            integrated_lufs: self.integrated_lufs,
            true_peak_db: self.true_peak_db,
            loudness_range_lu: self.loudness_range_lu,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImagePreset {
    /// The poster is sized like a rung of this many lines, never upscaled.
    pub poster_lines: u32,
    pub thumbnail_interval_seconds: u32,
    /// Thumbnail width in pixels; the height follows the picture's aspect.
    pub thumbnail_width: u32,
    /// Storyboard tile width in pixels; the height follows the picture's aspect.
    pub storyboard_tile_width: u32,
    pub storyboard_columns: u32,
    pub storyboard_rows: u32,
}

/// Why a preset could not be loaded. Messages name the offending field, e.g.
/// `video.rungs[2].crf`.
#[derive(Debug, thiserror::Error)]
pub enum PresetError {
    #[error("preset is not valid TOML for a preset: {0}")]
    Syntax(#[from] toml::de::Error),
    #[error("preset field `{field}` {reason}")]
    Invalid { field: String, reason: String },
    #[error("no built-in preset is called `{name}`; the built-in presets are {}", BUILTIN_PRESETS.join(", "))]
    UnknownBuiltin { name: String },
}

impl Preset {
    /// The default preset for course video, embedded at build time.
    pub fn default_course() -> Self {
        Self::from_toml_str(COURSE_TOML).expect("the embedded course preset is valid: `built_in_presets_load` tests it")
    }

    /// One of the embedded presets by name (see [`BUILTIN_PRESETS`]).
    pub fn builtin(name: &str) -> Result<Self, PresetError> {
        let text = match name {
            "course" => COURSE_TOML,
            "fast" => FAST_TOML,
            _ => {
                return Err(PresetError::UnknownBuiltin { name: name.to_owned() });
            }
        };
        Self::from_toml_str(text)
    }

    /// Parses and validates a preset, for example a user's own file. Rungs are sorted by
    /// their lines so the planner can rely on the order.
    pub fn from_toml_str(text: &str) -> Result<Self, PresetError> {
        let mut preset: Self = toml::from_str(text)?;
        preset.video.rungs.sort_by_key(|rung| rung.lines);
        validate::validate(&preset)?;
        Ok(preset)
    }
}

#[cfg(test)]
mod tests;
