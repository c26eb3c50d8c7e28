//! Probe results for tests, shaped like what `workers::probe` reports for real files.

use crate::naming;
use crate::package::{Package, PackagedRendition, RenditionKind, SegmentInfo};
use crate::source::{AudioStreamInfo, FieldOrder, Rational, SourceInfo, VideoStreamInfo};

pub const FPS_30: Rational = Rational::new(30, 1);
pub const FPS_60: Rational = Rational::new(60, 1);
pub const FPS_25: Rational = Rational::new(25, 1);
pub const FPS_29_97: Rational = Rational::new(30000, 1001);

pub fn video(width: u32, height: u32, frame_rate: Rational) -> VideoStreamInfo {
    VideoStreamInfo {
        index: 0,
        codec: "h264".to_owned(),
        profile: Some("High".to_owned()),
        width,
        height,
        sample_aspect_ratio: Rational::new(1, 1),
        rotation_degrees: 0,
        frame_rate: Some(frame_rate),
        variable_frame_rate: false,
        field_order: FieldOrder::Progressive,
        pixel_format: "yuv420p".to_owned(),
        bit_depth: 8,
        color_transfer: Some("bt709".to_owned()),
        color_primaries: Some("bt709".to_owned()),
        color_space: Some("bt709".to_owned()),
        language: None,
        bit_rate: Some(5_000_000),
    }
}

pub fn audio(index: usize, language: Option<&str>, channels: u16) -> AudioStreamInfo {
    AudioStreamInfo {
        index,
        codec: "aac".to_owned(),
        channels,
        channel_layout: Some(if channels == 1 { "mono" } else { "stereo" }.to_owned()),
        sample_rate: 48_000,
        language: language.map(str::to_owned),
        title: Some("SoundHandler".to_owned()),
        default: index == 1,
        bit_rate: Some(128_000),
    }
}

/// A ten-minute MP4 with the given streams.
pub fn source(video: Vec<VideoStreamInfo>, audio: Vec<AudioStreamInfo>) -> SourceInfo {
    SourceInfo {
        container: "mov,mp4,m4a,3gp,3g2,mj2".to_owned(),
        duration_seconds: Some(600.0),
        size_bytes: 300_000_000,
        bit_rate: Some(4_000_000),
        video,
        audio,
    }
}

/// A video stream at index 0 with one stereo English track at index 1.
pub fn movie(video_stream: VideoStreamInfo) -> SourceInfo {
    source(vec![video_stream], vec![audio(1, Some("eng"), 2)])
}

/// The sources the ladder snapshots cover, each named for its snapshot file.
pub fn ladder_cases() -> Vec<(&'static str, SourceInfo)> {
    let portrait_phone = VideoStreamInfo {
        rotation_degrees: 90,
        variable_frame_rate: true,
        ..video(1920, 1080, Rational::new(2997, 100))
    };
    let anamorphic_pal = VideoStreamInfo {
        sample_aspect_ratio: Rational::new(64, 45),
        codec: "mpeg2video".to_owned(),
        ..video(720, 576, FPS_25)
    };
    let interlaced = VideoStreamInfo { field_order: FieldOrder::TopFieldFirst, ..video(1920, 1080, FPS_29_97) };
    let hdr = VideoStreamInfo {
        codec: "hevc".to_owned(),
        pixel_format: "yuv420p10le".to_owned(),
        bit_depth: 10,
        color_transfer: Some("smpte2084".to_owned()),
        color_primaries: Some("bt2020".to_owned()),
        color_space: Some("bt2020nc".to_owned()),
        ..video(3840, 2160, Rational::new(24000, 1001))
    };
    let mut audio_only = source(vec![], vec![audio(0, None, 2)]);
    audio_only.container = "mp3".to_owned();
    let mut russian_english = movie(video(1920, 1080, FPS_30));
    russian_english.audio = vec![
        AudioStreamInfo { title: Some("Оригинал".to_owned()), ..audio(1, Some("rus"), 2) },
        AudioStreamInfo { default: false, ..audio(2, Some("eng"), 1) },
        // A second Russian track (commentary) is dropped: one rendition per language.
        AudioStreamInfo { default: false, ..audio(3, Some("rus"), 2) },
    ];
    vec![
        ("landscape_1080p30", movie(video(1920, 1080, FPS_30))),
        ("portrait_phone_rotated_90", movie(portrait_phone)),
        ("anamorphic_pal_16_9", movie(anamorphic_pal)),
        ("landscape_1080p60", movie(video(1920, 1080, FPS_60))),
        ("uhd_3840x2160", movie(video(3840, 2160, FPS_30))),
        ("odd_641x361", movie(video(641, 361, FPS_30))),
        ("audio_only", audio_only),
        ("two_languages", russian_english),
        ("interlaced_1080i", movie(interlaced)),
        ("hdr_10_bit", movie(hdr)),
    ]
}

/// A rendition whose segments have the given durations (in `timescale` ticks), named and
/// numbered as the engine names them.
fn packaged(
    name: &str,
    kind: RenditionKind,
    codecs: &str,
    (peak_bitrate, average_bitrate): (u64, u64),
    timescale: u32,
    durations: &[u64],
) -> PackagedRendition {
    let mut start_ticks = 0;
    let segments = durations
        .iter()
        .enumerate()
        .map(|(position, &duration_ticks)| {
            let segment = SegmentInfo {
                uri: naming::segment_path(name, naming::FIRST_SEGMENT_NUMBER + position as u64),
                start_ticks,
                duration_ticks,
                size_bytes: duration_ticks * average_bitrate / 8 / u64::from(timescale),
            };
            start_ticks += duration_ticks;
            segment
        })
        .collect();
    PackagedRendition {
        name: name.to_owned(),
        kind,
        codecs: codecs.to_owned(),
        peak_bitrate,
        average_bitrate,
        timescale,
        init_uri: naming::init_segment_path(name),
        segments,
        segment_template: naming::SEGMENT_TEMPLATE.to_owned(),
        start_number: naming::FIRST_SEGMENT_NUMBER,
    }
}

fn video_rendition(name: &str, (width, height): (u32, u32), codecs: &str, bitrates: (u64, u64)) -> PackagedRendition {
    // 29.97 fps in a 30000 timescale: 120 frames of 1001 ticks make a 4.004 s segment, and
    // the last segment holds the remaining 74 frames of a 10.5 s lesson.
    let kind = RenditionKind::Video { width, height, frame_rate: FPS_29_97 };
    packaged(name, kind, codecs, bitrates, 30_000, &[120_120, 120_120, 74_074])
}

fn audio_rendition(name: &str, language: Option<&str>, label: &str, default: bool) -> PackagedRendition {
    let kind = RenditionKind::Audio {
        language: language.map(str::to_owned),
        label: label.to_owned(),
        channels: 2,
        sample_rate: 48_000,
        default,
    };
    // AAC frames are 1024 samples, so 4 s segments alternate between 188 and 187 frames.
    packaged(name, kind, "mp4a.40.2", (131_000, 129_000), 48_000, &[192_512, 191_488, 120_832])
}

/// A 10.5 s lesson at 29.97 fps: 720p and 360p video, Russian (default) and English audio.
pub fn lesson_package() -> Package {
    Package {
        duration_seconds: 10.5,
        segment_duration_seconds: 4,
        video: vec![
            video_rendition("720p", (1280, 720), "avc1.64001f", (2_800_000, 1_900_000)),
            video_rendition("360p", (640, 360), "avc1.4d401e", (700_000, 450_000)),
        ],
        audio: vec![
            audio_rendition("audio_rus", Some("ru"), "Русский", true),
            audio_rendition("audio_eng", Some("en"), "English", false),
        ],
        poster: Some(naming::POSTER.to_owned()),
        storyboard_vtt: Some(naming::STORYBOARD_VTT.to_owned()),
        download: Some(naming::DOWNLOAD_MP4.to_owned()),
    }
}

/// The same lesson as a podcast: one unlabelled audio rendition, no pictures.
pub fn audio_only_package() -> Package {
    Package {
        video: vec![],
        audio: vec![audio_rendition("audio", None, "Audio", true)],
        poster: None,
        storyboard_vtt: None,
        download: None,
        ..lesson_package()
    }
}
