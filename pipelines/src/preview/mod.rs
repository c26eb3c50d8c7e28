//! The fast first package ("playable in seconds"): when a source is already H.264 and AAC in a
//! form every browser plays, its streams are copied into CMAF segments without decoding or
//! encoding, so a first playable version exists in about the time it takes to read the file,
//! whatever the lecture's length. The full ladder replaces it when it is done.
//!
//! This module decides whether a source qualifies ([`remux_plan`]) and, while the engine copies
//! packets, where segments begin ([`SegmentCutter`]). A copied stream has its keyframes where
//! the uploader's encoder put them, so segment boundaries can only fall on those keyframes:
//! segments are "about" the preset's length, never exactly.

use serde::{Deserialize, Serialize};

use crate::plan::Plan;
use crate::source::{Rational, SourceInfo, VideoStreamInfo};

/// H.264 profiles every browser's Media Source Extensions decode (as FFmpeg names them).
/// High 10, 4:2:2 and 4:4:4 profiles, and Extended, are left to the full ladder.
pub const BROWSER_H264_PROFILES: &[&str] = &["Constrained Baseline", "Baseline", "Main", "High"];

/// Containers whose H.264 and AAC copy into fragmented MP4 as they are: the MP4/QuickTime
/// family carries `avcC` and `esds` configuration records and decode timestamps for every
/// packet. Matroska and MPEG-TS would need timestamp reconstruction or bitstream conversion;
/// they get the full ladder only.
pub const REMUXABLE_CONTAINER: &str = "mov,mp4,m4a,3gp,3g2,mj2";

/// A segment may run this many times the preset's segment length before the preview is given
/// up: a source with keyframes minutes apart would make segments too large for a player's
/// buffer (browsers cap Media Source buffers at a few hundred megabytes).
pub const MAX_SEGMENT_FACTOR: u32 = 5;

/// What to copy and how to cut it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemuxPlan {
    /// The preset's segment length: segments begin at the first keyframe at least about this
    /// long after the previous boundary (see [`SegmentCutter`]).
    pub segment_duration_seconds: u32,
    /// No segment may be longer; the engine fails the remux otherwise (no preview).
    pub max_segment_seconds: u32,
    pub video: RemuxVideo,
    /// The plan's audio renditions whose source stream is AAC; the default one always is.
    pub audio: Vec<RemuxAudio>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemuxVideo {
    /// Rendition name and folder, `{lines}p` like a ladder rung.
    pub name: String,
    pub source_index: usize,
    pub width: u32,
    pub height: u32,
    /// For the manifests' FRAME-RATE: the source's average rate (30 when unknown).
    pub frame_rate: Rational,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemuxAudio {
    pub name: String,
    pub source_index: usize,
    pub language: Option<String>,
    pub label: String,
    pub default: bool,
    pub channels: u16,
    pub sample_rate: u32,
}

/// Why a source gets no fast first package; it is still processed by the full ladder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotRemuxable(pub String);

impl std::fmt::Display for NotRemuxable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn refuse<T>(reason: impl Into<String>) -> Result<T, NotRemuxable> {
    Err(NotRemuxable(reason.into()))
}

/// The part of [`remux_plan`] that needs only the probe: whether the picture stream the ladder
/// would use can be copied as it is. The probe job asks this before queueing a preview.
pub fn remuxable_video(source: &SourceInfo) -> Result<&VideoStreamInfo, NotRemuxable> {
    if source.container != REMUXABLE_CONTAINER {
        return refuse(format!("container {} is not MP4 or QuickTime", source.container));
    }
    // The same stream the planner picks: the first with a picture size.
    let Some(video) = source.video.iter().filter(|v| v.width > 0 && v.height > 0).min_by_key(|v| v.index) else {
        return refuse("no video stream");
    };
    if video.codec != "h264" {
        return refuse(format!("video codec {} is not H.264", video.codec));
    }
    let profile = video.profile.as_deref().unwrap_or("unknown");
    if !BROWSER_H264_PROFILES.contains(&profile) {
        return refuse(format!("H.264 profile {profile} is not one every browser plays"));
    }
    if video.pixel_format != "yuv420p" && video.pixel_format != "yuvj420p" || video.bit_depth != 8 {
        return refuse(format!("pixel format {} is not 8-bit 4:2:0", video.pixel_format));
    }
    if video.is_interlaced() {
        return refuse("the picture is interlaced; browsers do not deinterlace");
    }
    if video.is_hdr() {
        return refuse("the picture is HDR");
    }
    if video.rotation_degrees != 0 {
        return refuse("the picture carries a rotation, which players of fragmented MP4 ignore");
    }
    let sar = video.sample_aspect_ratio;
    if sar.num != sar.den && sar.num != 0 {
        return refuse("the pixels are not square");
    }
    if video.width % 2 == 1 || video.height % 2 == 1 {
        return refuse("the picture size is odd");
    }
    Ok(video)
}

/// The remux of `source` that stands in for `plan` (the full ladder's plan, for its segment
/// length and audio choice) until the ladder is done, or why there is none.
pub fn remux_plan(source: &SourceInfo, plan: &Plan) -> Result<RemuxPlan, NotRemuxable> {
    let video = remuxable_video(source)?;
    if plan.source_video_index != Some(video.index) {
        return refuse("the plan uses another picture stream");
    }
    let codec_of = |index: usize| source.audio.iter().find(|a| a.index == index);
    let mut audio = Vec::new();
    for rendition in &plan.audio {
        let Some(stream) = codec_of(rendition.source_index) else { continue };
        if stream.codec != "aac" {
            // A lecture without its voice is no preview; other languages can wait.
            if rendition.default {
                return refuse(format!("the main audio is {}, not AAC", stream.codec));
            }
            continue;
        }
        if stream.channels == 0 || stream.sample_rate == 0 {
            return refuse("an audio stream has no channel count or sample rate");
        }
        audio.push(RemuxAudio {
            name: rendition.name.clone(),
            source_index: stream.index,
            language: rendition.language.clone(),
            label: rendition.label.clone(),
            default: rendition.default,
            channels: stream.channels,
            sample_rate: stream.sample_rate,
        });
    }
    let frame_rate = video.frame_rate.filter(|rate| rate.num > 0 && rate.den > 0).unwrap_or(Rational::new(30, 1));
    let segment = plan.segment_duration_seconds.max(1);
    Ok(RemuxPlan {
        segment_duration_seconds: segment,
        max_segment_seconds: segment.saturating_mul(MAX_SEGMENT_FACTOR).max(20),
        video: RemuxVideo {
            name: format!("{}p", video.width.min(video.height)),
            source_index: video.index,
            width: video.width,
            height: video.height,
            frame_rate,
        },
        audio,
    })
}

/// Decides, packet by packet, where a copied stream's segments begin.
///
/// Video may only be cut before a keyframe: a segment ends at the first keyframe that comes at
/// least the target length minus a tolerance after the segment's start. The tolerance (a
/// quarter of the target, at most half a second) keeps a keyframe that variable frame timing
/// places a few milliseconds early from doubling a segment. Audio (every packet a keyframe) is
/// cut on the grid of whole target lengths from its first packet, with no tolerance, so its
/// segments do not drift shorter.
#[derive(Debug, Clone)]
pub struct SegmentCutter {
    target_seconds: f64,
    tolerance_seconds: f64,
    on_grid: bool,
    first_seconds: Option<f64>,
    segment_start_seconds: f64,
    segments_begun: u64,
}

impl SegmentCutter {
    pub fn video(target_seconds: u32) -> Self {
        let target = f64::from(target_seconds.max(1));
        Self::new(target, (target / 4.0).min(0.5), false)
    }

    pub fn audio(target_seconds: u32) -> Self {
        Self::new(f64::from(target_seconds.max(1)), 0.0, true)
    }

    fn new(target_seconds: f64, tolerance_seconds: f64, on_grid: bool) -> Self {
        Self {
            target_seconds,
            tolerance_seconds,
            on_grid,
            first_seconds: None,
            segment_start_seconds: 0.0,
            segments_begun: 0,
        }
    }

    /// Whether a new segment begins with this packet (decode time in seconds). The first
    /// packet begins the first segment without a cut.
    pub fn cut_before(&mut self, decode_seconds: f64, is_keyframe: bool) -> bool {
        let Some(first) = self.first_seconds else {
            self.first_seconds = Some(decode_seconds);
            self.segment_start_seconds = decode_seconds;
            self.segments_begun = 1;
            return false;
        };
        if !is_keyframe {
            return false;
        }
        let due = if self.on_grid {
            // `segments_begun` × target from the first packet: boundaries do not accumulate
            // the overshoot of whole AAC frames.
            first + self.target_seconds * self.segments_begun as f64
        } else {
            self.segment_start_seconds + self.target_seconds
        };
        if decode_seconds + self.tolerance_seconds + 1e-9 < due {
            return false;
        }
        self.segment_start_seconds = decode_seconds;
        self.segments_begun += 1;
        true
    }
}

#[cfg(test)]
mod tests;
