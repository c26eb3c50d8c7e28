//! Every path inside a package, in one place. The engine writes files under exactly these names
//! and the manifest writers refer to them, so neither side spells a path by hand.
//!
//! All paths are relative to the package root (`assets/{asset_id}/v{n}/` in storage), use `/`
//! as separator, and never start with `/`, so a package can be moved or served from any prefix.

/// The HLS master (multivariant) playlist.
pub const MASTER_PLAYLIST: &str = "master.m3u8";
/// The DASH manifest.
pub const DASH_MANIFEST: &str = "manifest.mpd";
/// The serialised [`crate::package::Package`], kept beside the media so manifests can be
/// rewritten (for example signed per playback session) without probing the segments again.
pub const PACKAGE_JSON: &str = "package.json";
/// The progressive MP4 for offline viewing, when the plan has a download rung.
pub const DOWNLOAD_MP4: &str = "download.mp4";

/// Folder of every still image.
pub const IMAGES_DIR: &str = "images";
pub const POSTER: &str = "images/poster.jpg";
pub const STORYBOARD_VTT: &str = "images/storyboard.vtt";

/// File name of a rendition's media playlist inside the rendition folder.
pub const MEDIA_PLAYLIST_FILE: &str = "playlist.m3u8";
/// File name of a rendition's CMAF init segment inside the rendition folder.
pub const INIT_SEGMENT_FILE: &str = "init.mp4";
/// Media segment file names inside the rendition folder, in DASH `SegmentTemplate` form.
/// `%05d` pads to five digits and, like `printf`, widens past 99999 rather than wrapping;
/// [`segment_file_name`] does the same.
pub const SEGMENT_TEMPLATE: &str = "seg_$Number%05d$.m4s";
/// Number of the first media segment. HLS `EXT-X-MEDIA-SEQUENCE` and DASH `startNumber` use
/// the same value, so segment `n` has one name and one sequence number in both manifests.
pub const FIRST_SEGMENT_NUMBER: u64 = 1;

/// `{rendition}/playlist.m3u8`.
pub fn media_playlist_path(rendition: &str) -> String {
    format!("{rendition}/{MEDIA_PLAYLIST_FILE}")
}

/// `{rendition}/init.mp4`.
pub fn init_segment_path(rendition: &str) -> String {
    format!("{rendition}/{INIT_SEGMENT_FILE}")
}

/// `seg_00001.m4s` for `number` 1: the file name inside the rendition folder.
pub fn segment_file_name(number: u64) -> String {
    format!("seg_{number:05}.m4s")
}

/// `{rendition}/seg_00001.m4s` for `number` 1.
pub fn segment_path(rendition: &str, number: u64) -> String {
    format!("{rendition}/{}", segment_file_name(number))
}

/// `images/thumb_00001.jpg` for the first thumbnail (`index` 0, taken at time 0).
pub fn thumbnail_path(index: usize) -> String {
    format!("{IMAGES_DIR}/thumb_{:05}.jpg", index + 1)
}

/// `storyboard_001.jpg` for the first sheet (`sheet` 0): the file name inside `images/`,
/// which is also how the storyboard VTT (itself in `images/`) refers to it.
pub fn storyboard_sheet_file_name(sheet: usize) -> String {
    format!("storyboard_{:03}.jpg", sheet + 1)
}

/// `images/storyboard_001.jpg` for the first sheet (`sheet` 0).
pub fn storyboard_sheet_path(sheet: usize) -> String {
    format!("{IMAGES_DIR}/{}", storyboard_sheet_file_name(sheet))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendition_paths_live_in_the_rendition_folder() {
        assert_eq!(media_playlist_path("720p"), "720p/playlist.m3u8");
        assert_eq!(init_segment_path("audio_eng"), "audio_eng/init.mp4");
        assert_eq!(segment_path("720p", 1), "720p/seg_00001.m4s");
    }

    #[test]
    fn segment_file_names_match_the_dash_template() {
        for number in [1, 42, 99_999, 123_456] {
            let from_template = SEGMENT_TEMPLATE.replace("$Number%05d$", &format!("{number:05}"));
            assert_eq!(segment_file_name(number), from_template);
        }
    }

    #[test]
    fn image_paths_count_from_one() {
        assert_eq!(thumbnail_path(0), "images/thumb_00001.jpg");
        assert_eq!(storyboard_sheet_path(0), "images/storyboard_001.jpg");
        assert_eq!(storyboard_sheet_file_name(11), "storyboard_012.jpg");
    }
}
