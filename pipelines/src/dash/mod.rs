//! The DASH manifest for a finished package: a static MPD in the DASH-IF interoperability
//! shape (live profile, `SegmentTemplate` with `$Number$` and a `SegmentTimeline`) over the
//! same CMAF segments the HLS playlists use.
//!
//! Layout: one Period; one video AdaptationSet holding every rung; one audio AdaptationSet per
//! language, the default one carrying `Role` "main" (the others "alternate") so players pick
//! it first. URIs are relative to the MPD at the package root.

pub mod timeline;
mod xml;

use crate::package::{Package, PackagedRendition, RenditionKind};
use crate::source::Rational;
use xml::XmlWriter;

const PROFILE: &str = "urn:mpeg:dash:profile:isoff-live:2011";
const ROLE_SCHEME: &str = "urn:mpeg:dash:role:2011";
const CHANNEL_SCHEME: &str = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011";

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `30` for whole rates, `30000/1001` otherwise, in lowest terms (the DASH `FrameRateType`).
fn frame_rate_text(rate: Rational) -> String {
    let common = gcd(u64::from(rate.num), u64::from(rate.den)).max(1);
    let (num, den) = (u64::from(rate.num) / common, u64::from(rate.den) / common);
    if den == 1 { num.to_string() } else { format!("{num}/{den}") }
}

/// An ISO 8601 duration in seconds with millisecond precision, e.g. `PT10.500S`.
fn iso_duration(seconds: f64) -> String {
    format!("PT{:.3}S", seconds.max(0.0))
}

fn video_size(rendition: &PackagedRendition) -> Option<(u32, u32, Rational)> {
    match rendition.kind {
        RenditionKind::Video { width, height, frame_rate } => Some((width, height, frame_rate)),
        RenditionKind::Audio { .. } => None,
    }
}

/// The static MPD, to be saved at [`crate::naming::DASH_MANIFEST`].
pub fn mpd(package: &Package) -> String {
    let mut xml = XmlWriter::new();
    xml.open(
        "MPD",
        &[
            ("xmlns", "urn:mpeg:dash:schema:mpd:2011".to_owned()),
            ("profiles", PROFILE.to_owned()),
            ("type", "static".to_owned()),
            ("mediaPresentationDuration", iso_duration(package.duration_seconds)),
            // Bandwidths are per-segment peaks, so one segment's worth of buffer is enough for
            // a player fetching at exactly that rate to play without stalling.
            ("minBufferTime", format!("PT{}S", package.segment_duration_seconds.max(1))),
        ],
    );
    xml.open("Period", &[("id", "0".to_owned()), ("start", "PT0S".to_owned())]);
    let mut set_id = 0;
    if !package.video.is_empty() {
        video_set(&mut xml, set_id, &package.video);
        set_id += 1;
    }
    // The same audio HLS marks DEFAULT=YES: the first marked default, else the first.
    let main_audio = package
        .audio
        .iter()
        .find(|audio| matches!(audio.kind, RenditionKind::Audio { default: true, .. }))
        .or(package.audio.first())
        .map(|audio| audio.name.as_str());
    for audio in &package.audio {
        audio_set(&mut xml, set_id, audio, main_audio == Some(audio.name.as_str()));
        set_id += 1;
    }
    xml.close("Period");
    xml.close("MPD");
    xml.finish()
}

fn video_set(xml: &mut XmlWriter, id: usize, renditions: &[PackagedRendition]) {
    let sizes: Vec<(u32, u32, Rational)> = renditions.iter().filter_map(video_size).collect();
    let max_width = sizes.iter().map(|size| size.0).max().unwrap_or(0);
    let max_height = sizes.iter().map(|size| size.1).max().unwrap_or(0);
    let max_rate =
        sizes.iter().map(|size| size.2).max_by(|a, b| a.as_f64().total_cmp(&b.as_f64())).unwrap_or(Rational::new(0, 1));
    // The picture aspect of the largest rung; smaller rungs differ from it only by the
    // rounding to even dimensions.
    let largest = sizes.iter().max_by_key(|size| u64::from(size.0) * u64::from(size.1));
    let mut attributes = vec![
        ("id", id.to_string()),
        ("contentType", "video".to_owned()),
        ("mimeType", "video/mp4".to_owned()),
        ("segmentAlignment", "true".to_owned()),
        ("startWithSAP", "1".to_owned()),
        ("maxWidth", max_width.to_string()),
        ("maxHeight", max_height.to_string()),
        ("maxFrameRate", frame_rate_text(max_rate)),
    ];
    if let Some(&(width, height, _)) = largest {
        let common = gcd(u64::from(width), u64::from(height)).max(1);
        attributes.push(("par", format!("{}:{}", u64::from(width) / common, u64::from(height) / common)));
    }
    xml.open("AdaptationSet", &attributes);
    for rendition in renditions {
        let Some((width, height, rate)) = video_size(rendition) else {
            continue;
        };
        xml.open(
            "Representation",
            &[
                ("id", rendition.name.clone()),
                ("codecs", rendition.codecs.clone()),
                ("bandwidth", rendition.peak_bitrate.to_string()),
                ("width", width.to_string()),
                ("height", height.to_string()),
                ("frameRate", frame_rate_text(rate)),
                ("sar", "1:1".to_owned()),
            ],
        );
        segment_template(xml, rendition);
        xml.close("Representation");
    }
    xml.close("AdaptationSet");
}

fn audio_set(xml: &mut XmlWriter, id: usize, audio: &PackagedRendition, is_main: bool) {
    let RenditionKind::Audio { language, label, channels, sample_rate, .. } = &audio.kind else {
        return;
    };
    let mut attributes =
        vec![("id", id.to_string()), ("contentType", "audio".to_owned()), ("mimeType", "audio/mp4".to_owned())];
    if let Some(language) = language {
        attributes.push(("lang", language.clone()));
    }
    attributes.push(("segmentAlignment", "true".to_owned()));
    attributes.push(("startWithSAP", "1".to_owned()));
    xml.open("AdaptationSet", &attributes);
    // The schema puts Label (a RepresentationBase element) before Role (an AdaptationSet one).
    xml.text("Label", label);
    let role = if is_main { "main" } else { "alternate" };
    xml.empty("Role", &[("schemeIdUri", ROLE_SCHEME.to_owned()), ("value", role.to_owned())]);
    xml.open(
        "Representation",
        &[
            ("id", audio.name.clone()),
            ("codecs", audio.codecs.clone()),
            ("bandwidth", audio.peak_bitrate.to_string()),
            ("audioSamplingRate", sample_rate.to_string()),
        ],
    );
    xml.empty(
        "AudioChannelConfiguration",
        &[("schemeIdUri", CHANNEL_SCHEME.to_owned()), ("value", channels.to_string())],
    );
    segment_template(xml, audio);
    xml.close("Representation");
    xml.close("AdaptationSet");
}

fn segment_template(xml: &mut XmlWriter, rendition: &PackagedRendition) {
    xml.open(
        "SegmentTemplate",
        &[
            ("timescale", rendition.timescale.to_string()),
            ("initialization", rendition.init_uri.clone()),
            ("media", format!("{}/{}", rendition.name, rendition.segment_template)),
            ("startNumber", rendition.start_number.to_string()),
        ],
    );
    xml.open("SegmentTimeline", &[]);
    for entry in timeline::compress(&rendition.segments) {
        let mut attributes = Vec::with_capacity(3);
        if let Some(start) = entry.start {
            attributes.push(("t", start.to_string()));
        }
        attributes.push(("d", entry.duration.to_string()));
        if entry.repeat > 0 {
            attributes.push(("r", entry.repeat.to_string()));
        }
        xml.empty("S", &attributes);
    }
    xml.close("SegmentTimeline");
    xml.close("SegmentTemplate");
}

#[cfg(test)]
mod tests;
