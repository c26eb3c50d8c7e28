//! Where encoded packets go: each rendition's fragmented muxer, and the download muxer for the
//! chosen rung and the default audio. At the end, the renditions are split into segments and
//! described as a [`Package`].

use std::path::Path;

use ffmpeg::{Packet, Rational};
use ffmpeg_next as ffmpeg;
use pipelines::package::{Package, PackagedRendition, RenditionKind};
use pipelines::plan::Plan;

use super::EngineError;
use super::audio::AudioTrack;
use super::images::{IMAGES_DIR, POSTER_FILE};
use super::mux::{Cut, DownloadOutput, FragmentedOutput};
use super::segments::{self, SEGMENT_TEMPLATE, START_NUMBER, SplitRendition};
use super::video::VideoLadder;

pub const DOWNLOAD_FILE: &str = "download.mp4";

pub struct Outputs {
    video: Vec<FragmentedOutput>,
    audio: Vec<FragmentedOutput>,
    download: Option<DownloadOutput>,
    download_rung: Option<usize>,
    download_audio: Option<usize>,
}

impl Outputs {
    pub fn create(
        out_dir: &Path,
        plan: &Plan,
        ladder: Option<&VideoLadder>,
        audio: &[AudioTrack],
    ) -> Result<Self, EngineError> {
        let mut video_setups = Vec::with_capacity(plan.video.len());
        for (index, rung) in plan.video.iter().enumerate() {
            let setup = ladder
                .and_then(|ladder| ladder.stream_setup(index))
                .ok_or_else(|| EngineError::InvalidPlan(format!("no encoder for rung {}", rung.name)))?;
            video_setups.push(setup);
        }
        let audio_setups: Vec<_> = audio.iter().map(AudioTrack::stream_setup).collect();
        // Every rendition presents time zero at the same instant: the largest lead of any
        // encoder (x264's B-frame delay, AAC priming), so no decode time is negative.
        let offset_seconds =
            video_setups.iter().chain(&audio_setups).map(|setup| setup.lead_seconds).fold(0.0, f64::max);
        let mut video_outputs = Vec::with_capacity(plan.video.len());
        for (setup, rung) in video_setups.iter().zip(&plan.video) {
            video_outputs.push(FragmentedOutput::create(
                &out_dir.join(&rung.name),
                setup,
                &Cut::AtKeyframes,
                offset_seconds,
            )?);
        }
        let mut audio_outputs = Vec::with_capacity(audio.len());
        for (setup, rendition) in audio_setups.iter().zip(&plan.audio) {
            let cut = Cut::EverySeconds(plan.segment_duration_seconds);
            audio_outputs.push(FragmentedOutput::create(&out_dir.join(&rendition.name), setup, &cut, offset_seconds)?);
        }
        let download_rung =
            plan.download_rung.as_ref().and_then(|name| plan.video.iter().position(|rung| &rung.name == name));
        let download_audio =
            plan.audio.iter().position(|rendition| rendition.default).or((!plan.audio.is_empty()).then_some(0));
        let download = match (download_rung, ladder) {
            (Some(rung), Some(ladder)) => {
                let video =
                    ladder.stream_setup(rung).ok_or_else(|| EngineError::InvalidPlan("download rung".to_owned()))?;
                let audio = download_audio.and_then(|index| audio.get(index)).map(AudioTrack::stream_setup);
                Some(DownloadOutput::create(&out_dir.join(DOWNLOAD_FILE), &video, audio.as_ref())?)
            }
            _ => None,
        };
        Ok(Self { video: video_outputs, audio: audio_outputs, download, download_rung, download_audio })
    }

    pub fn write_video(&mut self, rung: usize, packet: &mut Packet, time_base: Rational) -> Result<(), EngineError> {
        if let (Some(download), true) = (self.download.as_mut(), self.download_rung == Some(rung)) {
            download.write_copy(packet, time_base, true)?;
        }
        match self.video.get_mut(rung) {
            Some(output) => output.write(packet, time_base),
            None => Ok(()),
        }
    }

    pub fn write_audio(
        &mut self,
        rendition: usize,
        packet: &mut Packet,
        time_base: Rational,
    ) -> Result<(), EngineError> {
        if let (Some(download), true) = (self.download.as_mut(), self.download_audio == Some(rendition)) {
            download.write_copy(packet, time_base, false)?;
        }
        match self.audio.get_mut(rendition) {
            Some(output) => output.write(packet, time_base),
            None => Ok(()),
        }
    }

    /// Finishes every muxer, splits the renditions into segments and describes the result.
    pub fn finish(self, plan: &Plan, poster_written: bool) -> Result<Package, EngineError> {
        let download = match self.download {
            Some(download) => {
                download.finish()?;
                Some(DOWNLOAD_FILE.to_owned())
            }
            None => None,
        };
        let mut video = Vec::with_capacity(self.video.len());
        for (output, rung) in self.video.into_iter().zip(&plan.video) {
            let split = segments::split(&output.finish()?, &rung.name)?;
            let kind = RenditionKind::Video { width: rung.width, height: rung.height, frame_rate: rung.frame_rate };
            video.push(describe(&rung.name, kind, split)?);
        }
        let mut audio = Vec::with_capacity(self.audio.len());
        for (output, rendition) in self.audio.into_iter().zip(&plan.audio) {
            let split = segments::split(&output.finish()?, &rendition.name)?;
            let kind = RenditionKind::Audio {
                language: rendition.language.clone(),
                label: rendition.label.clone(),
                channels: 2,
                sample_rate: rendition.sample_rate,
                default: rendition.default,
            };
            audio.push(describe(&rendition.name, kind, split)?);
        }
        let duration_seconds = video.iter().chain(&audio).map(rendition_seconds).fold(0.0, f64::max);
        let has_video = !video.is_empty();
        Ok(Package {
            duration_seconds,
            segment_duration_seconds: plan.segment_duration_seconds,
            video,
            audio,
            poster: poster_written.then(|| format!("{IMAGES_DIR}/{POSTER_FILE}")),
            storyboard_vtt: has_video.then(|| format!("{IMAGES_DIR}/storyboard.vtt")),
            download,
        })
    }
}

fn rendition_seconds(rendition: &PackagedRendition) -> f64 {
    let ticks: u64 = rendition.segments.iter().map(|segment| segment.duration_ticks).sum();
    #[allow(clippy::cast_precision_loss)]
    let seconds = ticks as f64 / f64::from(rendition.timescale.max(1));
    seconds
}

pub(crate) fn describe(
    name: &str,
    kind: RenditionKind,
    split: SplitRendition,
) -> Result<PackagedRendition, EngineError> {
    if split.segments.is_empty() {
        return Err(EngineError::Output(format!("rendition {name} has no media segments")));
    }
    if !split.all_segments_start_with_sync {
        return Err(EngineError::Output(format!("a segment of {name} does not start with a keyframe")));
    }
    let timescale = f64::from(split.timescale);
    let mut peak = 0.0f64;
    let (mut total_bytes, mut total_ticks) = (0u64, 0u64);
    for segment in &split.segments {
        total_bytes += segment.size_bytes;
        total_ticks += segment.duration_ticks;
        if segment.duration_ticks > 0 {
            #[allow(clippy::cast_precision_loss)]
            let rate = segment.size_bytes as f64 * 8.0 / (segment.duration_ticks as f64 / timescale);
            peak = peak.max(rate);
        }
    }
    #[allow(clippy::cast_precision_loss)]
    let average = if total_ticks == 0 { 0.0 } else { total_bytes as f64 * 8.0 / (total_ticks as f64 / timescale) };
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let (peak_bitrate, average_bitrate) = (peak.ceil() as u64, average.ceil() as u64);
    Ok(PackagedRendition {
        name: name.to_owned(),
        kind,
        codecs: split.codecs,
        peak_bitrate,
        average_bitrate,
        timescale: split.timescale,
        init_uri: format!("{name}/init.mp4"),
        segments: split.segments,
        segment_template: SEGMENT_TEMPLATE.to_owned(),
        start_number: START_NUMBER,
    })
}
