use super::*;
use crate::plan::ImagePlan;

fn images() -> ImagePlan {
    ImagePlan {
        poster_width: 1280,
        poster_height: 720,
        thumbnail_interval_seconds: 10,
        thumbnail_width: 320,
        thumbnail_height: 180,
        storyboard_columns: 10,
        storyboard_rows: 10,
        storyboard_tile_width: 160,
        storyboard_tile_height: 90,
    }
}

#[test]
fn thumbnails_are_taken_every_interval_inside_the_duration() {
    let cases: &[(f64, &[f64])] = &[
        (0.0, &[]),
        (f64::NAN, &[]),
        (-5.0, &[]),
        (0.5, &[0.0]),
        (10.0, &[0.0]),
        (10.001, &[0.0, 10.0]),
        (35.0, &[0.0, 10.0, 20.0, 30.0]),
    ];
    for (duration, expected) in cases {
        assert_eq!(thumbnail_times(*duration, &images()), *expected, "{duration}");
    }
}

#[test]
fn tiles_fill_rows_then_sheets() {
    // 1005 s gives 101 tiles: one full 10×10 sheet and one tile on the second.
    let tiles = tile_layout(1005.0, &images());
    assert_eq!(tiles.len(), 101);
    let place = |k: usize| (tiles[k].sheet, tiles[k].x, tiles[k].y);
    assert_eq!(place(0), (0, 0, 0));
    assert_eq!(place(9), (0, 1440, 0));
    assert_eq!(place(10), (0, 0, 90));
    assert_eq!(place(99), (0, 1440, 810));
    assert_eq!(place(100), (1, 0, 0));
    assert_eq!((tiles[100].start_seconds, tiles[100].end_seconds), (1000.0, 1005.0));
    assert_eq!(sheet_count(&tiles), 2);
    assert_eq!(sheet_size(&tiles, 0), (1600, 900));
    assert_eq!(sheet_size(&tiles, 1), (160, 90));
}

#[test]
fn plans_without_tile_sizes_use_the_thumbnail_size() {
    let old_plan = ImagePlan { storyboard_tile_width: 0, storyboard_tile_height: 0, ..images() };
    let tiles = tile_layout(20.0, &old_plan);
    assert_eq!((tiles[1].x, tiles[1].width, tiles[1].height), (320, 320, 180));
}

#[test]
fn the_storyboard_vtt_matches_its_snapshot() {
    let vtt = webvtt(&tile_layout(3725.5, &images()));
    assert!(vtt.contains("01:00:00.000 --> 01:00:10.000\nstoryboard_004.jpg#xywh=0,540,160,90\n"));
    assert!(vtt.ends_with("01:02:00.000 --> 01:02:05.500\nstoryboard_004.jpg#xywh=320,630,160,90\n"));
    let short = webvtt(&tile_layout(25.0, &images()));
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path("../snapshots");
    settings.bind(|| insta::assert_snapshot!("storyboard_vtt_25_seconds", short));
}
