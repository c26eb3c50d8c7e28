//! From a `pipelines` plan to MediaConvert `JobSettings`: pure, no client, no IO.
//!
//! What maps to what:
//! - the whole package is one CMAF output group writing HLS and DASH manifests, with
//!   `SegmentLength` = `FragmentLength` = the plan's segment duration, so each segment is one
//!   fragment, as in the local engine's package;
//! - every video rung is one output (H.264, the rung's size, profile and frame rate). x264's
//!   capped CRF becomes QVBR: `MaxBitrate` is the rung's VBV cap, `HrdBufferSize` its VBV
//!   buffer, and the quality level is derived from the CRF (see [`qvbr_quality_level`]);
//! - GOPs are closed, `keyframe_interval_frames` long and never shortened at scene cuts, so
//!   every rung has a keyframe at each segment boundary;
//! - every audio rendition is its own output (CMAF keeps audio apart from video): AAC-LC at
//!   the plan's bitrate, sample rate and channel count, optionally loudness-normalised;
//! - thumbnails, when the plan asks for images, are a frame-capture output group taking one
//!   JPEG every `thumbnail_interval_seconds`.
//!
//! Per-source filters follow the plan: deinterlacing, and HDR to SDR BT.709 tone mapping.
//! Left to the local engine for now: the poster (a chosen non-black frame), storyboard sprite
//! sheets and the progressive download MP4.

use aws_sdk_mediaconvert::types::{
    AacCodecProfile, AacCodingMode, AacRateControlMode, AacSettings, AudioCodec, AudioCodecSettings,
    AudioDefaultSelection, AudioDescription, AudioLanguageCodeControl, AudioNormalizationAlgorithm,
    AudioNormalizationAlgorithmControl, AudioNormalizationSettings, AudioSelector, AudioSelectorType,
    CmafGroupSettings, CmafManifestDurationFormat, CmafSegmentControl, CmafWriteDashManifest, CmafWriteHlsManifest,
    CmfcAudioTrackType, CmfcSettings, ColorCorrector, ColorSpaceConversion, ContainerSettings, ContainerType,
    Deinterlacer, DeinterlacerMode, FileGroupSettings, FrameCaptureSettings, H264CodecLevel, H264CodecProfile,
    H264FramerateControl, H264GopSizeUnits, H264QualityTuningLevel, H264QvbrSettings, H264RateControlMode,
    H264SceneChangeDetect, H264Settings, HdrToSdrToneMapper, Input, InputRotate, InputTimecodeSource, JobSettings,
    Output, OutputGroup, OutputGroupSettings, OutputGroupType, ScalingBehavior, VideoCodec, VideoCodecSettings,
    VideoDescription, VideoPreprocessor, VideoSelector,
};
use pipelines::plan::{AudioRendition, H264Profile, ImagePlan, Plan, VideoFilters, VideoRung};
use pipelines::source::SourceInfo;

use super::{MediaConvertError, S3Location};

/// Base name of the CMAF outputs: MediaConvert writes `master.m3u8`, `master.mpd` and
/// `master_{rendition}.m3u8` (plus segments) under the destination prefix.
pub const MANIFEST_BASE_NAME: &str = "master";
/// Base name of frame captures: `images/thumb.0000000.jpg`, `images/thumb.0000001.jpg`, …
pub const THUMBNAIL_BASE_NAME: &str = "images/thumb";
/// Name of the CMAF output group, also the `outputGroupDetails` entry in a finished job.
pub const CMAF_GROUP_NAME: &str = "CMAF";
pub const THUMBNAIL_GROUP_NAME: &str = "Thumbnails";
/// The audio group every video rendition refers to in the HLS master.
const AUDIO_GROUP_ID: &str = "audio";
/// JPEG quality of frame captures (MediaConvert's scale is 1–100).
const THUMBNAIL_QUALITY: i32 = 80;

/// The MediaConvert job that makes what `plan` asks for from `input`, writing under
/// `destination` (a prefix such as `s3://bucket/assets/…/v1/`). `source` is the probe the plan
/// was made from: MediaConvert selects audio by track number (1-based among the audio tracks),
/// while the plan names container stream indices.
pub fn job_settings(
    plan: &Plan,
    source: &SourceInfo,
    input: &S3Location,
    destination: &S3Location,
) -> Result<JobSettings, MediaConvertError> {
    if !destination.key.is_empty() && !destination.key.ends_with('/') {
        return Err(MediaConvertError::InvalidLocation {
            location: destination.to_string(),
            reason: "a destination must be a prefix ending with `/`",
        });
    }
    if plan.video.is_empty() && plan.audio.is_empty() {
        return Err(MediaConvertError::EmptyPlan);
    }
    let mut job_input = Input::builder()
        .file_input(input.to_string())
        .timecode_source(InputTimecodeSource::Zerobased)
        // The ladder's sizes are already the upright picture; let MediaConvert apply the
        // container's rotation the same way the engine does.
        .video_selector(VideoSelector::builder().rotate(InputRotate::Auto).build());
    for (position, audio) in plan.audio.iter().enumerate() {
        job_input = job_input.audio_selectors(audio_selector_name(position), audio_selector(source, audio));
    }

    let mut cmaf_outputs: Vec<Output> = plan.video.iter().map(|rung| video_output(rung, &plan.video_filters)).collect();
    let audio_only = plan.video.is_empty();
    cmaf_outputs
        .extend(plan.audio.iter().enumerate().map(|(position, audio)| audio_output(position, audio, audio_only)));
    let segment_seconds = i32::try_from(plan.segment_duration_seconds).unwrap_or(i32::MAX);
    let cmaf = CmafGroupSettings::builder()
        .destination(format!("{destination}{MANIFEST_BASE_NAME}"))
        .segment_length(segment_seconds)
        .fragment_length(segment_seconds)
        .segment_control(CmafSegmentControl::SegmentedFiles)
        .write_hls_manifest(CmafWriteHlsManifest::Enabled)
        .write_dash_manifest(CmafWriteDashManifest::Enabled)
        .manifest_duration_format(CmafManifestDurationFormat::FloatingPoint)
        .build();
    let mut settings = JobSettings::builder().inputs(job_input.build()).output_groups(
        OutputGroup::builder()
            .name(CMAF_GROUP_NAME)
            .output_group_settings(
                OutputGroupSettings::builder()
                    .r#type(OutputGroupType::CmafGroupSettings)
                    .cmaf_group_settings(cmaf)
                    .build(),
            )
            .set_outputs(Some(cmaf_outputs))
            .build(),
    );
    if !plan.video.is_empty() && plan.images.thumbnail_interval_seconds > 0 {
        settings = settings.output_groups(thumbnail_group(&plan.images, destination));
    }
    Ok(settings.build())
}

/// MediaConvert's default selector names are `Audio Selector 1`, `Audio Selector 2`, …
fn audio_selector_name(position: usize) -> String {
    format!("Audio Selector {}", position + 1)
}

fn audio_selector(source: &SourceInfo, audio: &AudioRendition) -> AudioSelector {
    let mut indices: Vec<usize> = source.audio.iter().map(|stream| stream.index).collect();
    indices.sort_unstable();
    let track = indices.iter().position(|index| *index == audio.source_index).map_or(1, |position| position + 1);
    AudioSelector::builder()
        .selector_type(AudioSelectorType::Track)
        .tracks(i32::try_from(track).unwrap_or(1))
        .default_selection(if audio.default {
            AudioDefaultSelection::Default
        } else {
            AudioDefaultSelection::NotDefault
        })
        .build()
}

fn video_output(rung: &VideoRung, filters: &VideoFilters) -> Output {
    let h264 = H264Settings::builder()
        .rate_control_mode(H264RateControlMode::Qvbr)
        .qvbr_settings(H264QvbrSettings::builder().qvbr_quality_level(qvbr_quality_level(rung.crf)).build())
        .max_bitrate(to_i32(rung.max_bitrate))
        .hrd_buffer_size(to_i32(rung.buffer_size))
        .codec_profile(codec_profile(rung.profile))
        // The plan names no level; MediaConvert picks the lowest that fits size, rate and bitrate.
        .codec_level(H264CodecLevel::Auto)
        .quality_tuning_level(quality_tuning_level(&rung.encoder_preset))
        .gop_size(f64::from(rung.keyframe_interval_frames))
        .gop_size_units(H264GopSizeUnits::Frames)
        .gop_closed_cadence(1)
        // A keyframe at a scene cut would start a GOP off the segment grid.
        .scene_change_detect(H264SceneChangeDetect::Disabled)
        .min_i_interval(0)
        .framerate_control(H264FramerateControl::Specified)
        .framerate_numerator(to_i32(rung.frame_rate.num))
        .framerate_denominator(to_i32(rung.frame_rate.den))
        .build();
    let mut video = VideoDescription::builder()
        .width(to_i32(rung.width))
        .height(to_i32(rung.height))
        .scaling_behavior(ScalingBehavior::Default)
        .codec_settings(VideoCodecSettings::builder().codec(VideoCodec::H264).h264_settings(h264).build());
    if filters.deinterlace || filters.tone_map_to_sdr {
        let mut preprocessors = VideoPreprocessor::builder();
        if filters.deinterlace {
            preprocessors =
                preprocessors.deinterlacer(Deinterlacer::builder().mode(DeinterlacerMode::Deinterlace).build());
        }
        if filters.tone_map_to_sdr {
            // Like the engine: HDR (PQ/HLG) becomes SDR BT.709, keeping detail in highlights.
            preprocessors = preprocessors.color_corrector(
                ColorCorrector::builder()
                    .color_space_conversion(ColorSpaceConversion::Force709)
                    .hdr_to_sdr_tone_mapper(HdrToSdrToneMapper::PreserveDetails)
                    .build(),
            );
        }
        video = video.video_preprocessors(preprocessors.build());
    }
    Output::builder()
        .name_modifier(format!("_{}", rung.name))
        .container_settings(cmfc_container(CmfcSettings::builder().audio_rendition_sets(AUDIO_GROUP_ID).build()))
        .video_description(video.build())
        .build()
}

/// An audio-only plan gets its audio as HLS variants (players need at least one variant);
/// otherwise audio renditions are alternatives that every video variant refers to.
fn audio_output(position: usize, audio: &AudioRendition, audio_only: bool) -> Output {
    let aac = AacSettings::builder()
        .codec_profile(AacCodecProfile::Lc)
        .rate_control_mode(AacRateControlMode::Cbr)
        .bitrate(to_i32(audio.bitrate))
        .sample_rate(to_i32(audio.sample_rate))
        .coding_mode(if audio.channels == 1 { AacCodingMode::CodingMode10 } else { AacCodingMode::CodingMode20 })
        .build();
    let mut description = AudioDescription::builder()
        .audio_source_name(audio_selector_name(position))
        .stream_name(&audio.label)
        .codec_settings(AudioCodecSettings::builder().codec(AudioCodec::Aac).aac_settings(aac).build());
    if let Some(language) = &audio.language {
        description =
            description.custom_language_code(language).language_code_control(AudioLanguageCodeControl::UseConfigured);
    }
    if let Some(loudness) = audio.loudness {
        description = description.audio_normalization_settings(
            AudioNormalizationSettings::builder()
                .algorithm(AudioNormalizationAlgorithm::ItuBs17704)
                .algorithm_control(AudioNormalizationAlgorithmControl::CorrectAudio)
                .target_lkfs(f64::from(loudness.integrated_lufs))
                .true_peak_limiter_threshold(f64::from(loudness.true_peak_db))
                .build(),
        );
    }
    let track_type = if audio_only {
        CmfcAudioTrackType::AudioOnlyVariantStream
    } else if audio.default {
        CmfcAudioTrackType::AlternateAudioAutoSelectDefault
    } else {
        CmfcAudioTrackType::AlternateAudioAutoSelect
    };
    Output::builder()
        .name_modifier(format!("_{}", audio.name))
        .container_settings(cmfc_container(
            CmfcSettings::builder().audio_group_id(AUDIO_GROUP_ID).audio_track_type(track_type).build(),
        ))
        .audio_descriptions(description.build())
        .build()
}

fn thumbnail_group(images: &ImagePlan, destination: &S3Location) -> OutputGroup {
    let capture = FrameCaptureSettings::builder()
        .framerate_numerator(1)
        .framerate_denominator(to_i32(images.thumbnail_interval_seconds))
        .quality(THUMBNAIL_QUALITY)
        .build();
    let output = Output::builder()
        .extension("jpg")
        .container_settings(ContainerSettings::builder().container(ContainerType::Raw).build())
        .video_description(
            VideoDescription::builder()
                .width(to_i32(images.thumbnail_width))
                .height(to_i32(images.thumbnail_height))
                .codec_settings(
                    VideoCodecSettings::builder()
                        .codec(VideoCodec::FrameCapture)
                        .frame_capture_settings(capture)
                        .build(),
                )
                .build(),
        )
        .build();
    OutputGroup::builder()
        .name(THUMBNAIL_GROUP_NAME)
        .output_group_settings(
            OutputGroupSettings::builder()
                .r#type(OutputGroupType::FileGroupSettings)
                .file_group_settings(
                    FileGroupSettings::builder().destination(format!("{destination}{THUMBNAIL_BASE_NAME}")).build(),
                )
                .build(),
        )
        .outputs(output)
        .build()
}

fn cmfc_container(settings: CmfcSettings) -> ContainerSettings {
    ContainerSettings::builder().container(ContainerType::Cmfc).cmfc_settings(settings).build()
}

/// QVBR quality (1–10) for an x264 CRF: CRF 18 (visually lossless) is 9, each 2.5 CRF steps
/// cost one level, so the presets' CRF 23 is 7 — the level AWS suggests for 720p and 1080p —
/// and CRF 26 on small rungs is 6. Both scales are logarithmic in bitrate, so a linear map is
/// as good as any; the cap (`MaxBitrate`) is what bounds the cost either way.
pub fn qvbr_quality_level(crf: f32) -> i32 {
    let level = 9.0 - (f64::from(crf) - 18.0) / 2.5;
    level.round().clamp(1.0, 10.0) as i32
}

/// x264's speed presets mapped onto MediaConvert's three tuning levels.
fn quality_tuning_level(encoder_preset: &str) -> H264QualityTuningLevel {
    match encoder_preset {
        "ultrafast" | "superfast" | "veryfast" | "faster" | "fast" => H264QualityTuningLevel::SinglePass,
        "medium" => H264QualityTuningLevel::SinglePassHq,
        _ => H264QualityTuningLevel::MultiPassHq,
    }
}

fn codec_profile(profile: H264Profile) -> H264CodecProfile {
    match profile {
        H264Profile::Baseline => H264CodecProfile::Baseline,
        H264Profile::Main => H264CodecProfile::Main,
        H264Profile::High => H264CodecProfile::High,
    }
}

/// MediaConvert takes 32-bit integers; every figure of a plan fits (bitrates are below 2 Gbit/s).
fn to_i32(value: u32) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

#[cfg(test)]
#[path = "job_tests.rs"]
mod tests;
