//! The transcoding engine: decode once, encode every rung and audio rendition in this process,
//! package CMAF segments shared by HLS and DASH, and make the images and the download.
//!
//! Segments are cut by the MP4 muxer itself: video fragments begin at every keyframe, and the
//! encoders place keyframes exactly every `keyframe_interval_frames` (fixed GOP, no scene cuts,
//! forced I pictures), so boundaries are identical across rungs. Audio fragments are cut every
//! `segment_duration_seconds` (rounded up to a whole AAC frame). Each rendition's fragmented
//! file is then split into `init.mp4` and `seg_NNNNN.m4s`, and the package figures are read
//! back from those bytes.

mod audio;
mod filters;
mod images;
pub mod mp4box;
mod mux;
mod outputs;
mod remux;
pub mod segments;
mod video;

use std::path::Path;
use std::time::Instant;

use ffmpeg_next as ffmpeg;
use pipelines::package::Package;
use pipelines::plan::Plan;

use audio::AudioTrack;
use images::ImageWriter;
pub(crate) use outputs::Outputs;
pub use remux::remux;
use video::VideoLadder;

/// Why a transcode failed. Every variant carries what was being done, so a log line is
/// enough to tell which stream, rung or file was involved.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// FFmpeg refused something (opening, decoding, filtering, encoding or muxing).
    #[error("{context}: {source}")]
    Ffmpeg { context: String, source: ffmpeg::Error },
    /// Reading the source or writing the package failed.
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
    /// The plan asks for something the engine cannot do (a bug in the planner, not the file).
    #[error("invalid plan: {0}")]
    InvalidPlan(String),
    /// What was written does not have the expected structure (no segments, a segment that
    /// does not start with a keyframe…).
    #[error("unexpected output: {0}")]
    Output(String),
}

impl EngineError {
    /// A stable snake_case code for logs, metrics and the job's `last_error`.
    pub fn error_code(&self) -> &'static str {
        match self {
            Self::Ffmpeg { .. } => "ffmpeg_failed",
            Self::Io { .. } => "io_failed",
            Self::InvalidPlan(_) => "invalid_plan",
            Self::Output(_) => "unexpected_output",
        }
    }

    /// Whether another attempt may succeed: only IO (disk full, storage hiccup) is worth a
    /// retry; FFmpeg failing on the same bytes with the same plan will fail again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Io { .. })
    }
}

pub(crate) fn ffmpeg_error<C: Into<String>>(context: C) -> impl FnOnce(ffmpeg::Error) -> EngineError {
    // The context is turned into a String only when an error really happens, so the hot
    // paths that pass a literal allocate nothing on success.
    move |source| EngineError::Ffmpeg { context: context.into(), source }
}

/// How many unreadable packets in a row the demuxer may skip before the source is declared
/// unreadable.
const MAX_CONSECUTIVE_CORRUPT: u32 = 1000;

/// How far an encode has come.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Share of the source's duration encoded so far, 0 to 1 (0 while the duration is unknown).
    pub fraction: f64,
    pub speed_x_realtime: f64,
    pub out_time_seconds: f64,
}

impl Progress {
    /// `out_time` seconds of output made since `started`, of a source lasting `duration`
    /// seconds (when known).
    fn at(out_time: f64, duration: Option<f64>, started: Instant) -> Self {
        let elapsed = started.elapsed().as_secs_f64().max(1e-6);
        Self {
            fraction: duration.map_or(0.0, |duration| (out_time / duration).clamp(0.0, 1.0)),
            speed_x_realtime: out_time / elapsed,
            out_time_seconds: out_time,
        }
    }
}

/// Transcodes `input` as `plan` says into `out_dir`, returning (and writing as
/// `package.json`) the description the manifests are written from.
pub fn transcode(
    input: &Path,
    plan: &Plan,
    out_dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Package, EngineError> {
    crate::init();
    validate(plan)?;
    let mut source = open_job(input, out_dir)?;
    // Browser recordings declare no duration; measuring it reads packet headers only, and
    // the progress fraction and poster window need it.
    let duration = crate::probe::container_duration(&source)
        .or_else(|| ffmpeg::format::input(input).ok().and_then(|mut scan| crate::probe::measure_duration(&mut scan)));
    // Output time zero is the earliest stream start, so audio and video keep their offset.
    #[allow(clippy::cast_precision_loss)]
    let origin_seconds = source
        .streams()
        .filter(|stream| stream.start_time() != ffmpeg::ffi::AV_NOPTS_VALUE)
        .map(|stream| stream.start_time() as f64 * f64::from(stream.time_base()))
        .reduce(f64::min)
        .unwrap_or(0.0)
        .max(0.0);

    let with_images = plan.source_video_index.is_some();
    // The poster is chosen among frames of the first fifth (at least the first second).
    let poster_window = duration.map_or(10.0, |duration| (duration * 0.2).max(1.0));
    let mut video = match plan.source_video_index {
        Some(index) => Some(VideoLadder::new(&source, plan, index, origin_seconds, poster_window, with_images)?),
        None => None,
    };
    let mut audio = plan
        .audio
        .iter()
        .enumerate()
        .map(|(index, rendition)| AudioTrack::new(&source, rendition, index, origin_seconds))
        .collect::<Result<Vec<_>, _>>()?;
    let mut outputs = Outputs::create(out_dir, plan, video.as_ref(), &audio)?;
    let mut images = if with_images { Some(ImageWriter::new(out_dir, &plan.images)?) } else { None };

    let started = Instant::now();
    let mut reported_at = -1.0f64;
    let report = |out_time: f64, progress: &mut dyn FnMut(Progress)| {
        progress(Progress::at(out_time, duration, started));
    };
    // Reading by hand (not `packets()`) so that an I/O error mid-file fails the job instead of
    // ending it early as if the file were shorter.
    let mut consecutive_corrupt = 0u32;
    loop {
        let mut packet = ffmpeg::Packet::empty();
        match packet.read(&mut source) {
            Ok(()) => consecutive_corrupt = 0,
            Err(ffmpeg::Error::Eof) => break,
            // A demuxer resyncs past a corrupt packet; only an endless run of them is fatal.
            Err(ffmpeg::Error::InvalidData) if consecutive_corrupt < MAX_CONSECUTIVE_CORRUPT => {
                consecutive_corrupt += 1;
                continue;
            }
            Err(error) => return Err(read_error(input, error)),
        }
        let index = packet.stream();
        if let Some(video) = video.as_mut().filter(|video| video.stream_index == index) {
            video.send_packet(&packet, &mut outputs, images.as_mut())?;
        }
        for track in audio.iter_mut().filter(|track| track.stream_index == index) {
            track.send_packet(&packet, &mut outputs)?;
        }
        let out_time = current_time(video.as_ref(), &audio);
        if out_time - reported_at >= 1.0 {
            report(out_time, progress);
            reported_at = out_time;
        }
    }
    if let Some(video) = video.as_mut() {
        video.finish(&mut outputs, images.as_mut())?;
    }
    for track in &mut audio {
        track.finish(&mut outputs)?;
    }
    let poster_written = match images.as_mut() {
        Some(images) => {
            images.finish()?;
            images.poster_written
        }
        None => false,
    };
    report(current_time(video.as_ref(), &audio), progress);
    let package = outputs.finish(plan, poster_written)?;
    write_package_json(out_dir, &package)?;
    Ok(package)
}

/// Creates the package directory `out_dir` and opens the source `input`.
fn open_job(input: &Path, out_dir: &Path) -> Result<ffmpeg::format::context::Input, EngineError> {
    std::fs::create_dir_all(out_dir)
        .map_err(|source| EngineError::Io { context: format!("creating {}", out_dir.display()), source })?;
    ffmpeg::format::input(input).map_err(ffmpeg_error(format!("opening {}", input.display())))
}

/// Writes the package's description as `package.json` in `out_dir`.
fn write_package_json(out_dir: &Path, package: &Package) -> Result<(), EngineError> {
    let json = serde_json::to_vec_pretty(package)
        .map_err(|error| EngineError::Output(format!("serialising package.json: {error}")))?;
    let path = out_dir.join("package.json");
    std::fs::write(&path, json)
        .map_err(|source| EngineError::Io { context: format!("writing {}", path.display()), source })
}

/// A failed packet read of `input`: an operating-system error is the infrastructure's
/// (retryable); anything else is FFmpeg giving up on the bytes.
fn read_error(input: &Path, error: ffmpeg::Error) -> EngineError {
    match error {
        ffmpeg::Error::Other { errno } => EngineError::Io {
            context: format!("reading {}", input.display()),
            source: std::io::Error::from_raw_os_error(errno),
        },
        error => EngineError::Ffmpeg { context: format!("reading {}", input.display()), source: error },
    }
}

fn current_time(video: Option<&VideoLadder>, audio: &[AudioTrack]) -> f64 {
    video.map_or_else(
        || audio.iter().map(|track| track.out_time_seconds).fold(0.0, f64::max),
        |video| video.out_time_seconds,
    )
}

/// Rejects plans the engine cannot honour before any work is done.
fn validate(plan: &Plan) -> Result<(), EngineError> {
    let invalid = |message: String| Err(EngineError::InvalidPlan(message));
    if plan.segment_duration_seconds == 0 {
        return invalid("segment duration is zero".to_owned());
    }
    if plan.source_video_index.is_some() == plan.video.is_empty() {
        return invalid("video rungs and source_video_index must come together".to_owned());
    }
    if plan.video.is_empty() && plan.audio.is_empty() {
        return invalid("nothing to make".to_owned());
    }
    let names = plan
        .video
        .iter()
        .map(|rung| rung.name.as_str())
        .chain(plan.audio.iter().map(|rendition| rendition.name.as_str()));
    for name in names {
        let safe = !name.is_empty()
            && name != images::IMAGES_DIR
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !safe {
            return invalid(format!("rendition name `{name}` is not a safe folder name"));
        }
    }
    for rung in &plan.video {
        if rung.width == 0 || rung.height == 0 || rung.width % 2 == 1 || rung.height % 2 == 1 {
            return invalid(format!("rung {} has size {}x{}; sizes must be even", rung.name, rung.width, rung.height));
        }
        if rung.frame_rate.num == 0 || rung.frame_rate.den == 0 || rung.keyframe_interval_frames == 0 {
            return invalid(format!("rung {} has no frame rate or keyframe interval", rung.name));
        }
    }
    if let Some(download) = &plan.download_rung
        && !plan.video.iter().any(|rung| &rung.name == download)
    {
        return invalid(format!("download rung {download} is not in the ladder"));
    }
    let images = &plan.images;
    if plan.source_video_index.is_some()
        && [images.poster_width, images.poster_height, images.thumbnail_width, images.thumbnail_height].contains(&0)
    {
        return invalid("image sizes must not be zero".to_owned());
    }
    Ok(())
}
