//! HLS playlists for a finished package: one master playlist and one media playlist per
//! rendition, all over the same CMAF (fMP4) segments the DASH manifest uses.
//!
//! Every URI is relative: the master (at the package root) points at `{name}/playlist.m3u8`,
//! and a media playlist (inside `{name}/`) points at `init.mp4` and `seg_00001.m4s` beside it.
//! The API can therefore serve a package from any prefix and sign child URIs per session.
//!
//! Protocol version 6 is declared in both playlists: it is the lowest that allows EXT-X-MAP in
//! a media playlist without EXT-X-I-FRAMES-ONLY (RFC 8216 §7), which fMP4 segments need;
//! nothing here needs 7 (that only gates INSTREAM-ID SERVICE values).
//!
//! The master is built with `m3u8-rs`. The media playlists are written by hand because
//! `m3u8-rs` keeps EXTINF durations as `f32`, with the number of decimals set by a
//! process-wide switch; writing them from integer ticks gives exact, stable decimals.

use std::collections::HashMap;

use m3u8_rs::{AlternativeMedia, AlternativeMediaType, MasterPlaylist, QuotedOrUnquoted, Resolution, VariantStream};

use crate::naming;
use crate::package::{Package, PackagedRendition, RenditionKind};

/// Declared in every playlist; see the module documentation.
pub const PROTOCOL_VERSION: usize = 6;
/// GROUP-ID of the audio renditions in the master playlist.
pub const AUDIO_GROUP: &str = "aac";

/// `{name}/playlist.m3u8`: where a rendition's media playlist lives in the package.
pub fn media_playlist_path(rendition: &PackagedRendition) -> String {
    naming::media_playlist_path(&rendition.name)
}

/// Quoted-string attribute values may not hold `"`, CR or LF (RFC 8216 §4.2). Labels can come
/// from a source file's track titles, so they are cleaned rather than trusted.
fn quoted_safe(value: &str) -> String {
    value.chars().filter(|c| *c != '"' && !c.is_control()).collect()
}

/// The audio rendition players start with: the one marked default, else the first.
fn default_audio(package: &Package) -> Option<&PackagedRendition> {
    let is_default = |r: &&PackagedRendition| matches!(r.kind, RenditionKind::Audio { default: true, .. });
    package.audio.iter().find(is_default).or(package.audio.first())
}

/// The master playlist. With video, there is one EXT-X-STREAM-INF per video rendition (in the
/// package's order) whose BANDWIDTH and AVERAGE-BANDWIDTH add the highest audio figures (the
/// default audio's, when all share a bitrate), and the audio renditions form one EXT-X-MEDIA
/// group. Audio-only packages list each audio rendition as its own variant instead.
pub fn master_playlist(package: &Package) -> String {
    let mut master =
        MasterPlaylist { version: Some(PROTOCOL_VERSION), independent_segments: true, ..MasterPlaylist::default() };
    if package.video.is_empty() {
        master.variants = package.audio.iter().map(audio_only_variant).collect();
    } else {
        master.alternatives = audio_group(package);
        master.variants = package.video.iter().map(|video| video_variant(package, video)).collect();
    }
    let mut bytes = Vec::new();
    // Writing into a Vec cannot fail, and m3u8-rs writes only the UTF-8 it was given.
    master.write_to(&mut bytes).expect("writing to memory cannot fail");
    String::from_utf8(bytes).expect("m3u8-rs writes the UTF-8 strings it was given")
}

fn video_variant(package: &Package, video: &PackagedRendition) -> VariantStream {
    // RFC 8216 §4.3.4.2: BANDWIDTH (and AVERAGE-BANDWIDTH) must be the largest sum over any
    // playable combination, so the video is paired with the most demanding audio rendition.
    // All renditions usually share one bitrate, making this the default audio's figure.
    let audio_peak = package.audio.iter().map(|a| a.peak_bitrate).max().unwrap_or(0);
    let audio_average = package.audio.iter().map(|a| a.average_bitrate).max().unwrap_or(0);
    let mut codecs = vec![video.codecs.as_str()];
    // CODECS must cover every rendition the variant may play, so all audio codecs are listed.
    for rendition in &package.audio {
        if !codecs.contains(&rendition.codecs.as_str()) {
            codecs.push(&rendition.codecs);
        }
    }
    let (resolution, frame_rate) = match &video.kind {
        RenditionKind::Video { width, height, frame_rate } => (
            Some(Resolution { width: u64::from(*width), height: u64::from(*height) }),
            Some(format!("{:.3}", frame_rate.as_f64())),
        ),
        RenditionKind::Audio { .. } => (None, None),
    };
    // FRAME-RATE goes through the free-form attributes because m3u8-rs prints an `f64` with
    // every digit (29.97002997002997); the spec's form has three decimals.
    let other_attributes =
        frame_rate.map(|rate| HashMap::from([("FRAME-RATE".to_owned(), QuotedOrUnquoted::Unquoted(rate))]));
    VariantStream {
        uri: media_playlist_path(video),
        bandwidth: video.peak_bitrate + audio_peak,
        average_bandwidth: Some(video.average_bitrate + audio_average),
        codecs: Some(quoted_safe(&codecs.join(","))),
        resolution,
        audio: (!package.audio.is_empty()).then(|| AUDIO_GROUP.to_owned()),
        other_attributes,
        ..VariantStream::default()
    }
}

fn audio_only_variant(audio: &PackagedRendition) -> VariantStream {
    VariantStream {
        uri: media_playlist_path(audio),
        bandwidth: audio.peak_bitrate,
        average_bandwidth: Some(audio.average_bitrate),
        codecs: Some(quoted_safe(&audio.codecs)),
        ..VariantStream::default()
    }
}

/// EXT-X-MEDIA entries. NAME must be unique within the group, so a repeated label gets the
/// rendition name appended.
fn audio_group(package: &Package) -> Vec<AlternativeMedia> {
    let default_name = default_audio(package).map(|audio| audio.name.as_str());
    let mut names: Vec<String> = Vec::new();
    let mut alternatives = Vec::new();
    for audio in &package.audio {
        let RenditionKind::Audio { language, label, channels, .. } = &audio.kind else {
            continue;
        };
        let mut name = quoted_safe(label);
        if names.contains(&name) {
            name = format!("{name} ({})", audio.name);
        }
        names.push(name.clone());
        alternatives.push(AlternativeMedia {
            media_type: AlternativeMediaType::Audio,
            uri: Some(media_playlist_path(audio)),
            group_id: AUDIO_GROUP.to_owned(),
            language: language.as_deref().map(quoted_safe),
            name,
            default: default_name == Some(audio.name.as_str()),
            autoselect: true,
            channels: Some(channels.to_string()),
            ..AlternativeMedia::default()
        });
    }
    alternatives
}

/// `ticks / timescale` seconds with exactly six decimals, rounded half up, computed in
/// integers so the text never depends on float formatting.
fn seconds_6dp(ticks: u64, timescale: u32) -> String {
    let timescale = u128::from(timescale.max(1));
    let micros = (u128::from(ticks) * 2_000_000 + timescale) / (2 * timescale);
    format!("{}.{:06}", micros / 1_000_000, micros % 1_000_000)
}

/// A package-root URI as seen from inside the rendition's folder.
fn relative_to_rendition(rendition: &PackagedRendition, uri: &str) -> String {
    match uri.strip_prefix(&format!("{}/", rendition.name)) {
        Some(inside) => inside.to_owned(),
        None => format!("../{uri}"),
    }
}

/// The VOD media playlist of one rendition, to be saved at [`media_playlist_path`].
/// EXT-X-MEDIA-SEQUENCE is the rendition's `start_number` (1 by [`naming`]), so a segment's
/// sequence number equals the number in its file name and its DASH `$Number$`.
/// EXT-X-TARGETDURATION is the longest segment rounded up to whole seconds.
pub fn media_playlist(rendition: &PackagedRendition) -> String {
    let timescale = u64::from(rendition.timescale.max(1));
    let longest = rendition.segments.iter().map(|s| s.duration_ticks).max().unwrap_or(0);
    let target_duration = longest.div_ceil(timescale).max(1);
    let init = relative_to_rendition(rendition, &rendition.init_uri);
    let mut lines = vec![
        "#EXTM3U".to_owned(),
        format!("#EXT-X-VERSION:{PROTOCOL_VERSION}"),
        format!("#EXT-X-TARGETDURATION:{target_duration}"),
        format!("#EXT-X-MEDIA-SEQUENCE:{}", rendition.start_number),
        "#EXT-X-PLAYLIST-TYPE:VOD".to_owned(),
        "#EXT-X-INDEPENDENT-SEGMENTS".to_owned(),
        format!("#EXT-X-MAP:URI=\"{}\"", quoted_safe(&init)),
    ];
    for segment in &rendition.segments {
        lines.push(format!("#EXTINF:{},", seconds_6dp(segment.duration_ticks, rendition.timescale)));
        lines.push(relative_to_rendition(rendition, &segment.uri));
    }
    lines.push("#EXT-X-ENDLIST\n".to_owned());
    lines.join("\n")
}

#[cfg(test)]
mod tests;
