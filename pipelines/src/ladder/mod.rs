//! The planner: from a probed source and a preset to the [`Plan`] the engine executes.
//!
//! Decisions, in the order they are made:
//! - **Which picture.** The first video stream in index order that has a size; without one
//!   the plan is audio-only. Its display size has the pixel aspect and rotation applied, and
//!   every rung is square-pixel at that display aspect, so the engine rotates and scales once.
//! - **Which rungs.** A preset rung's `lines` is the picture's short side, so a portrait phone
//!   video gets 720×1280 for "720p". A rung is made when the source has at least that many
//!   lines; nothing is upscaled. A source smaller than the smallest rung gets one rung at its
//!   own size. A source between two rungs also gets a top rung at its own size when it has
//!   more than `top_rung_min_extra_lines` (15%) more lines than the highest rung it reached:
//!   1000 lines earns a "1000p" above 720p, while 1100 lines above 1080p, or 361 above 360,
//!   would spend a whole encode on a difference nobody sees. A source above the preset's
//!   highest rung stops at that rung: the preset's ceiling is a deliberate cost limit.
//! - **Settings of a rung.** CRF, profile and VBV caps come from the preset rung of the same
//!   lines; a rung at the source's own size borrows them from the next preset rung up. The
//!   caps are scaled by the rung's pixel count against a 16:9 picture of the preset rung's
//!   lines (clamped to ¼…2×), so a 4:3 or cropped picture gets proportionally fewer bits and
//!   an ultra-wide one more; and by 1.5 above 30 fps, Apple's allowance for 60 fps rungs.
//!   Caps are rounded to whole kilobits.
//! - **Frame rate.** The source's own; the preset default (30) when variable or unknown;
//!   divided by the smallest whole number that brings it under the preset maximum (120 → 60).
//!   Rungs of at most 480 lines halve rates above 30. The keyframe interval is the nearest
//!   whole number of frames per segment (120 at 29.97 fps and 4 s).
//! - **Filters.** Rotation, deinterlacing and HDR tone mapping, straight from the probe.
//! - **Audio.** One AAC-LC stereo 48 kHz rendition per language (the container's default
//!   stream wins within a language), the default first; mono sources at a lower bitrate.
//! - **Images.** Fixed widths from the preset, heights from the display aspect; the poster
//!   is sized like a 720-line rung.

mod audio;
mod frame_rate;
mod geometry;
mod images;

use crate::plan::{Plan, VideoCodec, VideoFilters, VideoRung};
use crate::preset::{Preset, RungPreset};
use crate::refusal::{Refusal, RefusalCode};
use crate::source::{SourceInfo, VideoStreamInfo};

/// Plans what to make from `source` with `preset`. Fails only when there is nothing to play;
/// size, duration and rate limits are [`crate::limits::check`]'s job and should run first.
pub fn plan(source: &SourceInfo, preset: &Preset) -> Result<Plan, Refusal> {
    let video = source.video.iter().filter(|video| video.width > 0 && video.height > 0).min_by_key(|video| video.index);
    let audio = audio::renditions(&source.audio, &preset.audio);
    if video.is_none() && audio.is_empty() {
        return Err(Refusal::new(
            RefusalCode::NoPlayableStreams,
            "the file holds neither a video stream with a picture size nor an audio stream",
        ));
    }
    let rungs = video.map(|video| video_rungs(video, preset)).unwrap_or_default();
    let download_rung = preset
        .downloads
        .then(|| rungs.iter().find(|rung| rung.width.min(rung.height) <= preset.download_max_lines))
        .flatten()
        .map(|rung| rung.name.clone());
    Ok(Plan {
        segment_duration_seconds: preset.segment_duration_seconds,
        source_video_index: video.map(|video| video.index),
        video_filters: video.map(filters).unwrap_or_default(),
        video: rungs,
        audio,
        images: images::plan(video.map(VideoStreamInfo::display_size), &preset.images),
        download_rung,
    })
}

/// Filters applied once per source. Deinterlacing is meant to give one frame per frame (not
/// one per field), so the probed frame rate stays the output rate of the top rungs.
fn filters(video: &VideoStreamInfo) -> VideoFilters {
    VideoFilters {
        rotate_degrees: video.rotation_degrees,
        deinterlace: video.is_interlaced(),
        tone_map_to_sdr: video.is_hdr(),
    }
}

/// The rung lines to make and, for each, the preset rung whose settings it uses; ascending.
fn ladder_lines(source_lines: u32, preset: &Preset) -> Vec<(u32, &RungPreset)> {
    let rungs = &preset.video.rungs;
    let mut ladder: Vec<(u32, &RungPreset)> =
        rungs.iter().filter(|rung| rung.lines <= source_lines).map(|rung| (rung.lines, rung)).collect();
    // Only a source below the preset's highest rung is "between rungs"; one above it stops at
    // the highest rung, since a preset's ceiling (1080p for `fast`) is a deliberate cost limit.
    let next_rung_up = rungs.iter().find(|rung| rung.lines > source_lines);
    if let Some(settings) = next_rung_up {
        let own_size_earned = ladder.last().is_none_or(|(highest, _)| {
            f64::from(source_lines) > f64::from(*highest) * (1.0 + preset.video.top_rung_min_extra_lines)
        });
        if own_size_earned {
            ladder.push((source_lines, settings));
        }
    }
    ladder
}

fn video_rungs(video: &VideoStreamInfo, preset: &Preset) -> Vec<VideoRung> {
    let display = video.display_size();
    let source_rate = frame_rate::source_rate(video, &preset.video);
    let mut rungs: Vec<VideoRung> = ladder_lines(geometry::source_lines(display), preset)
        .into_iter()
        .map(|(lines, settings)| {
            let (width, height) = geometry::size_for_lines(display, lines);
            let rate = frame_rate::rung_rate(source_rate, lines, &preset.video);
            let pixel_scale =
                (f64::from(width) * f64::from(height) / geometry::reference_pixels(settings.lines)).clamp(0.25, 2.0);
            let rate_scale = if frame_rate::is_high(rate) { 1.5 } else { 1.0 };
            let kilobits = |bits: f64| ((bits / 1000.0).round() as u32).saturating_mul(1000);
            let max_bitrate = kilobits(f64::from(settings.max_bitrate) * pixel_scale * rate_scale);
            // The buffer keeps the preset's buffer-to-rate ratio (2 by default) exactly.
            let buffer_ratio = f64::from(settings.buffer_size()) / f64::from(settings.max_bitrate);
            let buffer_size = kilobits(f64::from(max_bitrate) * buffer_ratio);
            VideoRung {
                name: format!("{lines}p"),
                width,
                height,
                frame_rate: rate,
                keyframe_interval_frames: frame_rate::keyframe_interval_frames(rate, preset.segment_duration_seconds),
                codec: VideoCodec::H264,
                encoder_preset: preset.video.encoder_preset.clone(),
                profile: settings.profile,
                crf: settings.crf,
                max_bitrate,
                buffer_size,
            }
        })
        .collect();
    rungs.reverse();
    rungs
}

#[cfg(test)]
mod tests;
