//! Poster, thumbnails and storyboard tiles: fixed widths from the preset, heights from the
//! picture's display aspect, so a portrait lesson gets portrait thumbnails.

use super::geometry;
use crate::plan::ImagePlan;
use crate::preset::ImagePreset;

/// The aspect assumed when there is no picture (audio-only), so the plan stays complete; the
/// engine makes no images then.
const NO_PICTURE: (f64, f64) = (1920.0, 1080.0);

/// An even height for `width` at the display aspect.
fn height_for_width(display: (f64, f64), width: u32) -> u32 {
    geometry::even_at_most(f64::from(width) * display.1 / display.0, f64::INFINITY)
}

pub fn plan(display: Option<(f64, f64)>, preset: &ImagePreset) -> ImagePlan {
    let (poster_width, poster_height) = match display {
        Some(display) => {
            let lines = preset.poster_lines.min(geometry::source_lines(display));
            geometry::size_for_lines(display, lines)
        }
        None => geometry::size_for_lines(NO_PICTURE, preset.poster_lines),
    };
    let display = display.unwrap_or(NO_PICTURE);
    ImagePlan {
        poster_width,
        poster_height,
        thumbnail_interval_seconds: preset.thumbnail_interval_seconds,
        thumbnail_width: preset.thumbnail_width,
        thumbnail_height: height_for_width(display, preset.thumbnail_width),
        storyboard_columns: preset.storyboard_columns,
        storyboard_rows: preset.storyboard_rows,
        storyboard_tile_width: preset.storyboard_tile_width,
        storyboard_tile_height: height_for_width(display, preset.storyboard_tile_width),
    }
}
