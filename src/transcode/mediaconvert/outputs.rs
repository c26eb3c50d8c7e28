//! Reading back what a finished job wrote: the destination prefix is listed through the
//! [`ObjectStore`] and the HLS master playlist parsed for each rendition's figures, so the
//! renditions can be registered like the local engine's package.

use futures::StreamExt;
use m3u8_rs::AlternativeMediaType;

use super::MediaConvertError;
use super::job::{MANIFEST_BASE_NAME, THUMBNAIL_BASE_NAME};
use crate::storage::{KeyPrefix, ObjectKey, ObjectStore};
use crate::transcode::{Rendition, RenditionKind, TranscodeOutput};

/// A master playlist larger than this is not one MediaConvert wrote for a course video.
const MAX_MASTER_PLAYLIST_BYTES: usize = 1024 * 1024;

/// Lists `prefix` and reads its master playlist.
pub async fn read_outputs(store: &dyn ObjectStore, prefix: &KeyPrefix) -> Result<TranscodeOutput, MediaConvertError> {
    let objects = store.list(prefix).await?;
    let master_name = format!("{}{MANIFEST_BASE_NAME}.m3u8", prefix.as_str());
    let dash_name = format!("{}{MANIFEST_BASE_NAME}.mpd", prefix.as_str());
    let thumbnail_start = format!("{}{THUMBNAIL_BASE_NAME}", prefix.as_str());
    let master_playlist = objects
        .iter()
        .find(|object| object.key.as_str() == master_name)
        .map(|object| object.key.clone())
        .ok_or_else(|| MediaConvertError::Manifest { key: master_name.clone(), reason: "not found".to_owned() })?;
    let dash_manifest = objects.iter().find(|object| object.key.as_str() == dash_name).map(|object| object.key.clone());
    let thumbnails = objects
        .iter()
        .filter(|object| object.key.as_str().starts_with(&thumbnail_start) && object.key.as_str().ends_with(".jpg"))
        .map(|object| object.key.clone())
        .collect();
    let total_bytes = objects.iter().map(|object| object.size).sum();

    let text = read_small(store, &master_playlist).await?;
    let renditions = parse_master(&text, prefix, &master_playlist)?;
    for rendition in &renditions {
        if !objects.iter().any(|object| object.key == rendition.playlist) {
            return Err(MediaConvertError::Manifest {
                key: master_playlist.to_string(),
                reason: format!("it names {}, which the job did not write", rendition.playlist),
            });
        }
    }
    Ok(TranscodeOutput { master_playlist, dash_manifest, renditions, thumbnails, total_bytes, duration_seconds: None })
}

async fn read_small(store: &dyn ObjectStore, key: &ObjectKey) -> Result<Vec<u8>, MediaConvertError> {
    let mut body = store.get(key, None).await?;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.stream.next().await {
        bytes.extend_from_slice(&chunk?);
        if bytes.len() > MAX_MASTER_PLAYLIST_BYTES {
            return Err(MediaConvertError::Manifest { key: key.to_string(), reason: "larger than 1 MiB".to_owned() });
        }
    }
    Ok(bytes)
}

/// The renditions of a master playlist, with URIs resolved against `prefix` (MediaConvert
/// writes them relative to the master, which sits directly under the prefix).
fn parse_master(text: &[u8], prefix: &KeyPrefix, master: &ObjectKey) -> Result<Vec<Rendition>, MediaConvertError> {
    let invalid = |reason: String| MediaConvertError::Manifest { key: master.to_string(), reason };
    let playlist =
        m3u8_rs::parse_master_playlist_res(text).map_err(|e| invalid(format!("not an HLS master playlist ({e})")))?;
    let resolve = |uri: &str| {
        if uri.contains("://") || uri.starts_with('/') {
            return Err(invalid(format!("rendition URI {uri:?} is not relative")));
        }
        ObjectKey::parse(format!("{}{uri}", prefix.as_str()))
            .map_err(|e| invalid(format!("rendition URI {uri:?}: {e}")))
    };
    let mut video: Vec<Rendition> = Vec::new();
    let mut audio_variants: Vec<Rendition> = Vec::new();
    for variant in playlist.variants.iter().filter(|variant| !variant.is_i_frame) {
        let playlist = resolve(&variant.uri)?;
        // An audio-only package lists its audio as variants: no picture, no resolution.
        if variant.resolution.is_none() {
            audio_variants.push(Rendition {
                name: rendition_name(&variant.uri),
                playlist,
                kind: RenditionKind::Audio {
                    language: None,
                    label: rendition_name(&variant.uri),
                    default: audio_variants.is_empty(),
                    bandwidth: Some(variant.bandwidth),
                    codecs: variant.codecs.clone(),
                },
            });
            continue;
        }
        video.push(Rendition {
            name: rendition_name(&variant.uri),
            playlist,
            kind: RenditionKind::Video {
                bandwidth: variant.bandwidth,
                average_bandwidth: variant.average_bandwidth,
                codecs: variant.codecs.clone(),
                width: variant.resolution.map(|resolution| resolution.width),
                height: variant.resolution.map(|resolution| resolution.height),
                frame_rate: variant.frame_rate,
            },
        });
    }
    video.sort_by_key(|rendition| match rendition.kind {
        RenditionKind::Video { bandwidth, .. } => std::cmp::Reverse(bandwidth),
        // Only variants are in this list; audio alternatives are added below.
        RenditionKind::Audio { .. } => std::cmp::Reverse(0),
    });
    let mut renditions = video;
    renditions.extend(audio_variants);
    for media in playlist.alternatives.iter().filter(|media| media.media_type == AlternativeMediaType::Audio) {
        let Some(uri) = &media.uri else { continue };
        if renditions.iter().any(|known| known.playlist.as_str().ends_with(uri.as_str())) {
            continue;
        }
        renditions.push(Rendition {
            name: rendition_name(uri),
            playlist: resolve(uri)?,
            kind: RenditionKind::Audio {
                language: media.language.clone(),
                label: media.name.clone(),
                default: media.default,
                bandwidth: None,
                codecs: None,
            },
        });
    }
    if renditions.is_empty() {
        return Err(invalid("it lists no renditions".to_owned()));
    }
    Ok(renditions)
}

/// `master_720p.m3u8` → `720p`: the name modifier the job gave the output.
fn rendition_name(uri: &str) -> String {
    let file = uri.rsplit('/').next().unwrap_or(uri);
    let stem = file.strip_suffix(".m3u8").unwrap_or(file);
    let base = format!("{MANIFEST_BASE_NAME}_");
    stem.strip_prefix(&base).unwrap_or(stem).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendition_names_are_the_output_name_modifiers() {
        assert_eq!(rendition_name("master_720p.m3u8"), "720p");
        assert_eq!(rendition_name("master_audio_eng.m3u8"), "audio_eng");
        assert_eq!(rendition_name("other.m3u8"), "other");
    }

    #[test]
    fn absolute_rendition_uris_are_refused() {
        let prefix = KeyPrefix::parse("assets/a/v1/").expect("valid");
        let master = ObjectKey::parse("assets/a/v1/master.m3u8").expect("valid");
        let text = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nhttps://elsewhere.example/x.m3u8\n";
        assert!(matches!(parse_master(text, &prefix, &master), Err(MediaConvertError::Manifest { .. })));
    }
}

#[cfg(test)]
mod audio_only_tests {
    use super::*;

    #[test]
    fn an_audio_only_master_lists_its_variants_as_audio() {
        let prefix = KeyPrefix::parse("assets/a/v1/").expect("valid");
        let master = ObjectKey::parse("assets/a/v1/master.m3u8").expect("valid");
        let text = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=140000,CODECS=\"mp4a.40.2\"\nmaster_audio.m3u8\n";
        let renditions = parse_master(text, &prefix, &master).expect("parses");
        assert_eq!(renditions.len(), 1);
        assert_eq!(renditions[0].name, "audio");
        assert!(matches!(renditions[0].kind, RenditionKind::Audio { default: true, .. }));
    }
}
