use m3u8_rs::{MediaPlaylistType, Playlist, parse_playlist_res};

use super::*;
use crate::fixtures::{audio_only_package, lesson_package};

fn snapshot_settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings
}

fn parse_master(text: &str) -> MasterPlaylist {
    match parse_playlist_res(text.as_bytes()) {
        Ok(Playlist::MasterPlaylist(master)) => master,
        other => panic!("not a master playlist: {other:?}"),
    }
}

fn parse_media(text: &str) -> m3u8_rs::MediaPlaylist {
    match parse_playlist_res(text.as_bytes()) {
        Ok(Playlist::MediaPlaylist(media)) => media,
        other => panic!("not a media playlist: {other:?}"),
    }
}

#[test]
fn playlists_match_their_snapshots() {
    let package = lesson_package();
    snapshot_settings().bind(|| {
        insta::assert_snapshot!("hls_master", master_playlist(&package));
        insta::assert_snapshot!("hls_master_audio_only", master_playlist(&audio_only_package()));
        insta::assert_snapshot!("hls_media_video", media_playlist(&package.video[0]));
        insta::assert_snapshot!("hls_media_audio", media_playlist(&package.audio[1]));
    });
}

#[test]
fn the_master_playlist_parses_back_with_every_attribute() {
    let master = parse_master(&master_playlist(&lesson_package()));
    assert_eq!(master.version, Some(6));
    assert!(master.independent_segments);

    let top = &master.variants[0];
    assert_eq!(top.uri, "720p/playlist.m3u8");
    assert_eq!(top.bandwidth, 2_800_000 + 131_000, "video peak plus the audio peak");
    assert_eq!(top.average_bandwidth, Some(1_900_000 + 129_000));
    assert_eq!(top.codecs.as_deref(), Some("avc1.64001f,mp4a.40.2"));
    assert_eq!(top.resolution, Some(Resolution { width: 1280, height: 720 }));
    assert_eq!(top.frame_rate, Some(29.97));
    assert_eq!(top.audio.as_deref(), Some("aac"));
    assert_eq!(master.variants.len(), 2);

    let audio: Vec<(&str, Option<&str>, bool, Option<&str>)> = master
        .alternatives
        .iter()
        .map(|a| (a.name.as_str(), a.language.as_deref(), a.default, a.uri.as_deref()))
        .collect();
    assert_eq!(
        audio,
        [
            ("Русский", Some("ru"), true, Some("audio_rus/playlist.m3u8")),
            ("English", Some("en"), false, Some("audio_eng/playlist.m3u8")),
        ]
    );
    assert!(master.alternatives.iter().all(|a| a.autoselect && a.channels.as_deref() == Some("2")));
}

#[test]
fn an_audio_only_master_lists_the_audio_as_variants() {
    let master = parse_master(&master_playlist(&audio_only_package()));
    assert!(master.alternatives.is_empty());
    assert_eq!(master.variants.len(), 1);
    let variant = &master.variants[0];
    assert_eq!(variant.uri, "audio/playlist.m3u8");
    assert_eq!((variant.bandwidth, variant.codecs.as_deref()), (131_000, Some("mp4a.40.2")));
    assert_eq!((variant.resolution, variant.audio.as_deref()), (None, None));
}

#[test]
fn a_media_playlist_parses_back_with_relative_uris() {
    let package = lesson_package();
    let media = parse_media(&media_playlist(&package.video[0]));
    assert_eq!(media.version, Some(6));
    assert_eq!(media.target_duration, 5, "4.004 s rounds up to 5");
    assert_eq!(media.media_sequence, 1);
    assert_eq!(media.playlist_type, Some(MediaPlaylistType::Vod));
    assert!(media.independent_segments && media.end_list);
    let uris: Vec<&str> = media.segments.iter().map(|s| s.uri.as_str()).collect();
    assert_eq!(uris, ["seg_00001.m4s", "seg_00002.m4s", "seg_00003.m4s"]);
    assert_eq!(media.segments[0].map.as_ref().map(|m| m.uri.as_str()), Some("init.mp4"));
    let durations: Vec<f32> = media.segments.iter().map(|s| s.duration).collect();
    assert_eq!(durations, [4.004, 4.004, 2.469_133]);
}

#[test]
fn durations_are_written_with_six_exact_decimals() {
    let cases = [
        ((120_120, 30_000), "4.004000"),
        ((192_512, 48_000), "4.010667"),
        ((61_440, 15_360), "4.000000"),
        ((1, 3), "0.333333"),
        ((2, 3), "0.666667"),
        ((5, 10_000_000), "0.000001"),
        ((7, 0), "7.000000"),
    ];
    for ((ticks, timescale), expected) in cases {
        assert_eq!(seconds_6dp(ticks, timescale), expected, "{ticks}/{timescale}");
    }
}

#[test]
fn uris_outside_the_rendition_folder_climb_out_of_it() {
    let mut rendition = lesson_package().video.remove(0);
    rendition.init_uri = "shared/init.mp4".to_owned();
    assert!(media_playlist(&rendition).contains("#EXT-X-MAP:URI=\"../shared/init.mp4\"\n"));
}

#[test]
fn labels_cannot_break_out_of_their_quotes() {
    let mut package = lesson_package();
    if let RenditionKind::Audio { label, .. } = &mut package.audio[1].kind {
        *label = "Director's \"cut\"\ncommentary".to_owned();
    }
    let master = parse_master(&master_playlist(&package));
    assert_eq!(master.alternatives[1].name, "Director's cutcommentary");
}

#[test]
fn repeated_labels_are_made_unique_within_the_group() {
    let mut package = lesson_package();
    if let RenditionKind::Audio { label, .. } = &mut package.audio[1].kind {
        *label = "Русский".to_owned();
    }
    let master = parse_master(&master_playlist(&package));
    assert_eq!(master.alternatives[1].name, "Русский (audio_eng)");
}

#[test]
fn bandwidth_covers_the_most_demanding_audio_rendition() {
    let mut package = lesson_package();
    // A mono default track at 64 kb/s beside a stereo alternative at 131 kb/s.
    package.audio[0].peak_bitrate = 66_000;
    package.audio[0].average_bitrate = 64_000;
    let master = parse_master(&master_playlist(&package));
    assert_eq!(master.variants[0].bandwidth, 2_800_000 + 131_000);
    assert_eq!(master.variants[0].average_bandwidth, Some(1_900_000 + 129_000));
}

#[test]
fn a_silent_video_has_no_audio_group() {
    let mut package = lesson_package();
    package.audio.clear();
    let master = parse_master(&master_playlist(&package));
    assert!(master.alternatives.is_empty());
    let variant = &master.variants[0];
    assert_eq!((variant.bandwidth, variant.audio.as_deref()), (2_800_000, None));
    assert_eq!(variant.codecs.as_deref(), Some("avc1.64001f"));
}
