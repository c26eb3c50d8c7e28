//! Per-session manifests: the package's own HLS playlists, MPD and storyboard VTT (written by
//! `pipelines`, with relative URIs) rewritten so that every child URI carries the session.
//!
//! - a media playlist referenced by a master playlist goes to the API's `/play/{session}/…`
//!   route, so it too is checked and rewritten per request;
//! - everything else (init and media segments, storyboard sheets) goes to the CDN with the
//!   session's one signed query string appended.
//!
//! The rewriting is textual and keeps every other byte of the manifest, so what `pipelines`
//! wrote (and its snapshot tests pin) is what players read, except for the URIs. Pure functions,
//! no IO.

/// Where the children of one session's manifests point.
#[derive(Debug, Clone)]
pub struct Links {
    /// `{public_url}/play/{session_id}`, no trailing slash.
    pub play_base: String,
    /// `{cdn_base}/assets/{asset_id}/v{version}`, no trailing slash.
    pub object_base: String,
    /// The session's signed query (`Policy=…&Signature=…&Key-Pair-Id=…`); empty when the
    /// signature travels in cookies instead.
    pub query: String,
    /// Appended to `/play` URLs (`?cookies=1` keeps child playlists in the cookie variant).
    pub play_suffix: String,
}

impl Links {
    /// The URL a player should fetch for `path` (relative to the version's prefix).
    fn url_for(&self, path: &str) -> String {
        if path.ends_with(".m3u8") {
            format!("{}/{path}{}", self.play_base, self.play_suffix)
        } else if self.query.is_empty() {
            format!("{}/{path}", self.object_base)
        } else {
            format!("{}/{path}?{}", self.object_base, self.query)
        }
    }

    /// The rewritten form of `uri` found in the manifest at `manifest_path`; absolute URIs and
    /// paths that would leave the version's prefix are kept as they are (the signature could not
    /// cover them anyway).
    fn rewrite(&self, manifest_path: &str, uri: &str) -> String {
        match resolve(manifest_path, uri) {
            Some(path) => self.url_for(&path),
            None => uri.to_owned(),
        }
    }
}

/// `uri` resolved against the directory of `manifest_path`, both relative to the version's
/// prefix; `None` for absolute URIs and for `..` that climbs out of the prefix.
pub fn resolve(manifest_path: &str, uri: &str) -> Option<String> {
    if uri.is_empty() || uri.contains("://") || uri.starts_with('/') || uri.starts_with("data:") {
        return None;
    }
    let mut parts: Vec<&str> = manifest_path.split('/').collect();
    parts.pop();
    for segment in uri.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

/// An HLS playlist (master or media) at `manifest_path` with every URI line and every
/// `URI="…"` attribute rewritten.
pub fn rewrite_hls(text: &str, manifest_path: &str, links: &Links) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            out.push_str(line);
        } else if trimmed.starts_with('#') {
            out.push_str(&rewrite_uri_attribute(line, manifest_path, links));
        } else {
            out.push_str(&links.rewrite(manifest_path, trimmed));
        }
        out.push('\n');
    }
    out
}

/// The `URI="…"` attribute of a tag line (`EXT-X-MAP`, `EXT-X-MEDIA`, `EXT-X-I-FRAME-STREAM-INF`),
/// rewritten; other lines unchanged.
fn rewrite_uri_attribute(line: &str, manifest_path: &str, links: &Links) -> String {
    const ATTRIBUTE: &str = "URI=\"";
    let Some(start) = line.find(ATTRIBUTE).map(|at| at + ATTRIBUTE.len()) else { return line.to_owned() };
    let Some(length) = line[start..].find('"') else { return line.to_owned() };
    let uri = &line[start..start + length];
    format!("{}{}{}", &line[..start], links.rewrite(manifest_path, uri), &line[start + length..])
}

/// An MPD with the `initialization`, `media` and `sourceURL` attributes made absolute and
/// signed. The query is appended after the template (`seg_$Number%05d$.m4s?Policy=…`), where
/// players substitute only `$…$` identifiers, and its `&` are escaped for XML.
pub fn rewrite_dash(text: &str, links: &Links) -> String {
    let mut out = text.to_owned();
    for attribute in [" initialization=\"", " media=\"", " sourceURL=\""] {
        out = rewrite_xml_attribute(&out, attribute, links);
    }
    out
}

fn rewrite_xml_attribute(text: &str, attribute: &str, links: &Links) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut rest = text;
    while let Some(at) = rest.find(attribute) {
        let start = at + attribute.len();
        let Some(length) = rest[start..].find('"') else { break };
        let uri = rest[start..start + length].replace("&amp;", "&");
        out.push_str(&rest[..start]);
        out.push_str(&links.rewrite("manifest.mpd", &uri).replace('&', "&amp;"));
        rest = &rest[start + length..];
    }
    out.push_str(rest);
    out
}

/// A WebVTT storyboard: the payload line after each cue timing (`sheet.jpg#xywh=…`) points at the
/// signed sheet, keeping the media fragment after the query.
pub fn rewrite_vtt(text: &str, manifest_path: &str, links: &Links) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    let mut after_timing = false;
    for line in text.lines() {
        if after_timing && !line.trim().is_empty() {
            let (uri, fragment) = match line.trim().split_once('#') {
                Some((uri, fragment)) => (uri, Some(fragment)),
                None => (line.trim(), None),
            };
            out.push_str(&links.rewrite(manifest_path, uri));
            if let Some(fragment) = fragment {
                out.push('#');
                out.push_str(fragment);
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
        after_timing = line.contains("-->");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Links {
        Links {
            play_base: "https://api.example/play/S".to_owned(),
            object_base: "https://cdn.example/assets/A/v1".to_owned(),
            query: "Policy=P&Signature=X&Key-Pair-Id=K".to_owned(),
            play_suffix: String::new(),
        }
    }

    #[test]
    fn in_the_cookie_variant_segments_are_unsigned_and_playlists_stay_in_it() {
        let links = Links { query: String::new(), play_suffix: "?cookies=1".to_owned(), ..links() };
        let master = rewrite_hls("#EXTM3U\n360p/playlist.m3u8\n", "master.m3u8", &links);
        assert_eq!(master, "#EXTM3U\nhttps://api.example/play/S/360p/playlist.m3u8?cookies=1\n");
        let media = rewrite_hls("#EXTM3U\nseg_00001.m4s\n", "360p/playlist.m3u8", &links);
        assert_eq!(media, "#EXTM3U\nhttps://cdn.example/assets/A/v1/360p/seg_00001.m4s\n");
    }

    #[test]
    fn paths_resolve_against_the_manifests_directory_and_never_leave_the_prefix() {
        assert_eq!(resolve("master.m3u8", "720p/playlist.m3u8").as_deref(), Some("720p/playlist.m3u8"));
        assert_eq!(resolve("720p/playlist.m3u8", "seg_00001.m4s").as_deref(), Some("720p/seg_00001.m4s"));
        assert_eq!(resolve("720p/playlist.m3u8", "../images/a.jpg").as_deref(), Some("images/a.jpg"));
        assert_eq!(resolve("master.m3u8", "../../x"), None);
        assert_eq!(resolve("master.m3u8", "https://elsewhere/x.m4s"), None);
        assert_eq!(resolve("master.m3u8", "/abs.m4s"), None);
    }

    #[test]
    fn a_master_playlist_sends_media_playlists_to_the_session_route() {
        let master = "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,URI=\"audio/playlist.m3u8\",GROUP-ID=\"aac\",NAME=\"Audio\"\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"aac\"\n360p/playlist.m3u8\n";
        let rewritten = rewrite_hls(master, "master.m3u8", &links());
        assert_eq!(
            rewritten,
            "#EXTM3U\n#EXT-X-MEDIA:TYPE=AUDIO,URI=\"https://api.example/play/S/audio/playlist.m3u8\",GROUP-ID=\"aac\",NAME=\"Audio\"\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO=\"aac\"\nhttps://api.example/play/S/360p/playlist.m3u8\n"
        );
    }

    #[test]
    fn a_media_playlist_signs_its_init_and_media_segments() {
        let media = "#EXTM3U\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:4.000000,\nseg_00001.m4s\n#EXT-X-ENDLIST\n";
        let rewritten = rewrite_hls(media, "360p/playlist.m3u8", &links());
        assert_eq!(
            rewritten,
            "#EXTM3U\n#EXT-X-MAP:URI=\"https://cdn.example/assets/A/v1/360p/init.mp4?Policy=P&Signature=X&Key-Pair-Id=K\"\n#EXTINF:4.000000,\nhttps://cdn.example/assets/A/v1/360p/seg_00001.m4s?Policy=P&Signature=X&Key-Pair-Id=K\n#EXT-X-ENDLIST\n"
        );
    }

    #[test]
    fn an_mpd_gets_absolute_signed_templates_with_escaped_ampersands() {
        let mpd = r#"<MPD mediaPresentationDuration="PT5S"><SegmentTemplate timescale="90000" initialization="360p/init.mp4" media="360p/seg_$Number%05d$.m4s" startNumber="1"/></MPD>"#;
        let rewritten = rewrite_dash(mpd, &links());
        assert_eq!(
            rewritten,
            r#"<MPD mediaPresentationDuration="PT5S"><SegmentTemplate timescale="90000" initialization="https://cdn.example/assets/A/v1/360p/init.mp4?Policy=P&amp;Signature=X&amp;Key-Pair-Id=K" media="https://cdn.example/assets/A/v1/360p/seg_$Number%05d$.m4s?Policy=P&amp;Signature=X&amp;Key-Pair-Id=K" startNumber="1"/></MPD>"#
        );
    }

    #[test]
    fn a_storyboard_keeps_its_fragments_after_the_signed_query() {
        let vtt = "WEBVTT\n\n00:00:00.000 --> 00:00:05.000\nstoryboard_001.jpg#xywh=0,0,160,90\n";
        let rewritten = rewrite_vtt(vtt, "images/storyboard.vtt", &links());
        assert_eq!(
            rewritten,
            "WEBVTT\n\n00:00:00.000 --> 00:00:05.000\nhttps://cdn.example/assets/A/v1/images/storyboard_001.jpg?Policy=P&Signature=X&Key-Pair-Id=K#xywh=0,0,160,90\n"
        );
    }
}
