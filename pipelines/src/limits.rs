//! What Lectern agrees to process. Checked right after the probe, before any decoding, so a
//! hostile or mistaken upload costs one probe and not hours of encoding.

use serde::{Deserialize, Serialize};

use crate::refusal::{Refusal, RefusalCode};
use crate::source::SourceInfo;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    pub max_duration_seconds: f64,
    /// Largest picture area, in pixels. Compared with the area rather than each side so that
    /// portrait and ultra-wide pictures of a normal size pass.
    pub max_pixels: u64,
    pub max_frame_rate: f64,
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_duration_seconds: 6.0 * 3600.0,
            // DCI 4K-ish: 4096 × 2304, which admits 3840 × 2160 and 4096 × 2160.
            max_pixels: 4096 * 2304,
            max_frame_rate: 120.0,
            max_file_bytes: 50 * 1024 * 1024 * 1024,
        }
    }
}

/// Refuses a source that breaks a limit. The checks run cheapest and most certain first: the
/// byte count is known exactly, stream presence next, then the figures the file declares.
///
/// Only the first video stream (in index order) is checked, because it is the only one the
/// engine decodes. A missing duration passes: the engine measures it and enforces its own
/// deadline. Both the stored and the displayed picture must fit, since decoding costs the
/// stored size and scaling costs the displayed one (anamorphic video widens on display).
pub fn check(source: &SourceInfo, limits: &Limits) -> Result<(), Refusal> {
    if source.size_bytes > limits.max_file_bytes {
        return Err(Refusal::new(
            RefusalCode::FileTooLarge,
            format!("the file is {} bytes; the limit is {} bytes", source.size_bytes, limits.max_file_bytes),
        ));
    }
    if source.video.is_empty() && source.audio.is_empty() {
        return Err(Refusal::new(RefusalCode::NoPlayableStreams, "the file holds neither a video nor an audio stream"));
    }
    if let Some(duration) = source.duration_seconds
        && duration > limits.max_duration_seconds
    {
        return Err(Refusal::new(
            RefusalCode::DurationTooLong,
            format!("the file lasts {duration:.0} s; the limit is {:.0} s", limits.max_duration_seconds),
        ));
    }
    if let Some(video) = source.video.iter().min_by_key(|video| video.index) {
        let stored = u64::from(video.width) * u64::from(video.height);
        let (display_width, display_height) = video.display_size();
        // The display area is rounded up so a fraction of a pixel cannot slip past the limit.
        let displayed = (display_width * display_height).ceil();
        if stored > limits.max_pixels || displayed > limits.max_pixels as f64 {
            return Err(Refusal::new(
                RefusalCode::ResolutionTooLarge,
                format!(
                    "the picture is {}×{} ({display_width:.0}×{display_height:.0} displayed); \
                     the limit is {} pixels in all",
                    video.width, video.height, limits.max_pixels
                ),
            ));
        }
        if let Some(rate) = video.frame_rate
            && rate.as_f64() > limits.max_frame_rate
        {
            return Err(Refusal::new(
                RefusalCode::ResolutionTooLarge,
                format!("the frame rate is {:.2} fps; the limit is {} fps", rate.as_f64(), limits.max_frame_rate),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
