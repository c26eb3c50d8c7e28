//! What each stream of a file is: codec, picture geometry and colour, audio layout, tags.

use ffmpeg::format::stream::Disposition;
use ffmpeg_next as ffmpeg;
use pipelines::source::{AudioStreamInfo, Rational, VideoStreamInfo};

use crate::ffi;

pub(super) fn rational(value: ffmpeg::Rational) -> Option<Rational> {
    let num = u32::try_from(value.numerator()).ok()?;
    let den = u32::try_from(value.denominator()).ok()?;
    (num > 0 && den > 0).then_some(Rational::new(num, den))
}

fn tag(stream: &ffmpeg::format::stream::Stream, key: &str) -> Option<String> {
    let metadata = stream.metadata();
    metadata.get(key).filter(|value| !value.is_empty() && *value != "und").map(str::to_owned)
}

pub(super) fn video_stream_info(stream: &ffmpeg::format::stream::Stream) -> Option<VideoStreamInfo> {
    let parameters = stream.parameters();
    let raw = ffi::raw_parameters(&parameters);
    let decoder = ffmpeg::codec::context::Context::from_parameters(parameters).ok()?.decoder().video().ok()?;
    let codec = decoder.codec().map_or_else(|| format!("{:?}", decoder.id()), |codec| codec.name().to_owned());
    let pixel_format = decoder.format();
    let pixel_format_name = match pixel_format {
        ffmpeg::format::Pixel::None => "unknown".to_owned(),
        other => other.descriptor().map_or_else(|| "unknown".to_owned(), |d| d.name().to_owned()),
    };
    let bit_depth = ffi::pixel_bit_depth(pixel_format)
        .or((raw.bits_per_raw_sample > 0).then_some(raw.bits_per_raw_sample))
        .unwrap_or(8);
    let sample_aspect_ratio = rational(decoder.aspect_ratio()).unwrap_or(Rational::new(1, 1));
    let frame_rate =
        rational(stream.avg_frame_rate()).or_else(|| rational(stream.rate()).filter(|rate| rate.as_f64() <= 240.0));
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
        bit_rate: u64::try_from(stream.parameters().bit_rate()).ok().filter(|rate| *rate > 0),
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

pub(super) fn audio_stream_info(stream: &ffmpeg::format::stream::Stream) -> Option<AudioStreamInfo> {
    let parameters = stream.parameters();
    let raw = ffi::raw_parameters(&parameters);
    let decoder = ffmpeg::codec::context::Context::from_parameters(parameters).ok()?.decoder().audio().ok()?;
    let codec = decoder.codec().map_or_else(|| format!("{:?}", decoder.id()), |codec| codec.name().to_owned());
    Some(AudioStreamInfo {
        index: stream.index(),
        codec: canonical_codec_name(&codec),
        channels: raw.channels,
        channel_layout: raw.channel_layout,
        sample_rate: raw.sample_rate,
        language: tag(stream, "language"),
        title: tag(stream, "title"),
        default: stream.disposition().contains(Disposition::DEFAULT),
        bit_rate: u64::try_from(stream.parameters().bit_rate()).ok().filter(|rate| *rate > 0),
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
        // `av_display_rotation_get` returns the counter-clockwise angle, computed as
        // -atan2(b, a); the clockwise turn a player must apply is therefore atan2(b, a). An
        // upright iPhone recording (ffprobe: "rotation of -90.00 degrees") gives 90 here.
        Some((b / scale_y).atan2(a / scale_x).to_degrees())
    });
    let degrees = from_matrix.or_else(|| tag(stream, "rotate").and_then(|value| value.parse::<f64>().ok()));
    normalise_rotation(degrees.unwrap_or(0.0))
}

/// Rounds to the nearest quarter turn in 0..360.
fn normalise_rotation(degrees: f64) -> u16 {
    let quarter_turns = (degrees / 90.0).round().rem_euclid(4.0);
    // The value is 0, 1, 2 or 3 by construction, so the conversion cannot truncate.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let quarter_turns = quarter_turns as u16;
    quarter_turns * 90
}

#[cfg(test)]
mod tests {
    use super::normalise_rotation;

    #[test]
    fn rotations_round_to_clockwise_quarter_turns() {
        assert_eq!(normalise_rotation(90.0), 90);
        assert_eq!(normalise_rotation(-90.0), 270);
        assert_eq!(normalise_rotation(-180.0), 180);
        assert_eq!(normalise_rotation(270.4), 270);
        assert_eq!(normalise_rotation(359.9), 0);
        assert_eq!(normalise_rotation(450.0), 90);
    }
}
