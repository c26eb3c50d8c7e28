//! Media types derived from key extensions, shared by the local backend (which stores no
//! metadata), the S3 backend (when a caller gives no type) and the delivery code.

use super::ObjectKey;

/// The media type players and browsers expect for an object, from its extension
/// (case-insensitive); `application/octet-stream` when the extension is unknown.
pub fn content_type_for(key: &ObjectKey) -> &'static str {
    let extension = key.file_name().rsplit_once('.').map(|(_, extension)| extension).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "m3u8" => "application/vnd.apple.mpegurl",
        "mpd" => "application/dash+xml",
        "mp4" => "video/mp4",
        "m4s" => "video/iso.segment",
        "m4a" => "audio/mp4",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "vtt" => "text/vtt",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn type_of(key: &str) -> &'static str {
        content_type_for(&ObjectKey::parse(key).expect("test keys are valid"))
    }

    #[test]
    fn streaming_extensions_map_to_the_types_players_expect() {
        assert_eq!(type_of("a/master.m3u8"), "application/vnd.apple.mpegurl");
        assert_eq!(type_of("a/manifest.mpd"), "application/dash+xml");
        assert_eq!(type_of("a/720p/seg_00001.m4s"), "video/iso.segment");
        assert_eq!(type_of("a/init.mp4"), "video/mp4");
        assert_eq!(type_of("a/audio.M4A"), "audio/mp4");
        assert_eq!(type_of("a/poster.JPG"), "image/jpeg");
        assert_eq!(type_of("a/captions.vtt"), "text/vtt");
    }

    #[test]
    fn unknown_or_missing_extensions_are_octet_streams() {
        assert_eq!(type_of("a/source"), "application/octet-stream");
        assert_eq!(type_of("a.b/source"), "application/octet-stream");
        assert_eq!(type_of("a/source.mkv"), "application/octet-stream");
    }
}
