//! The assets API's JSON: how an `asset` row (and the probe result stored in it) is shown.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::assets::{AssetRow, AssetStatus};

/// An asset as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AssetView {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub passthrough: Option<String>,
    pub status: AssetStatus,
    /// The original: size and SHA-256 once uploaded; container, duration and streams once probed.
    pub source: Option<SourceView>,
    /// Why the asset is `errored`.
    pub error: Option<AssetErrorView>,
    /// True once a version can be played.
    pub playable: bool,
    /// While a transcode runs: its progress (0–1) and estimated seconds left.
    pub progress: Option<f32>,
    pub eta_seconds: Option<i32>,
    /// The published version learners are served.
    pub current_version: Option<i32>,
    /// What the current version is: `preview` (the fast first package, the source's own
    /// streams copied while the ladder is made; the asset is still `processing`) or `full`.
    pub current_version_kind: Option<super::versions::VersionKind>,
    /// The renditions of the current version: video highest first, then audio.
    pub renditions: Vec<RenditionView>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[derive(Debug, Default, Serialize, Deserialize, ToSchema)]
pub struct SourceView {
    pub size: Option<u64>,
    /// Hex SHA-256 of the original, computed while it was uploaded.
    pub sha256: Option<String>,
    #[schema(example = "mov,mp4,m4a,3gp,3g2,mj2")]
    pub container: Option<String>,
    /// Seconds.
    pub duration: Option<f64>,
    pub streams: Vec<StreamView>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StreamView {
    /// `video` or `audio`.
    pub kind: String,
    pub codec: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Shape as shown (pixel aspect and rotation applied), e.g. `16:9`.
    pub display_aspect: Option<String>,
    /// Clockwise degrees a player turns the picture.
    pub rotation: Option<u16>,
    pub frame_rate: Option<f64>,
    pub channels: Option<u16>,
    pub language: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RenditionView {
    #[schema(example = "720p")]
    pub name: String,
    /// `video` or `audio`.
    pub kind: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
    pub frame_rate: Option<f64>,
    /// Peak bits per second (HLS `BANDWIDTH`).
    pub bandwidth: i64,
    #[schema(example = "avc1.64001f")]
    pub codecs: String,
    /// Seconds.
    pub duration: f64,
    /// True for the rendition of a fast first package: the upload's own stream, copied.
    pub preview: bool,
}

impl From<&super::versions::RenditionRow> for RenditionView {
    fn from(row: &super::versions::RenditionRow) -> Self {
        Self {
            name: row.name.clone(),
            kind: row.kind.clone(),
            width: row.width,
            height: row.height,
            frame_rate: row.frame_rate,
            bandwidth: row.bandwidth,
            codecs: row.codecs.clone(),
            duration: row.duration_seconds,
            preview: false,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AssetErrorView {
    #[schema(example = "not_a_media_file")]
    pub code: String,
    pub message: String,
}

/// Where to send the original.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UploadLinks {
    /// tus 1.0 creation endpoint; name the asset in `Upload-Metadata: asset_id <base64>`.
    pub tus_url: String,
    pub multipart: MultipartLinks,
    /// An upload started now can be resumed until then.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MultipartLinks {
    /// Starts a direct-to-storage multipart upload.
    pub init_url: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct CreatedAsset {
    #[serde(flatten)]
    pub asset: AssetView,
    pub upload: UploadLinks,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AssetList {
    pub assets: Vec<AssetView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl AssetView {
    pub fn from_row(row: &AssetRow) -> Self {
        let source = source_view(row);
        let error = row
            .error_code
            .as_ref()
            .map(|code| AssetErrorView { code: code.clone(), message: row.error_message.clone().unwrap_or_default() });
        Self {
            id: row.asset_id,
            title: row.title.clone(),
            description: row.description.clone(),
            passthrough: row.passthrough.clone(),
            status: row.status(),
            source,
            error,
            playable: row.playable,
            progress: row.progress,
            eta_seconds: row.eta_seconds,
            current_version: row.current_version,
            current_version_kind: None,
            renditions: Vec::new(),
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl AssetView {
    /// [`Self::from_row`] with the current version's renditions.
    pub async fn load(pool: &sqlx::PgPool, row: &AssetRow) -> Result<Self, super::MediaError> {
        let mut view = Self::from_row(row);
        if let Some(version) = row.current_version {
            let kind = super::versions::kind(pool, row.id(), version).await?;
            let preview = kind == Some(super::versions::VersionKind::Preview);
            view.current_version_kind = kind;
            view.renditions = super::versions::renditions(pool, row.id(), version)
                .await?
                .iter()
                .map(|row| RenditionView { preview, ..RenditionView::from(row) })
                .collect();
        }
        Ok(view)
    }
}

/// Shapes the stored probe result (`pipelines`' `SourceInfo`) for the API.
fn source_view(row: &AssetRow) -> Option<SourceView> {
    if row.source_size.is_none() && row.source.is_none() {
        return None;
    }
    let mut view = SourceView {
        size: row.source_size.and_then(|size| u64::try_from(size).ok()),
        sha256: row.source_sha256.clone(),
        ..SourceView::default()
    };
    let probed = row
        .source
        .as_ref()
        .and_then(|value| serde_json::from_value::<pipelines::source::SourceInfo>(value.clone()).ok());
    if let Some(info) = probed {
        view.container = Some(info.container);
        view.duration = info.duration_seconds;
        view.size = view.size.or(Some(info.size_bytes));
        for video in &info.video {
            let (width, height) = video.display_size();
            view.streams.push(StreamView {
                kind: "video".to_owned(),
                codec: video.codec.clone(),
                width: Some(video.width),
                height: Some(video.height),
                display_aspect: aspect_ratio(width, height),
                rotation: Some(video.rotation_degrees),
                frame_rate: video.frame_rate.map(|rate| (rate.as_f64() * 1000.0).round() / 1000.0),
                channels: None,
                language: video.language.clone(),
            });
        }
        for audio in &info.audio {
            view.streams.push(StreamView {
                kind: "audio".to_owned(),
                codec: audio.codec.clone(),
                width: None,
                height: None,
                display_aspect: None,
                rotation: None,
                frame_rate: None,
                channels: Some(audio.channels),
                language: audio.language.clone(),
            });
        }
    }
    Some(view)
}

/// `16:9` for 1920×1080; the reduced fraction of the rounded display size.
fn aspect_ratio(width: f64, height: f64) -> Option<String> {
    if !(width >= 1.0 && height >= 1.0 && width < 1e6 && height < 1e6) {
        return None;
    }
    let (w, h) = (width.round() as u64, height.round() as u64);
    let mut a = w;
    let mut b = h;
    while b != 0 {
        (a, b) = (b, a % b);
    }
    Some(format!("{}:{}", w / a, h / a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aspect_ratios_are_reduced_fractions() {
        assert_eq!(aspect_ratio(1920.0, 1080.0).as_deref(), Some("16:9"));
        assert_eq!(aspect_ratio(1080.0, 1920.0).as_deref(), Some("9:16"));
        assert_eq!(aspect_ratio(640.0, 480.0).as_deref(), Some("4:3"));
        assert_eq!(aspect_ratio(0.0, 480.0), None);
    }
}
