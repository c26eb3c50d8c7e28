use aws_sdk_mediaconvert::types::{
    AacCodingMode, CmafWriteDashManifest, CmafWriteHlsManifest, ContainerType, H264CodecProfile, H264GopSizeUnits,
    H264RateControlMode, H264SceneChangeDetect, OutputGroupType, VideoCodec,
};
use pipelines::fixtures::{self, FPS_30};
use pipelines::preset::Preset;
use pipelines::source::{AudioStreamInfo, FieldOrder, SourceInfo, VideoStreamInfo};

use super::*;

/// A ten-minute 1080p30 H.264 recording with one English stereo track (44.1 kHz), as the probe
/// reports it: the shared fixture with this recording's bit rate and sample rate.
fn source_1080p30() -> SourceInfo {
    let video = VideoStreamInfo { bit_rate: Some(3_800_000), ..fixtures::video(1920, 1080, FPS_30) };
    let audio = AudioStreamInfo { title: None, sample_rate: 44_100, ..fixtures::audio(1, Some("eng"), 2) };
    fixtures::source(vec![video], vec![audio])
}

fn course_job() -> (Plan, JobSettings) {
    let source = source_1080p30();
    let plan = pipelines::ladder::plan(&source, &Preset::default_course()).expect("plannable");
    let input = S3Location::parse("s3://media/uploads/lecture.mp4").expect("valid");
    let destination = S3Location::parse("s3://media/assets/a1/v1/").expect("valid");
    let settings = job_settings(&plan, &source, &input, &destination).expect("settings");
    (plan, settings)
}

#[test]
fn a_1080p_course_source_becomes_one_cmaf_group_with_every_rung_and_the_audio() {
    let (plan, settings) = course_job();
    assert_eq!(settings.inputs()[0].file_input(), Some("s3://media/uploads/lecture.mp4"));
    let groups = settings.output_groups();
    assert_eq!(groups.len(), 2, "CMAF and thumbnails");

    let cmaf_group = &groups[0];
    assert_eq!(cmaf_group.name(), Some(CMAF_GROUP_NAME));
    let group_settings = cmaf_group.output_group_settings().expect("group settings");
    assert_eq!(group_settings.r#type(), Some(&OutputGroupType::CmafGroupSettings));
    let cmaf = group_settings.cmaf_group_settings().expect("CMAF settings");
    assert_eq!(cmaf.destination(), Some("s3://media/assets/a1/v1/master"));
    assert_eq!(cmaf.segment_length(), Some(4));
    assert_eq!(cmaf.fragment_length(), Some(4));
    assert_eq!(cmaf.write_hls_manifest(), Some(&CmafWriteHlsManifest::Enabled));
    assert_eq!(cmaf.write_dash_manifest(), Some(&CmafWriteDashManifest::Enabled));

    let names: Vec<&str> = cmaf_group.outputs().iter().filter_map(|output| output.name_modifier()).collect();
    assert_eq!(names, ["_1080p", "_720p", "_480p", "_360p", "_240p", "_audio_eng"]);
    assert_eq!(plan.video.len(), 5);
    for (output, rung) in cmaf_group.outputs().iter().zip(&plan.video) {
        let container = output.container_settings().and_then(|c| c.container());
        assert_eq!(container, Some(&ContainerType::Cmfc));
        let video = output.video_description().expect("video");
        assert_eq!((video.width(), video.height()), (Some(rung.width as i32), Some(rung.height as i32)));
        let codec = video.codec_settings().expect("codec");
        assert_eq!(codec.codec(), Some(&VideoCodec::H264));
        let h264 = codec.h264_settings().expect("H.264");
        assert_eq!(h264.rate_control_mode(), Some(&H264RateControlMode::Qvbr));
        assert_eq!(h264.max_bitrate(), Some(rung.max_bitrate as i32));
        assert_eq!(h264.hrd_buffer_size(), Some(rung.buffer_size as i32));
        // Four-second segments at 30 fps: a closed GOP of 120 frames, never cut short.
        assert_eq!(h264.gop_size(), Some(120.0));
        assert_eq!(h264.gop_size_units(), Some(&H264GopSizeUnits::Frames));
        assert_eq!(h264.gop_closed_cadence(), Some(1));
        assert_eq!(h264.scene_change_detect(), Some(&H264SceneChangeDetect::Disabled));
        assert_eq!((h264.framerate_numerator(), h264.framerate_denominator()), (Some(30), Some(1)));
    }

    let top = cmaf_group.outputs()[0].video_description().expect("video");
    assert_eq!((top.width(), top.height()), (Some(1920), Some(1080)));
    let top = top.codec_settings().and_then(|c| c.h264_settings()).expect("H.264");
    assert_eq!(top.max_bitrate(), Some(6_000_000));
    assert_eq!(top.codec_profile(), Some(&H264CodecProfile::High));
    assert_eq!(top.qvbr_settings().and_then(|q| q.qvbr_quality_level()), Some(7));
    let bottom = cmaf_group.outputs()[4].video_description().expect("video");
    assert_eq!((bottom.width(), bottom.height()), (Some(426), Some(240)));
    let bottom = bottom.codec_settings().and_then(|c| c.h264_settings()).expect("H.264");
    assert_eq!(bottom.max_bitrate(), Some(300_000));
    assert_eq!(bottom.codec_profile(), Some(&H264CodecProfile::Main));
    assert_eq!(bottom.qvbr_settings().and_then(|q| q.qvbr_quality_level()), Some(6));

    let audio_output = &cmaf_group.outputs()[5];
    assert!(audio_output.video_description().is_none());
    let audio = &audio_output.audio_descriptions()[0];
    assert_eq!(audio.audio_source_name(), Some("Audio Selector 1"));
    // The planner already speaks BCP 47, which MediaConvert accepts for streaming outputs.
    assert_eq!(audio.custom_language_code(), Some("en"));
    let aac = audio.codec_settings().and_then(|c| c.aac_settings()).expect("AAC");
    assert_eq!(aac.bitrate(), Some(128_000));
    assert_eq!(aac.sample_rate(), Some(48_000));
    assert_eq!(aac.coding_mode(), Some(&AacCodingMode::CodingMode20));
    let selector = settings.inputs()[0].audio_selectors().and_then(|s| s.get("Audio Selector 1")).expect("selector");
    assert_eq!(selector.tracks(), [1], "the first audio track, though it is stream 1");
}

#[test]
fn thumbnails_are_frame_captures_at_the_plans_interval() {
    let (plan, settings) = course_job();
    let group = &settings.output_groups()[1];
    let file = group.output_group_settings().and_then(|s| s.file_group_settings()).expect("file group");
    assert_eq!(file.destination(), Some("s3://media/assets/a1/v1/images/thumb"));
    let output = &group.outputs()[0];
    assert_eq!(output.container_settings().and_then(|c| c.container()), Some(&ContainerType::Raw));
    let video = output.video_description().expect("video");
    assert_eq!(video.width(), Some(plan.images.thumbnail_width as i32));
    let capture = video.codec_settings().and_then(|c| c.frame_capture_settings()).expect("frame capture");
    assert_eq!((capture.framerate_numerator(), capture.framerate_denominator()), (Some(1), Some(10)));
}

#[test]
fn destinations_must_be_prefixes() {
    let source = source_1080p30();
    let plan = pipelines::ladder::plan(&source, &Preset::default_course()).expect("plannable");
    let input = S3Location::parse("s3://media/in.mp4").expect("valid");
    let destination = S3Location::parse("s3://media/assets/a1/v1").expect("valid");
    let error = job_settings(&plan, &source, &input, &destination).expect_err("no trailing slash");
    assert_eq!(error.error_code(), "invalid_location");
    assert!(S3Location::parse("https://media/x").is_err());
    assert!(S3Location::parse("s3:///x").is_err());
}

#[test]
fn qvbr_levels_follow_the_crf() {
    assert_eq!(qvbr_quality_level(18.0), 9);
    assert_eq!(qvbr_quality_level(23.0), 7);
    assert_eq!(qvbr_quality_level(26.0), 6);
    assert_eq!(qvbr_quality_level(0.0), 10);
    assert_eq!(qvbr_quality_level(51.0), 1);
}

#[test]
fn an_audio_only_source_gets_audio_variants_and_no_thumbnails() {
    let mut source = source_1080p30();
    source.video.clear();
    source.audio[0].index = 0;
    let plan = pipelines::ladder::plan(&source, &Preset::default_course()).expect("plannable");
    let input = S3Location::parse("s3://media/uploads/talk.mp3").expect("valid");
    let destination = S3Location::parse("s3://media/assets/a2/v1/").expect("valid");
    let settings = job_settings(&plan, &source, &input, &destination).expect("settings");
    assert_eq!(settings.output_groups().len(), 1, "no frame captures without a picture");
    let outputs = settings.output_groups()[0].outputs();
    assert_eq!(outputs.len(), 1);
    let cmfc = outputs[0].container_settings().and_then(|c| c.cmfc_settings()).expect("CMFC");
    assert_eq!(cmfc.audio_track_type(), Some(&aws_sdk_mediaconvert::types::CmfcAudioTrackType::AudioOnlyVariantStream));
}

#[test]
fn hdr_and_interlaced_sources_get_the_same_fixes_as_in_the_engine() {
    let mut source = source_1080p30();
    source.video[0].field_order = FieldOrder::TopFieldFirst;
    source.video[0].color_transfer = Some("smpte2084".to_owned());
    source.video[0].color_primaries = Some("bt2020".to_owned());
    source.video[0].bit_depth = 10;
    let plan = pipelines::ladder::plan(&source, &Preset::default_course()).expect("plannable");
    assert!(plan.video_filters.deinterlace && plan.video_filters.tone_map_to_sdr);
    let input = S3Location::parse("s3://media/in.mov").expect("valid");
    let destination = S3Location::parse("s3://media/out/").expect("valid");
    let settings = job_settings(&plan, &source, &input, &destination).expect("settings");
    let video = settings.output_groups()[0].outputs()[0].video_description().expect("video");
    let preprocessors = video.video_preprocessors().expect("preprocessors");
    assert!(preprocessors.deinterlacer().is_some());
    let colour = preprocessors.color_corrector().expect("tone mapping");
    assert_eq!(colour.color_space_conversion(), Some(&aws_sdk_mediaconvert::types::ColorSpaceConversion::Force709));
}
