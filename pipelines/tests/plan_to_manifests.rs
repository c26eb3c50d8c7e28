//! The whole path the worker takes through this crate, with the engine simulated: check the
//! source, plan it, "encode" every rendition into segments named as `naming` says, then write
//! the manifests. It proves the pieces agree on names, numbering and URIs.

use m3u8_rs::{Playlist, parse_playlist_res};
use pipelines::fixtures::{self, FPS_30};
use pipelines::package::{Package, PackagedRendition, RenditionKind, SegmentInfo};
use pipelines::plan::Plan;
use pipelines::source::{AudioStreamInfo, SourceInfo, VideoStreamInfo};
use pipelines::{dash, hls, ladder, limits, naming, preset::Preset, storyboard};

/// Half a minute of HEVC from a phone held upright, with a 44.1 kHz English track.
fn phone_lesson() -> SourceInfo {
    let video = VideoStreamInfo {
        codec: "hevc".to_owned(),
        profile: Some("Main".to_owned()),
        rotation_degrees: 90,
        bit_rate: Some(9_000_000),
        ..fixtures::video(1920, 1080, FPS_30)
    };
    let audio = AudioStreamInfo { sample_rate: 44_100, title: None, ..fixtures::audio(1, Some("eng"), 2) };
    SourceInfo {
        duration_seconds: Some(30.0),
        size_bytes: 40_000_000,
        bit_rate: Some(10_000_000),
        ..fixtures::source(vec![video], vec![audio])
    }
}

/// What the engine would report after encoding 30 s in 4 s segments (the last one 2 s).
fn simulated_engine(plan: &Plan, duration_seconds: f64) -> Package {
    let segment_ticks = |timescale: u64| {
        let mut durations = vec![4 * timescale; 7];
        durations.push(2 * timescale);
        durations
    };
    let rendition = |name: &str, kind: RenditionKind, codecs: &str, bitrate: u64, timescale: u32| {
        let mut start_ticks = 0;
        let segments = segment_ticks(u64::from(timescale))
            .into_iter()
            .enumerate()
            .map(|(offset, duration_ticks)| {
                let number = naming::FIRST_SEGMENT_NUMBER + offset as u64;
                let segment = SegmentInfo {
                    uri: naming::segment_path(name, number),
                    start_ticks,
                    duration_ticks,
                    size_bytes: bitrate / 2,
                };
                start_ticks += duration_ticks;
                segment
            })
            .collect();
        PackagedRendition {
            name: name.to_owned(),
            kind,
            codecs: codecs.to_owned(),
            peak_bitrate: bitrate * 5 / 4,
            average_bitrate: bitrate,
            timescale,
            init_uri: naming::init_segment_path(name),
            segments,
            segment_template: naming::SEGMENT_TEMPLATE.to_owned(),
            start_number: naming::FIRST_SEGMENT_NUMBER,
        }
    };
    let video = plan
        .video
        .iter()
        .map(|rung| {
            let kind = RenditionKind::Video { width: rung.width, height: rung.height, frame_rate: rung.frame_rate };
            rendition(&rung.name, kind, "avc1.64001f", u64::from(rung.max_bitrate) / 2, 15_360)
        })
        .collect();
    let audio = plan
        .audio
        .iter()
        .map(|audio| {
            let kind = RenditionKind::Audio {
                language: audio.language.clone(),
                label: audio.label.clone(),
                channels: audio.channels,
                sample_rate: audio.sample_rate,
                default: audio.default,
            };
            rendition(&audio.name, kind, "mp4a.40.2", u64::from(audio.bitrate), audio.sample_rate)
        })
        .collect();
    Package {
        duration_seconds,
        segment_duration_seconds: plan.segment_duration_seconds,
        video,
        audio,
        poster: Some(naming::POSTER.to_owned()),
        storyboard_vtt: Some(naming::STORYBOARD_VTT.to_owned()),
        download: plan.download_rung.as_ref().map(|_| naming::DOWNLOAD_MP4.to_owned()),
    }
}

#[test]
fn a_portrait_phone_lesson_goes_from_probe_to_playable_manifests() {
    let source = phone_lesson();
    limits::check(&source, &limits::Limits::default()).expect("within limits");
    let plan = ladder::plan(&source, &Preset::default_course()).expect("plannable");
    assert_eq!(plan.video_filters.rotate_degrees, 90);
    assert_eq!(plan.video[0].name, "1080p");
    assert_eq!((plan.video[0].width, plan.video[0].height), (1080, 1920));

    let package = simulated_engine(&plan, 30.0);
    let Ok(Playlist::MasterPlaylist(master)) = parse_playlist_res(hls::master_playlist(&package).as_bytes()) else {
        panic!("the master playlist parses");
    };
    let uris: Vec<&str> = master.variants.iter().map(|variant| variant.uri.as_str()).collect();
    let expected: Vec<String> = plan.video.iter().map(|rung| format!("{}/playlist.m3u8", rung.name)).collect();
    assert_eq!(uris, expected);
    assert_eq!(master.alternatives[0].uri.as_deref(), Some("audio_eng/playlist.m3u8"));

    for rendition in package.video.iter().chain(&package.audio) {
        let text = hls::media_playlist(rendition);
        let Ok(Playlist::MediaPlaylist(media)) = parse_playlist_res(text.as_bytes()) else {
            panic!("the {} playlist parses", rendition.name);
        };
        assert_eq!(media.segments.len(), 8);
        assert_eq!(media.segments[7].uri, "seg_00008.m4s");
        assert_eq!(media.target_duration, 4);
    }

    let manifest = dash::mpd(&package);
    assert!(manifest.contains("mediaPresentationDuration=\"PT30.000S\""));
    assert!(manifest.contains("<S t=\"0\" d=\"61440\" r=\"6\"/>"), "seven 4 s video segments");
    assert!(manifest.contains("<S t=\"0\" d=\"192000\" r=\"6\"/>"), "seven 4 s audio segments");

    let tiles = storyboard::tile_layout(30.0, &plan.images);
    assert_eq!(storyboard::thumbnail_times(30.0, &plan.images), [0.0, 10.0, 20.0]);
    assert_eq!((tiles[2].x, tiles[2].width, tiles[2].height), (320, 160, 284));
    assert!(storyboard::webvtt(&tiles).contains("storyboard_001.jpg#xywh=320,0,160,284"));
}

#[test]
fn plans_round_trip_through_json_and_older_plans_still_read() {
    let plan = ladder::plan(&phone_lesson(), &Preset::default_course()).expect("plannable");
    let json = serde_json::to_value(&plan).expect("serialises");
    let back: Plan = serde_json::from_value(json.clone()).expect("deserialises");
    assert_eq!(back, plan);

    // A plan written before the storyboard tile fields existed.
    let mut older = json;
    let images = older["images"].as_object_mut().expect("images is an object");
    images.remove("storyboard_tile_width");
    images.remove("storyboard_tile_height");
    let older: Plan = serde_json::from_value(older).expect("older plan reads");
    let thumbnail = (older.images.thumbnail_width, older.images.thumbnail_height);
    assert_eq!(older.images.storyboard_tile_size(), thumbnail);
}
