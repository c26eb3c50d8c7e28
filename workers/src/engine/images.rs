//! Poster, thumbnails and storyboard sprite sheets, encoded as JPEG with FFmpeg's `mjpeg`
//! encoder from frames the video graph already scaled (one decode serves everything).

use std::path::{Path, PathBuf};

use ffmpeg::{Packet, Rational, codec, encoder, format, frame};
use ffmpeg_next as ffmpeg;
use pipelines::plan::ImagePlan;

use super::{EngineError, ffmpeg_error};

pub const IMAGES_DIR: &str = "images";
pub const POSTER_FILE: &str = "poster.jpg";

/// A JPEG encoder for one picture size; every packet it returns is a complete JPEG file.
struct JpegEncoder {
    encoder: encoder::Video,
    packet: Packet,
    next_pts: i64,
}

impl JpegEncoder {
    fn open(width: u32, height: u32) -> Result<Self, EngineError> {
        let context = format!("opening the JPEG encoder for {width}x{height}");
        let codec = encoder::find(codec::Id::MJPEG)
            .ok_or_else(|| EngineError::Ffmpeg { context: context.clone(), source: ffmpeg::Error::EncoderNotFound })?;
        let mut video =
            codec::context::Context::new_with_codec(codec).encoder().video().map_err(ffmpeg_error(&context))?;
        video.set_width(width);
        video.set_height(height);
        video.set_format(format::Pixel::YUVJ420P);
        video.set_time_base(Rational::new(1, 25));
        video.set_color_range(ffmpeg::color::Range::JPEG);
        // Fixed quantiser 3 (on FFmpeg's 2–31 scale): good-looking, small files.
        video.set_flags(codec::Flags::QSCALE);
        video.set_global_quality(3 * ffmpeg::ffi::FF_QP2LAMBDA);
        let encoder = video.open_as(codec).map_err(ffmpeg_error(&context))?;
        Ok(Self { encoder, packet: Packet::empty(), next_pts: 0 })
    }

    fn write(&mut self, picture: &mut frame::Video, path: &Path) -> Result<(), EngineError> {
        picture.set_pts(Some(self.next_pts));
        self.next_pts += 1;
        self.encoder.send_frame(picture).map_err(ffmpeg_error(format!("encoding {}", path.display())))?;
        self.encoder.receive_packet(&mut self.packet).map_err(ffmpeg_error(format!("encoding {}", path.display())))?;
        let bytes = self.packet.data().unwrap_or_default();
        std::fs::write(path, bytes)
            .map_err(|source| EngineError::Io { context: format!("writing {}", path.display()), source })
    }
}

pub struct ImageWriter {
    dir: PathBuf,
    plan: ImagePlan,
    thumbnails: JpegEncoder,
    sheets: JpegEncoder,
    posters: JpegEncoder,
    sheet: frame::Video,
    /// Storyboard tiles are usually smaller than thumbnails: a scaler and a tile-sized frame,
    /// made on the first thumbnail (when the picture format is known) and reused after.
    tile_scaler: Option<(ffmpeg::software::scaling::Context, frame::Video)>,
    n_thumbnails: u32,
    best_poster: Option<(f64, frame::Video)>,
    pub poster_written: bool,
}

impl ImageWriter {
    pub fn new(out_dir: &Path, plan: &ImagePlan) -> Result<Self, EngineError> {
        let dir = out_dir.join(IMAGES_DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|source| EngineError::Io { context: format!("creating {}", dir.display()), source })?;
        let (tile_width, tile_height) = plan.storyboard_tile_size();
        let sheet_width = tile_width * plan.storyboard_columns.max(1);
        let sheet_height = tile_height * plan.storyboard_rows.max(1);
        let mut sheet = frame::Video::new(format::Pixel::YUVJ420P, sheet_width, sheet_height);
        clear_to_black(&mut sheet);
        Ok(Self {
            thumbnails: JpegEncoder::open(plan.thumbnail_width, plan.thumbnail_height)?,
            sheets: JpegEncoder::open(sheet_width, sheet_height)?,
            posters: JpegEncoder::open(plan.poster_width, plan.poster_height)?,
            dir,
            plan: plan.clone(),
            sheet,
            tile_scaler: None,
            n_thumbnails: 0,
            best_poster: None,
            poster_written: false,
        })
    }

    fn tiles_per_sheet(&self) -> u32 {
        (self.plan.storyboard_columns * self.plan.storyboard_rows).max(1)
    }

    /// Writes `thumb_NNNNN.jpg` and places the tile in the current storyboard sheet.
    pub fn thumbnail(&mut self, picture: &mut frame::Video) -> Result<(), EngineError> {
        let number = self.n_thumbnails + 1;
        let path = self.dir.join(format!("thumb_{number:05}.jpg"));
        self.thumbnails.write(picture, &path)?;
        let tile = self.n_thumbnails % self.tiles_per_sheet();
        let columns = self.plan.storyboard_columns.max(1);
        let (tile_width, tile_height) = self.plan.storyboard_tile_size();
        let (x, y) = ((tile % columns) * tile_width, (tile / columns) * tile_height);
        if (tile_width, tile_height) == (picture.width(), picture.height()) {
            blit(picture, &mut self.sheet, x, y);
        } else {
            if self.tile_scaler.is_none() {
                let scaler = ffmpeg::software::scaling::Context::get(
                    picture.format(),
                    picture.width(),
                    picture.height(),
                    picture.format(),
                    tile_width,
                    tile_height,
                    ffmpeg::software::scaling::Flags::AREA,
                )
                .map_err(ffmpeg_error("creating the storyboard tile scaler"))?;
                self.tile_scaler = Some((scaler, frame::Video::new(picture.format(), tile_width, tile_height)));
            }
            if let Some((scaler, tile_frame)) = self.tile_scaler.as_mut() {
                scaler.run(picture, tile_frame).map_err(ffmpeg_error("scaling a storyboard tile"))?;
                blit(tile_frame, &mut self.sheet, x, y);
            }
        }
        self.n_thumbnails += 1;
        if self.n_thumbnails.is_multiple_of(self.tiles_per_sheet()) {
            self.write_sheet()?;
        }
        Ok(())
    }

    fn write_sheet(&mut self) -> Result<(), EngineError> {
        let sheet_number = self.n_thumbnails.div_ceil(self.tiles_per_sheet());
        let path = self.dir.join(format!("storyboard_{sheet_number:03}.jpg"));
        self.sheets.write(&mut self.sheet, &path)?;
        clear_to_black(&mut self.sheet);
        Ok(())
    }

    /// Keeps the most detailed picture seen so far; near-black and near-white frames (fades,
    /// title cards) only win when nothing better exists.
    pub fn poster_candidate(&mut self, picture: &frame::Video, _seconds: f64) -> Result<(), EngineError> {
        let (mean, variance) = luma_statistics(picture);
        let score = if (24.0..=232.0).contains(&mean) { variance } else { variance * 0.01 };
        if self.best_poster.as_ref().is_none_or(|(best, _)| score > *best) {
            // Cloning copies the picture; it happens only when a better candidate appears.
            self.best_poster = Some((score, picture.clone()));
        }
        Ok(())
    }

    pub fn finish(&mut self) -> Result<(), EngineError> {
        if !self.n_thumbnails.is_multiple_of(self.tiles_per_sheet()) {
            self.write_sheet()?;
        }
        if let Some((_, mut poster)) = self.best_poster.take() {
            let path = self.dir.join(POSTER_FILE);
            self.posters.write(&mut poster, &path)?;
            self.poster_written = true;
        }
        Ok(())
    }
}

/// Mean and variance of the luma plane, sampling every other pixel of every other row.
fn luma_statistics(picture: &frame::Video) -> (f64, f64) {
    let stride = picture.stride(0);
    let data = picture.data(0);
    let (width, height) = (picture.width() as usize, picture.height() as usize);
    let (mut sum, mut sum_squares, mut count) = (0f64, 0f64, 0f64);
    for row in (0..height).step_by(2) {
        let Some(line) = data.get(row * stride..row * stride + width) else {
            break;
        };
        for value in line.iter().step_by(2) {
            let value = f64::from(*value);
            sum += value;
            sum_squares += value * value;
            count += 1.0;
        }
    }
    if count == 0.0 {
        return (0.0, 0.0);
    }
    let mean = sum / count;
    (mean, sum_squares / count - mean * mean)
}

/// Full-range black: luma 0, chroma at the midpoint.
fn clear_to_black(sheet: &mut frame::Video) {
    sheet.data_mut(0).fill(0);
    sheet.data_mut(1).fill(128);
    sheet.data_mut(2).fill(128);
}

/// Copies a 4:2:0 picture into a larger one at (x, y); x and y are even for even tile sizes.
fn blit(tile: &frame::Video, sheet: &mut frame::Video, x: u32, y: u32) {
    for plane in 0..3 {
        let shift = u32::from(plane > 0);
        let (tile_width, tile_height) = (tile.plane_width(plane) as usize, tile.plane_height(plane) as usize);
        let (x, y) = ((x >> shift) as usize, (y >> shift) as usize);
        let (tile_stride, sheet_stride) = (tile.stride(plane), sheet.stride(plane));
        let sheet_width = sheet.plane_width(plane) as usize;
        let width = tile_width.min(sheet_width.saturating_sub(x));
        let source = tile.data(plane);
        let destination = sheet.data_mut(plane);
        for row in 0..tile_height {
            let from = row * tile_stride;
            let to = (y + row) * sheet_stride + x;
            if let (Some(source), Some(destination)) =
                (source.get(from..from + width), destination.get_mut(to..to + width))
            {
                destination.copy_from_slice(source);
            }
        }
    }
}
