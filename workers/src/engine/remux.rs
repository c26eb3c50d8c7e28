//! The fast first package: the source's H.264 video and AAC audio copied, packet for packet,
//! into CMAF renditions (no decode, no encode), so it costs about one read and two writes of
//! the file. Segments begin where [`SegmentCutter`] says (at the source's own keyframes, about
//! the preset's length apart); the figures are then read back from the bytes exactly as for an
//! encoded package, and the caller writes the same HLS and DASH manifests from them.

use std::path::Path;
use std::time::Instant;

use ffmpeg::{Packet, Rational, media};
use ffmpeg_next as ffmpeg;
use pipelines::package::{Package, RenditionKind};
use pipelines::preview::{RemuxPlan, SegmentCutter};

use super::mux::{Cut, FragmentedOutput, StreamSetup};
use super::outputs::describe;
use super::segments;
use super::{EngineError, Progress, open_job, read_error, write_package_json};

/// Packets read before every copied stream has shown its first one; a stream still silent by
/// then is treated as broken rather than buffered for ever.
const MAX_PACKETS_BEFORE_ALL_STREAMS_START: usize = 2000;

/// One copied stream: where its packets go and where its segments begin.
struct Track {
    source_index: usize,
    source_time_base: Rational,
    is_video: bool,
    output: Option<FragmentedOutput>,
    cutter: SegmentCutter,
    first_pts_seconds: Option<f64>,
    first_dts_seconds: Option<f64>,
    dir: std::path::PathBuf,
    setup: StreamSetup,
    video_timescale: Option<u32>,
}

/// Copies the streams `plan` names from `input` into `out_dir` (`{name}/init.mp4` and
/// `{name}/seg_NNNNN.m4s`) and describes the package; writes it as `package.json` too.
pub fn remux(
    input: &Path,
    plan: &RemuxPlan,
    out_dir: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<Package, EngineError> {
    crate::init();
    let mut source = open_job(input, out_dir)?;
    let duration = crate::probe::container_duration(&source);
    let mut tracks = Vec::with_capacity(1 + plan.audio.len());
    let selected = std::iter::once((plan.video.source_index, plan.video.name.as_str(), true))
        .chain(plan.audio.iter().map(|audio| (audio.source_index, audio.name.as_str(), false)));
    for (index, name, is_video) in selected {
        let stream = source
            .stream(index)
            .ok_or_else(|| EngineError::InvalidPlan(format!("the source has no stream {index}")))?;
        let expected = if is_video { media::Type::Video } else { media::Type::Audio };
        if stream.parameters().medium() != expected {
            return Err(EngineError::InvalidPlan(format!("stream {index} is not {expected:?}")));
        }
        let mut parameters = stream.parameters();
        crate::ffi::clear_codec_tag(&mut parameters);
        let time_base = stream.time_base();
        // The source's own ticks when they are whole (1/15360, 1/90000…): timestamps copy
        // exactly. A fractional time base falls back to 90 kHz.
        let video_timescale = (is_video && time_base.numerator() == 1)
            .then(|| u32::try_from(time_base.denominator()).ok())
            .flatten()
            .or(is_video.then_some(90_000));
        tracks.push(Track {
            source_index: index,
            source_time_base: time_base,
            is_video,
            output: None,
            cutter: if is_video {
                SegmentCutter::video(plan.segment_duration_seconds)
            } else {
                SegmentCutter::audio(plan.segment_duration_seconds)
            },
            first_pts_seconds: None,
            first_dts_seconds: None,
            dir: out_dir.join(name),
            setup: StreamSetup { parameters, time_base, lead_seconds: 0.0 },
            video_timescale,
        });
    }

    let started = Instant::now();
    let mut reported_at = -1.0f64;
    let mut pending: Vec<Packet> = Vec::new();
    let mut opened = false;
    let mut offset_seconds = 0.0;
    loop {
        let mut packet = Packet::empty();
        match packet.read(&mut source) {
            Ok(()) => {}
            Err(ffmpeg::Error::Eof) => break,
            Err(error) => return Err(read_error(input, error)),
        }
        let Some(position) = tracks.iter().position(|t| t.source_index == packet.stream()) else {
            continue;
        };
        if !opened {
            let track = &mut tracks[position];
            let time_base = track.source_time_base;
            let seconds = |ts: Option<i64>| ts.map(|ts| seconds_of(ts, time_base));
            track.first_pts_seconds = track.first_pts_seconds.or(seconds(packet.pts()));
            track.first_dts_seconds = track.first_dts_seconds.or(seconds(packet.dts()));
            pending.push(packet);
            if tracks.iter().all(|t| t.first_dts_seconds.is_some()) {
                offset_seconds = open_outputs(&mut tracks)?;
                opened = true;
                for mut packet in std::mem::take(&mut pending) {
                    copy(&mut tracks, &mut packet, offset_seconds)?;
                }
            } else if pending.len() > MAX_PACKETS_BEFORE_ALL_STREAMS_START {
                return Err(EngineError::Output(
                    "a copied stream has no timestamped packets near the start".to_owned(),
                ));
            }
            continue;
        }
        let out_time = copy(&mut tracks, &mut packet, offset_seconds)?;
        if out_time - reported_at >= 5.0 {
            progress(Progress::at(out_time, duration, started));
            reported_at = out_time;
        }
    }
    if !opened {
        return Err(EngineError::Output("a copied stream has no timestamped packets".to_owned()));
    }
    finish(tracks, plan, out_dir)
}

/// Opens every rendition's muxer once each track's first timestamps are known. Returns the
/// seconds added to every timestamp: output time zero is the earliest first presentation, and
/// the whole package is pushed later by the largest decode lead (B-frames decode before they
/// show), because fragmented MP4 has no edit list and decode times may not be negative.
fn open_outputs(tracks: &mut [Track]) -> Result<f64, EngineError> {
    let origin =
        tracks.iter().filter_map(|t| t.first_pts_seconds.or(t.first_dts_seconds)).reduce(f64::min).unwrap_or(0.0);
    let lead = tracks.iter().filter_map(|t| t.first_dts_seconds).map(|dts| origin - dts).fold(0.0, f64::max);
    let offset_seconds = lead - origin;
    for track in tracks.iter_mut() {
        let cut = Cut::Custom { video_timescale: track.video_timescale };
        track.output = Some(FragmentedOutput::create(&track.dir, &track.setup, &cut, offset_seconds)?);
    }
    Ok(offset_seconds)
}

/// Writes one packet to its track, ending the segment before it when the cutter says so.
/// Returns the packet's output decode time in seconds.
fn copy(tracks: &mut [Track], packet: &mut Packet, offset_seconds: f64) -> Result<f64, EngineError> {
    let Some(track) = tracks.iter_mut().find(|t| t.source_index == packet.stream()) else {
        return Ok(0.0);
    };
    let Some(dts) = packet.dts().or(packet.pts()) else {
        return Err(EngineError::Output(format!("stream {} has a packet without timestamps", track.source_index)));
    };
    let decode_seconds = seconds_of(dts, track.source_time_base) + offset_seconds;
    let Some(output) = track.output.as_mut() else {
        return Ok(decode_seconds);
    };
    // Audio packets are all keyframes; a video packet is one only when the source says so.
    let is_keyframe = !track.is_video || packet.is_key();
    if track.cutter.cut_before(decode_seconds, is_keyframe) {
        output.end_fragment()?;
    }
    packet.set_position(-1);
    output.write(packet, track.source_time_base)?;
    Ok(decode_seconds)
}

fn finish(tracks: Vec<Track>, plan: &RemuxPlan, out_dir: &Path) -> Result<Package, EngineError> {
    let mut video = Vec::new();
    let mut audio = Vec::new();
    for track in tracks {
        let Some(output) = track.output else { continue };
        let name = output.dir.file_name().and_then(|name| name.to_str()).unwrap_or_default().to_owned();
        let split = segments::split(&output.finish()?, &name)?;
        let longest = split.segments.iter().map(|s| s.duration_ticks).max().unwrap_or(0);
        if longest > u64::from(plan.max_segment_seconds) * u64::from(split.timescale) {
            #[allow(clippy::cast_precision_loss)]
            let longest_seconds = longest as f64 / f64::from(split.timescale.max(1));
            return Err(EngineError::Output(format!(
                "keyframes are too far apart for a preview: a segment of {name} lasts \
                 {longest_seconds:.1} s, more than {} s",
                plan.max_segment_seconds
            )));
        }
        if track.is_video {
            let kind = RenditionKind::Video {
                width: plan.video.width,
                height: plan.video.height,
                frame_rate: plan.video.frame_rate,
            };
            video.push(describe(&name, kind, split)?);
        } else if let Some(rendition) = plan.audio.iter().find(|a| a.name == name) {
            let kind = RenditionKind::Audio {
                language: rendition.language.clone(),
                label: rendition.label.clone(),
                channels: rendition.channels,
                sample_rate: rendition.sample_rate,
                default: rendition.default,
            };
            audio.push(describe(&name, kind, split)?);
        }
    }
    let seconds = |rendition: &pipelines::package::PackagedRendition| {
        let ticks: u64 = rendition.segments.iter().map(|s| s.duration_ticks).sum();
        #[allow(clippy::cast_precision_loss)]
        let seconds = ticks as f64 / f64::from(rendition.timescale.max(1));
        seconds
    };
    let duration_seconds = video.iter().chain(&audio).map(seconds).fold(0.0, f64::max);
    // DASH's minBufferTime and the players' buffer goals follow the longest segment.
    let longest_segment = video
        .iter()
        .chain(&audio)
        .flat_map(|r| r.segments.iter().map(move |s| s.duration_ticks.div_ceil(u64::from(r.timescale.max(1)))))
        .max()
        .unwrap_or(0);
    let package = Package {
        duration_seconds,
        segment_duration_seconds: plan.segment_duration_seconds.max(u32::try_from(longest_segment).unwrap_or(u32::MAX)),
        video,
        audio,
        poster: None,
        storyboard_vtt: None,
        download: None,
    };
    write_package_json(out_dir, &package)?;
    Ok(package)
}

#[allow(clippy::cast_precision_loss)]
fn seconds_of(ticks: i64, time_base: Rational) -> f64 {
    ticks as f64 * f64::from(time_base)
}
