//! Encodes a file with a fixed three-rung ladder (720p/480p/360p at 30 fps, 4 s segments,
//! `veryfast`) and prints the encode speed: a quick benchmark of the engine on this machine.
//!
//! `cargo run -p workers --example ladder -- INPUT OUT_DIR`

use std::path::PathBuf;

use pipelines::plan::{AudioRendition, H264Profile, ImagePlan, Plan, VideoCodec, VideoFilters, VideoRung};
use pipelines::source::Rational;

fn rung(name: &str, width: u32, height: u32, max_bitrate: u32) -> VideoRung {
    VideoRung {
        name: name.to_owned(),
        width,
        height,
        frame_rate: Rational::new(30, 1),
        keyframe_interval_frames: 120,
        codec: VideoCodec::H264,
        encoder_preset: "veryfast".to_owned(),
        profile: H264Profile::High,
        crf: 23.0,
        max_bitrate,
        buffer_size: max_bitrate * 2,
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(input), Some(out_dir)) = (args.next(), args.next()) else {
        return Err("usage: ladder INPUT OUT_DIR".into());
    };
    let (input, out_dir) = (PathBuf::from(input), PathBuf::from(out_dir));
    let source = workers::probe(&input)?;
    let plan = Plan {
        segment_duration_seconds: 4,
        source_video_index: source.video.first().map(|video| video.index),
        video_filters: VideoFilters::default(),
        video: vec![
            rung("720p", 1280, 720, 4_500_000),
            rung("480p", 854, 480, 2_000_000),
            rung("360p", 640, 360, 1_000_000),
        ],
        audio: source
            .audio
            .first()
            .map(|audio| AudioRendition {
                name: "audio".to_owned(),
                source_index: audio.index,
                language: audio.language.clone(),
                label: "Audio".to_owned(),
                default: true,
                bitrate: 128_000,
                channels: 2,
                sample_rate: 48_000,
                loudness: None,
            })
            .into_iter()
            .collect(),
        images: ImagePlan {
            poster_width: 1280,
            poster_height: 720,
            thumbnail_interval_seconds: 5,
            thumbnail_width: 160,
            thumbnail_height: 90,
            storyboard_columns: 10,
            storyboard_rows: 10,
            storyboard_tile_width: 0,
            storyboard_tile_height: 0,
        },
        download_rung: Some("720p".to_owned()),
    };
    let mut last = None;
    let package = workers::transcode(&input, &plan, &out_dir, &mut |progress| {
        last = Some(progress);
    })?;
    if let Some(progress) = last {
        eprintln!(
            "{:.1} s encoded at {:.2}x realtime; {} video and {} audio renditions",
            progress.out_time_seconds,
            progress.speed_x_realtime,
            package.video.len(),
            package.audio.len()
        );
    }
    Ok(())
}
