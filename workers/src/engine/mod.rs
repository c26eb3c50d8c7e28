//! The transcoding engine: decode once, encode every rung, package CMAF.

pub mod mp4box;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{context}: {source}")]
    Ffmpeg {
        context: String,
        source: ffmpeg_next::Error,
    },
    #[error("{context}: {source}")]
    Io {
        context: String,
        source: std::io::Error,
    },
    #[error("invalid plan: {0}")]
    InvalidPlan(String),
    #[error("unexpected output: {0}")]
    Output(String),
}

/// How far an encode has come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    pub fraction: f64,
    pub speed_x_realtime: f64,
    pub out_time_seconds: f64,
}

pub fn transcode() {}
