//! Probing: what is in an uploaded file, or why Lectern refuses it.
//!
//! The probe reads only the container header, the first packets of the video stream (for
//! variable-frame-rate detection) and, for files whose header declares no duration, the packet
//! headers to the end (no decoding). Limits on duration and size are the caller's business.

use std::fs::File;
use std::path::Path;

use ffmpeg::format::stream::Disposition;
use ffmpeg::media;
use ffmpeg_next as ffmpeg;
use pipelines::refusal::{Refusal, RefusalCode};
use pipelines::source::{SourceInfo, VideoStreamInfo};

mod streams;
mod truncation;

use streams::{audio_stream_info, video_stream_info};

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The file is bad in a way the uploader must fix; never worth retrying.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The file could not be read; retrying may help.
    #[error("reading {path}: {source}")]
    Io { path: String, source: std::io::Error },
}

impl ProbeError {
    fn refused(code: RefusalCode, message: impl Into<String>) -> Self {
        Self::Refused(Refusal::new(code, message))
    }

    /// The stable refusal code, when this is a refusal.
    pub fn refusal_code(&self) -> Option<RefusalCode> {
        match self {
            Self::Refused(refusal) => Some(refusal.code),
            Self::Io { .. } => None,
        }
    }
}

/// Demuxers that read one still picture, never a moving one.
const STILL_IMAGE_DEMUXERS: [&str; 2] = ["image2", "image2pipe"];
/// Demuxers that accept nearly any text, which would make a `.txt` upload look like video.
const TEXT_DEMUXERS: [&str; 2] = ["tty", "srt"];
/// FFmpeg's AVPROBE_SCORE_RETRY: below this a format guess is likely a misdetection.
const MIN_PROBE_SCORE: i32 = 25;
/// How many video packets the frame-rate regularity check looks at.
const VFR_SAMPLE_PACKETS: usize = 120;

pub fn probe(path: &Path) -> Result<SourceInfo, ProbeError> {
    crate::init();
    let io_error = |source| ProbeError::Io { path: path.display().to_string(), source };
    let mut file = File::open(path).map_err(io_error)?;
    let size_bytes = file.metadata().map_err(io_error)?.len();
    if size_bytes == 0 {
        return Err(ProbeError::refused(RefusalCode::EmptyFile, "the file is empty"));
    }
    truncation::check(&mut file, size_bytes).map_err(io_error)??;
    drop(file);

    let mut input = open_input(path)?;
    let container = input.format().name().to_owned();
    if TEXT_DEMUXERS.contains(&container.as_str()) || input.probe_score() < MIN_PROBE_SCORE {
        return Err(ProbeError::refused(
            RefusalCode::NotAMediaFile,
            format!("not a recognised audio or video file (best guess `{container}`)"),
        ));
    }

    let mut video = Vec::new();
    let mut audio = Vec::new();
    let mut undecodable = Vec::new();
    for stream in input.streams() {
        let medium = stream.parameters().medium();
        if medium == media::Type::Video && stream.disposition().contains(Disposition::ATTACHED_PIC) {
            continue;
        }
        match medium {
            media::Type::Video => match video_stream_info(&stream) {
                Some(info) => video.push(info),
                None => undecodable.push(stream.parameters().id()),
            },
            media::Type::Audio => match audio_stream_info(&stream) {
                Some(info) => audio.push(info),
                None => undecodable.push(stream.parameters().id()),
            },
            _ => {}
        }
    }
    if video.is_empty() && audio.is_empty() {
        if undecodable.is_empty() {
            return Err(ProbeError::refused(RefusalCode::NoPlayableStreams, "the file holds no audio or video"));
        }
        return Err(ProbeError::refused(
            RefusalCode::UnsupportedCodec,
            format!("no decoder for the streams' codecs ({undecodable:?})"),
        ));
    }
    if is_still_image(&input, &container, &video) && audio.is_empty() {
        return Err(ProbeError::refused(RefusalCode::NoPlayableStreams, "the file is a still image, not a video"));
    }

    let declared = container_duration(&input);
    let scan = scan_packets(&mut input, video.first().map(|first| first.index), declared.is_none());
    let duration_seconds = declared.or(scan.duration);
    if let Some(first) = video.first_mut() {
        first.variable_frame_rate = frame_durations_vary(scan.video_timestamps);
    }
    let bit_rate = u64::try_from(input.bit_rate()).ok().filter(|rate| *rate > 0);
    Ok(SourceInfo { container, duration_seconds, size_bytes, bit_rate, video, audio })
}

fn open_input(path: &Path) -> Result<ffmpeg::format::context::Input, ProbeError> {
    ffmpeg::format::input(path).map_err(|error| match error {
        ffmpeg::Error::Other { errno } if errno != ffmpeg::util::error::EINVAL => {
            ProbeError::Io { path: path.display().to_string(), source: std::io::Error::from_raw_os_error(errno) }
        }
        other => {
            ProbeError::refused(RefusalCode::NotAMediaFile, format!("not a recognised audio or video file ({other})"))
        }
    })
}

fn is_still_image(input: &ffmpeg::format::context::Input, container: &str, video: &[VideoStreamInfo]) -> bool {
    if STILL_IMAGE_DEMUXERS.contains(&container) || container.ends_with("_pipe") {
        return true;
    }
    video.iter().all(|info| {
        let image_codec = matches!(info.codec.as_str(), "mjpeg" | "png" | "bmp" | "tiff" | "webp" | "jpeg2000");
        // A one-frame mjpeg/png stream is a picture; an image codec in a container that
        // declares neither a frame count nor a duration is one too.
        let frames = input.stream(info.index).map_or(0, |stream| stream.frames());
        image_codec && (frames == 1 || (frames == 0 && input.duration() <= 0))
    })
}

/// The duration the container (or, failing that, a stream) declares, in seconds.
pub(crate) fn container_duration(input: &ffmpeg::format::context::Input) -> Option<f64> {
    let container = input.duration();
    if container > 0 {
        #[allow(clippy::cast_precision_loss)]
        return Some(container as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));
    }
    input
        .streams()
        .filter_map(|stream| {
            let duration = stream.duration();
            #[allow(clippy::cast_precision_loss)]
            (duration > 0).then(|| duration as f64 * f64::from(stream.time_base()))
        })
        .reduce(f64::max)
}

/// Measures the duration of a file whose header declares none (browser MediaRecorder WebM) by
/// reading packet headers to the end; nothing is decoded.
pub(crate) fn measure_duration(input: &mut ffmpeg::format::context::Input) -> Option<f64> {
    scan_packets(input, None, true).duration
}

struct Scan {
    video_timestamps: Vec<i64>,
    duration: Option<f64>,
}

/// One forward pass over packet headers from where the demuxer stands (the start, right after
/// opening; no seek, which files without an index may not support): the first presentation
/// timestamps of `video_index`, and the span of all timestamps when `to_the_end`.
fn scan_packets(input: &mut ffmpeg::format::context::Input, video_index: Option<usize>, to_the_end: bool) -> Scan {
    let time_bases: Vec<f64> = input.streams().map(|stream| f64::from(stream.time_base())).collect();
    let mut video_timestamps = Vec::with_capacity(VFR_SAMPLE_PACKETS);
    let mut first: Option<f64> = None;
    let mut last: Option<f64> = None;
    for (n_read, (stream, packet)) in input.packets().enumerate() {
        // Without the whole-file scan, stop after a bounded read even if the video stream is
        // sparse (a slideshow with long audio).
        if !to_the_end && n_read >= VFR_SAMPLE_PACKETS * 20 {
            break;
        }
        if Some(stream.index()) == video_index && video_timestamps.len() < VFR_SAMPLE_PACKETS {
            if let Some(pts) = packet.pts() {
                video_timestamps.push(pts);
            }
        } else if !to_the_end && (video_index.is_none() || video_timestamps.len() >= VFR_SAMPLE_PACKETS) {
            break;
        }
        if !to_the_end {
            continue;
        }
        let Some(pts) = packet.pts().or(packet.dts()) else {
            continue;
        };
        let time_base = time_bases.get(stream.index()).copied().unwrap_or(0.0);
        #[allow(clippy::cast_precision_loss)]
        let start = pts as f64 * time_base;
        #[allow(clippy::cast_precision_loss)]
        let end = (pts + packet.duration().max(0)) as f64 * time_base;
        first = Some(first.map_or(start, |value: f64| value.min(start)));
        last = Some(last.map_or(end, |value: f64| value.max(end)));
    }
    let duration = first.zip(last).map(|(first, last)| last - first).filter(|duration| *duration > 0.0);
    Scan { video_timestamps, duration }
}

/// True when the gaps between the first presentation timestamps differ from their median by
/// more than rounding would explain, in more than a tenth of the gaps.
fn frame_durations_vary(mut timestamps: Vec<i64>) -> bool {
    timestamps.sort_unstable();
    let mut gaps: Vec<i64> = timestamps.windows(2).map(|pair| pair[1] - pair[0]).filter(|gap| *gap > 0).collect();
    if gaps.len() < 8 {
        return false;
    }
    let mut sorted = gaps.clone();
    sorted.sort_unstable();
    let median = sorted[sorted.len() / 2];
    let tolerance = (median / 20).max(2);
    gaps.retain(|gap| (gap - median).abs() > tolerance);
    gaps.len() * 10 > sorted.len()
}
