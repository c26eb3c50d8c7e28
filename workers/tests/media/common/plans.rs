//! Hand-built plans: engine tests describe exactly the ladder they exercise (small rungs, chosen
//! segment lengths) instead of the one the planner would pick for their source.

use pipelines::plan::{AudioRendition, H264Profile, ImagePlan, Plan, VideoCodec, VideoFilters, VideoRung};
use pipelines::source::Rational;

pub fn rung(name: &str, width: u32, height: u32, fps: u32, segment_seconds: u32) -> VideoRung {
    VideoRung {
        name: name.to_owned(),
        width,
        height,
        frame_rate: Rational::new(fps, 1),
        keyframe_interval_frames: fps * segment_seconds,
        codec: VideoCodec::H264,
        encoder_preset: "ultrafast".to_owned(),
        profile: H264Profile::High,
        crf: 26.0,
        max_bitrate: 1_000_000,
        buffer_size: 2_000_000,
    }
}

pub fn audio(name: &str, source_index: usize, language: Option<&str>, default: bool) -> AudioRendition {
    AudioRendition {
        name: name.to_owned(),
        source_index,
        language: language.map(str::to_owned),
        label: language.unwrap_or("Audio").to_owned(),
        default,
        bitrate: 96_000,
        channels: 2,
        sample_rate: 48_000,
        loudness: None,
    }
}

pub fn images() -> ImagePlan {
    ImagePlan {
        poster_width: 320,
        poster_height: 180,
        thumbnail_interval_seconds: 1,
        thumbnail_width: 160,
        thumbnail_height: 90,
        storyboard_columns: 2,
        storyboard_rows: 2,
        // Zero: tiles the size of thumbnails.
        storyboard_tile_width: 0,
        storyboard_tile_height: 0,
    }
}

/// Two rungs (360p and 240p at `fps`), one audio rendition from stream 1, 1 s segments.
pub fn two_rungs(fps: u32, segment_seconds: u32) -> Plan {
    Plan {
        segment_duration_seconds: segment_seconds,
        source_video_index: Some(0),
        video_filters: VideoFilters::default(),
        video: vec![rung("360p", 640, 360, fps, segment_seconds), rung("240p", 426, 240, fps, segment_seconds)],
        audio: vec![audio("audio", 1, None, true)],
        images: images(),
        download_rung: Some("240p".to_owned()),
    }
}
