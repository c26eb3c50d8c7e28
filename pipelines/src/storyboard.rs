//! Thumbnails and storyboards: which instants to grab, where each tile sits on which sprite
//! sheet, and the WebVTT file players (Video.js, Plyr, Shaka, hls.js UIs) read for seek
//! previews. The engine grabs and lays out images exactly as these functions say.

use serde::{Deserialize, Serialize};

use crate::naming;
use crate::plan::ImagePlan;

/// One storyboard tile: the time span it previews and its rectangle on a sheet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoryboardTile {
    /// Tile number from 0; also the number of the thumbnail taken at `start_seconds`.
    pub index: usize,
    pub start_seconds: f64,
    pub end_seconds: f64,
    /// Sheet number from 0; the file is [`naming::storyboard_sheet_path`].
    pub sheet: usize,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// The instants, in seconds, at which thumbnails (and storyboard tiles) are taken: 0, then
/// every `thumbnail_interval_seconds` while still inside the duration. Thumbnail `k` is saved
/// as [`naming::thumbnail_path`]`(k)`. An unknown or non-positive duration yields nothing.
pub fn thumbnail_times(duration_seconds: f64, images: &ImagePlan) -> Vec<f64> {
    let interval = f64::from(images.thumbnail_interval_seconds.max(1));
    if !duration_seconds.is_finite() || duration_seconds <= 0.0 {
        return Vec::new();
    }
    (0..).map(|k| f64::from(k) * interval).take_while(|start| *start < duration_seconds).collect()
}

/// Lays tiles out row by row, `storyboard_columns` × `storyboard_rows` per sheet. Tile `k`
/// covers `[k·interval, min((k+1)·interval, duration))`.
pub fn tile_layout(duration_seconds: f64, images: &ImagePlan) -> Vec<StoryboardTile> {
    let interval = f64::from(images.thumbnail_interval_seconds.max(1));
    let columns = images.storyboard_columns.max(1) as usize;
    let per_sheet = columns * images.storyboard_rows.max(1) as usize;
    let (tile_width, tile_height) = images.storyboard_tile_size();
    thumbnail_times(duration_seconds, images)
        .into_iter()
        .enumerate()
        .map(|(index, start_seconds)| {
            let column = (index % columns) as u32;
            let row = ((index % per_sheet) / columns) as u32;
            StoryboardTile {
                index,
                start_seconds,
                end_seconds: (start_seconds + interval).min(duration_seconds),
                sheet: index / per_sheet,
                x: column * tile_width,
                y: row * tile_height,
                width: tile_width,
                height: tile_height,
            }
        })
        .collect()
}

/// Number of sprite sheets the tiles fill.
pub fn sheet_count(tiles: &[StoryboardTile]) -> usize {
    tiles.last().map_or(0, |tile| tile.sheet + 1)
}

/// Pixel size of one sheet: just large enough for its tiles, so the last sheet of a short
/// video is smaller than a full grid. Players only read the tile rectangles, so that is safe.
pub fn sheet_size(tiles: &[StoryboardTile], sheet: usize) -> (u32, u32) {
    tiles
        .iter()
        .filter(|tile| tile.sheet == sheet)
        .fold((0, 0), |(width, height), tile| (width.max(tile.x + tile.width), height.max(tile.y + tile.height)))
}

/// `hh:mm:ss.mmm`, the WebVTT timestamp form (hours may exceed 99).
fn timestamp(seconds: f64) -> String {
    let millis = (seconds.max(0.0) * 1000.0).round() as u64;
    let (hours, rest) = (millis / 3_600_000, millis % 3_600_000);
    let (minutes, rest) = (rest / 60_000, rest % 60_000);
    format!("{hours:02}:{minutes:02}:{:02}.{:03}", rest / 1000, rest % 1000)
}

/// The storyboard WebVTT, saved at [`naming::STORYBOARD_VTT`]. Cue payloads refer to sheets
/// relative to the VTT's own folder (`storyboard_001.jpg#xywh=0,0,160,90`), so the file works
/// wherever the package is served from.
pub fn webvtt(tiles: &[StoryboardTile]) -> String {
    let mut vtt = String::from("WEBVTT\n");
    for tile in tiles {
        vtt.push_str(&format!(
            "\n{} --> {}\n{}#xywh={},{},{},{}\n",
            timestamp(tile.start_seconds),
            timestamp(tile.end_seconds),
            naming::storyboard_sheet_file_name(tile.sheet),
            tile.x,
            tile.y,
            tile.width,
            tile.height,
        ));
    }
    vtt
}

#[cfg(test)]
mod tests;
