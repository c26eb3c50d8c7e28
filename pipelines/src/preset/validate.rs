//! Range checks for a parsed preset. Serde already rejects wrong types and unknown keys; these
//! catch values that parse but would make x264, the AAC encoder or the planner misbehave.

use super::{Preset, PresetError};

/// x264's own preset names; anything else makes the encoder fail to open.
const X264_PRESETS: &[&str] =
    &["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> PresetError {
    PresetError::Invalid { field: field.into(), reason: reason.into() }
}

fn check_range<T>(field: &str, value: T, low: T, high: T) -> Result<(), PresetError>
where
    T: PartialOrd + std::fmt::Display + Copy,
{
    if value >= low && value <= high {
        Ok(())
    } else {
        Err(invalid(field, format!("is {value}, must be between {low} and {high}")))
    }
}

fn check_even(field: &str, value: u32) -> Result<(), PresetError> {
    if value.is_multiple_of(2) { Ok(()) } else { Err(invalid(field, format!("is {value}, must be even"))) }
}

pub(super) fn validate(preset: &Preset) -> Result<(), PresetError> {
    if preset.name.trim().is_empty() {
        return Err(invalid("name", "must not be empty"));
    }
    // Segments longer than 10 s break Apple's authoring rules; shorter than 1 s is not VOD.
    check_range("segment_duration_seconds", preset.segment_duration_seconds, 1, 10)?;
    check_range("download_max_lines", preset.download_max_lines, 2, 4320)?;
    validate_video(preset)?;
    validate_audio(preset)?;
    validate_images(preset)
}

fn validate_video(preset: &Preset) -> Result<(), PresetError> {
    let video = &preset.video;
    if !X264_PRESETS.contains(&video.encoder_preset.as_str()) {
        return Err(invalid(
            "video.encoder_preset",
            format!("is `{}`, must be one of {}", video.encoder_preset, X264_PRESETS.join(", ")),
        ));
    }
    check_range("video.max_frame_rate", video.max_frame_rate, 1, 240)?;
    check_range("video.default_frame_rate", video.default_frame_rate, 1, video.max_frame_rate)?;
    check_range("video.halve_frame_rate_max_lines", video.halve_frame_rate_max_lines, 0, 4320)?;
    check_range("video.top_rung_min_extra_lines", video.top_rung_min_extra_lines, 0.0, 10.0)?;
    if video.rungs.is_empty() {
        return Err(invalid("video.rungs", "must list at least one rung"));
    }
    // Rungs are sorted by now, so equal neighbours are the only possible duplicates.
    for pair in video.rungs.windows(2) {
        if pair[0].lines == pair[1].lines {
            return Err(invalid("video.rungs", format!("has two rungs of {} lines", pair[0].lines)));
        }
    }
    for (index, rung) in video.rungs.iter().enumerate() {
        let field = |name: &str| format!("video.rungs[{index}].{name}");
        check_range(&field("lines"), rung.lines, 2, 4320)?;
        check_even(&field("lines"), rung.lines)?;
        check_range(&field("crf"), rung.crf, 0.0, 51.0)?;
        check_range(&field("max_bitrate"), rung.max_bitrate, 10_000, 200_000_000)?;
        if let Some(buffer_size) = rung.buffer_size {
            check_range(&field("buffer_size"), buffer_size, 10_000, 400_000_000)?;
        }
    }
    Ok(())
}

fn validate_audio(preset: &Preset) -> Result<(), PresetError> {
    let audio = &preset.audio;
    check_range("audio.bitrate", audio.bitrate, 16_000, 512_000)?;
    check_range("audio.mono_bitrate", audio.mono_bitrate, 16_000, 512_000)?;
    // Players and the manifests assume stereo; AAC-LC at 44.1 or 48 kHz plays everywhere.
    check_range("audio.channels", audio.channels, 1, 2)?;
    if !matches!(audio.sample_rate, 44_100 | 48_000) {
        return Err(invalid("audio.sample_rate", format!("is {}, must be 44100 or 48000", audio.sample_rate)));
    }
    // FFmpeg's loudnorm filter accepts exactly these ranges.
    let loudness = &audio.loudness;
    check_range("audio.loudness.integrated_lufs", loudness.integrated_lufs, -70.0, -5.0)?;
    check_range("audio.loudness.true_peak_db", loudness.true_peak_db, -9.0, 0.0)?;
    check_range("audio.loudness.loudness_range_lu", loudness.loudness_range_lu, 1.0, 50.0)
}

fn validate_images(preset: &Preset) -> Result<(), PresetError> {
    let images = &preset.images;
    check_range("images.poster_lines", images.poster_lines, 2, 4320)?;
    check_even("images.poster_lines", images.poster_lines)?;
    check_range("images.thumbnail_interval_seconds", images.thumbnail_interval_seconds, 1, 3600)?;
    check_range("images.thumbnail_width", images.thumbnail_width, 16, 1920)?;
    check_even("images.thumbnail_width", images.thumbnail_width)?;
    check_range("images.storyboard_tile_width", images.storyboard_tile_width, 16, 1920)?;
    check_even("images.storyboard_tile_width", images.storyboard_tile_width)?;
    // JPEG cannot be wider or taller than 65535 pixels; 20 × 20 tiles keeps sheets far below.
    check_range("images.storyboard_columns", images.storyboard_columns, 1, 20)?;
    check_range("images.storyboard_rows", images.storyboard_rows, 1, 20)
}
