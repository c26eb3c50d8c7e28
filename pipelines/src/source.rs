//! What a probe learned about an uploaded file. Produced by `workers::probe`, consumed by the
//! planner and stored on the asset as JSON.

use serde::{Deserialize, Serialize};

/// An exact fraction such as a frame rate (30000/1001) or a sample aspect ratio (64/45).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rational {
    pub num: u32,
    pub den: u32,
}

impl Rational {
    pub const fn new(num: u32, den: u32) -> Self {
        Self { num, den }
    }

    /// The value as a float; a zero denominator reads as zero rather than infinity.
    pub fn as_f64(self) -> f64 {
        if self.den == 0 { 0.0 } else { f64::from(self.num) / f64::from(self.den) }
    }
}

/// How the fields of an interlaced picture are ordered, as the container or codec declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldOrder {
    Progressive,
    TopFieldFirst,
    BottomFieldFirst,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// FFmpeg's short name of the demuxer, e.g. `mov,mp4,m4a,3gp,3g2,mj2` or `matroska,webm`.
    pub container: String,
    /// Duration in seconds, from the container or, when absent (MediaRecorder WebM), measured.
    pub duration_seconds: Option<f64>,
    pub size_bytes: u64,
    /// Overall bit rate declared by the container, in bits per second.
    pub bit_rate: Option<u64>,
    /// Video streams that carry moving pictures (cover art and thumbnails are left out).
    pub video: Vec<VideoStreamInfo>,
    pub audio: Vec<AudioStreamInfo>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VideoStreamInfo {
    /// Index of the stream in the container.
    pub index: usize,
    /// FFmpeg codec name: `h264`, `hevc`, `vp8`, `vp9`, `av1`, `prores`, …
    pub codec: String,
    pub profile: Option<String>,
    /// Stored (coded) picture size in pixels, before rotation and pixel aspect are applied.
    pub width: u32,
    pub height: u32,
    /// Pixel (sample) aspect ratio; 1/1 for square pixels.
    pub sample_aspect_ratio: Rational,
    /// Clockwise rotation the player must apply to show the picture upright: 0, 90, 180 or 270.
    pub rotation_degrees: u16,
    /// Average frame rate; `None` when the container gives nothing usable.
    pub frame_rate: Option<Rational>,
    /// True when frame durations vary noticeably (phone and screen recordings).
    pub variable_frame_rate: bool,
    pub field_order: FieldOrder,
    /// FFmpeg pixel format name, e.g. `yuv420p`, `yuv420p10le`, `yuv444p`.
    pub pixel_format: String,
    /// Bits per colour component (8, 10, 12).
    pub bit_depth: u8,
    /// Transfer characteristic as FFmpeg names it (`bt709`, `smpte2084`, `arib-std-b67`, …).
    pub color_transfer: Option<String>,
    pub color_primaries: Option<String>,
    pub color_space: Option<String>,
    pub language: Option<String>,
    pub bit_rate: Option<u64>,
}

impl VideoStreamInfo {
    /// Width and height as the viewer sees them: pixel aspect applied, then rotation.
    /// Pixel aspect stretches the width (as players do); the result is not yet rounded to even.
    pub fn display_size(&self) -> (f64, f64) {
        let sar = if self.sample_aspect_ratio.num == 0 || self.sample_aspect_ratio.den == 0 {
            1.0
        } else {
            self.sample_aspect_ratio.as_f64()
        };
        let width = f64::from(self.width) * sar;
        let height = f64::from(self.height);
        if self.rotation_degrees % 180 == 90 { (height, width) } else { (width, height) }
    }

    /// High dynamic range transfer (PQ or HLG), which must be tone-mapped to SDR BT.709.
    pub fn is_hdr(&self) -> bool {
        matches!(self.color_transfer.as_deref(), Some("smpte2084" | "arib-std-b67"))
    }

    pub fn is_interlaced(&self) -> bool {
        matches!(self.field_order, FieldOrder::TopFieldFirst | FieldOrder::BottomFieldFirst)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AudioStreamInfo {
    pub index: usize,
    /// FFmpeg codec name: `aac`, `opus`, `mp3`, `pcm_s16le`, …
    pub codec: String,
    pub channels: u16,
    pub channel_layout: Option<String>,
    pub sample_rate: u32,
    /// ISO 639 language tag from the container (`eng`, `rus`, `en`), if any.
    pub language: Option<String>,
    pub title: Option<String>,
    /// The container marks this track as the default one.
    pub default: bool,
    pub bit_rate: Option<u64>,
}
