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
use pipelines::source::{AudioStreamInfo, Rational, SourceInfo, VideoStreamInfo};

use crate::ffi;

mod truncation;

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The file is bad in a way the uploader must fix; never worth retrying.
    #[error("refused: {0}")]
    Refused(Refusal),
    /// The file could not be read; retrying may help.
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
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
    let io_error = |source| ProbeError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = File::open(path).map_err(io_error)?;
    let size_bytes = file.metadata().map_err(io_error)?.len();
    if size_bytes == 0 {
        return Err(ProbeError::refused(
            RefusalCode::EmptyFile,
            "the file is empty",
        ));
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
        if medium == media::Type::Video && stream.disposition().contains(Disposition::ATTACHED_PIC)
        {
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
            return Err(ProbeError::refused(
                RefusalCode::NoPlayableStreams,
                "the file holds no audio or video",
            ));
        }
        return Err(ProbeError::refused(
            RefusalCode::UnsupportedCodec,
            format!("no decoder for the streams' codecs ({undecodable:?})"),
        ));
    }
    if is_still_image(&input, &container, &video) && audio.is_empty() {
        return Err(ProbeError::refused(
            RefusalCode::NoPlayableStreams,
            "the file is a still image, not a video",
        ));
    }

    let declared = container_duration(&input);
    let scan = scan_packets(
        &mut input,
        video.first().map(|first| first.index),
        declared.is_none(),
    );
    let duration_seconds = declared.or(scan.duration);
    if let Some(first) = video.first_mut() {
        first.variable_frame_rate = frame_durations_vary(scan.video_timestamps);
    }
    let bit_rate = u64::try_from(input.bit_rate())
        .ok()
        .filter(|rate| *rate > 0);
    Ok(SourceInfo {
        container,
        duration_seconds,
        size_bytes,
        bit_rate,
        video,
        audio,
    })
}

fn open_input(path: &Path) -> Result<ffmpeg::format::context::Input, ProbeError> {
    ffmpeg::format::input(path).map_err(|error| match error {
        ffmpeg::Error::Other { errno } if errno != ffmpeg::util::error::EINVAL => ProbeError::Io {
            path: path.display().to_string(),
            source: std::io::Error::from_raw_os_error(errno),
        },
        other => ProbeError::refused(
            RefusalCode::NotAMediaFile,
            format!("not a recognised audio or video file ({other})"),
        ),
    })
}

fn is_still_image(
    input: &ffmpeg::format::context::Input,
    container: &str,
    video: &[VideoStreamInfo],
) -> bool {
    if STILL_IMAGE_DEMUXERS.contains(&container) || container.ends_with("_pipe") {
        return true;
    }
    video.iter().all(|info| {
        let image_codec = matches!(
            info.codec.as_str(),
            "mjpeg" | "png" | "bmp" | "tiff" | "webp" | "jpeg2000"
        );
        // A one-frame mjpeg/png stream is a picture; an image codec in a container that
        // declares neither a frame count nor a duration is one too.
        let frames = input.stream(info.index).map_or(0, |stream| stream.frames());
        image_codec && (frames == 1 || (frames == 0 && input.duration() <= 0))
    })
}

fn rational(value: ffmpeg::Rational) -> Option<Rational> {
    let num = u32::try_from(value.numerator()).ok()?;
    let den = u32::try_from(value.denominator()).ok()?;
    (num > 0 && den > 0).then_some(Rational::new(num, den))
}

fn tag(stream: &ffmpeg::format::stream::Stream, key: &str) -> Option<String> {
    let metadata = stream.metadata();
    metadata
        .get(key)
        .filter(|value| !value.is_empty() && *value != "und")
        .map(str::to_owned)
}

fn video_stream_info(stream: &ffmpeg::format::stream::Stream) -> Option<VideoStreamInfo> {
    let parameters = stream.parameters();
    let raw = ffi::raw_parameters(&parameters);
    let decoder = ffmpeg::codec::context::Context::from_parameters(parameters)
        .ok()?
        .decoder()
        .video()
        .ok()?;
    let codec = decoder.codec().map_or_else(
        || format!("{:?}", decoder.id()),
        |codec| codec.name().to_owned(),
    );
    let pixel_format = decoder.format();
    let pixel_format_name = match pixel_format {
        ffmpeg::format::Pixel::None => "unknown".to_owned(),
        other => other
            .descriptor()
            .map_or_else(|| "unknown".to_owned(), |d| d.name().to_owned()),
    };
    let bit_depth = ffi::pixel_bit_depth(pixel_format)
        .or((raw.bits_per_raw_sample > 0).then_some(raw.bits_per_raw_sample))
        .unwrap_or(8);
    let sample_aspect_ratio = rational(decoder.aspect_ratio()).unwrap_or(Rational::new(1, 1));
    let frame_rate = rational(stream.avg_frame_rate())
        .or_else(|| rational(stream.rate()).filter(|rate| rate.as_f64() <= 240.0));
    let color_transfer = decoder.color_transfer_characteristic();
    let color_primaries = decoder.color_primaries();
    let color_space = decoder.color_space();
    Some(VideoStreamInfo {
        index: stream.index(),
        codec: canonical_codec_name(&codec),
        profile: raw.profile_name,
        width: decoder.width(),
        height: decoder.height(),
        sample_aspect_ratio,
        rotation_degrees: rotation_degrees(stream),
        frame_rate,
        variable_frame_rate: false,
        field_order: raw.field_order,
        pixel_format: pixel_format_name,
        bit_depth,
        color_transfer: (color_transfer != ffmpeg::color::TransferCharacteristic::Unspecified)
            .then(|| color_transfer.name().map(str::to_owned))
            .flatten(),
        color_primaries: (color_primaries != ffmpeg::color::Primaries::Unspecified)
            .then(|| color_primaries.name().map(str::to_owned))
            .flatten(),
        color_space: (color_space != ffmpeg::color::Space::Unspecified)
            .then(|| color_space.name().map(str::to_owned))
            .flatten(),
        language: tag(stream, "language"),
        bit_rate: u64::try_from(stream.parameters().bit_rate())
            .ok()
            .filter(|rate| *rate > 0),
    })
}

/// Decoder names differ from codec names for some codecs (`libdav1d`, `libvpx-vp9`); the
/// contract speaks codec names.
fn canonical_codec_name(decoder_name: &str) -> String {
    match decoder_name {
        "libdav1d" | "libaom-av1" => "av1".to_owned(),
        "libvpx" => "vp8".to_owned(),
        "libvpx-vp9" => "vp9".to_owned(),
        "libopus" => "opus".to_owned(),
        other => other.to_owned(),
    }
}

fn audio_stream_info(stream: &ffmpeg::format::stream::Stream) -> Option<AudioStreamInfo> {
    let parameters = stream.parameters();
    let raw = ffi::raw_parameters(&parameters);
    let decoder = ffmpeg::codec::context::Context::from_parameters(parameters)
        .ok()?
        .decoder()
        .audio()
        .ok()?;
    let codec = decoder.codec().map_or_else(
        || format!("{:?}", decoder.id()),
        |codec| codec.name().to_owned(),
    );
    Some(AudioStreamInfo {
        index: stream.index(),
        codec: canonical_codec_name(&codec),
        channels: raw.channels,
        channel_layout: raw.channel_layout,
        sample_rate: raw.sample_rate,
        language: tag(stream, "language"),
        title: tag(stream, "title"),
        default: stream.disposition().contains(Disposition::DEFAULT),
        bit_rate: u64::try_from(stream.parameters().bit_rate())
            .ok()
            .filter(|rate| *rate > 0),
    })
}

/// Clockwise rotation from the display matrix (what `av_display_rotation_get` computes, read
/// here from the side-data bytes) or, failing that, the legacy `rotate` tag.
fn rotation_degrees(stream: &ffmpeg::format::stream::Stream) -> u16 {
    let from_matrix = stream.side_data().find_map(|side_data| {
        if side_data.kind() != ffmpeg::codec::packet::side_data::Type::DisplayMatrix {
            return None;
        }
        let bytes = side_data.data();
        let entry = |index: usize| -> Option<f64> {
            let chunk = bytes.get(index * 4..index * 4 + 4)?;
            Some(f64::from(i32::from_ne_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])) / 65536.0)
        };
        let (a, b, c, d) = (entry(0)?, entry(1)?, entry(3)?, entry(4)?);
        let (scale_x, scale_y) = (a.hypot(c), b.hypot(d));
        if scale_x == 0.0 || scale_y == 0.0 {
            return None;
        }
        // FFmpeg's function returns the counter-clockwise angle; clockwise is its negation.
        let counter_clockwise = (b / scale_y).atan2(a / scale_x).to_degrees();
        Some(-counter_clockwise)
    });
    let degrees =
        from_matrix.or_else(|| tag(stream, "rotate").and_then(|value| value.parse::<f64>().ok()));
    normalise_rotation(degrees.unwrap_or(0.0))
}

/// Rounds to the nearest quarter turn in 0..360.
pub(crate) fn normalise_rotation(degrees: f64) -> u16 {
    let quarter_turns = (degrees / 90.0).round().rem_euclid(4.0);
    // The value is 0, 1, 2 or 3 by construction, so the conversion cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let quarter_turns = quarter_turns as u16;
    quarter_turns * 90
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
fn scan_packets(
    input: &mut ffmpeg::format::context::Input,
    video_index: Option<usize>,
    to_the_end: bool,
) -> Scan {
    let time_bases: Vec<f64> = input
        .streams()
        .map(|stream| f64::from(stream.time_base()))
        .collect();
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
        } else if !to_the_end
            && (video_index.is_none() || video_timestamps.len() >= VFR_SAMPLE_PACKETS)
        {
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
    let duration = first
        .zip(last)
        .map(|(first, last)| last - first)
        .filter(|duration| *duration > 0.0);
    Scan {
        video_timestamps,
        duration,
    }
}

/// True when the gaps between the first presentation timestamps differ from their median by
/// more than rounding would explain, in more than a tenth of the gaps.
fn frame_durations_vary(mut timestamps: Vec<i64>) -> bool {
    timestamps.sort_unstable();
    let mut gaps: Vec<i64> = timestamps
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .filter(|gap| *gap > 0)
        .collect();
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
