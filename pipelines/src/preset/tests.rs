use super::*;

#[test]
fn built_in_presets_load() {
    for name in BUILTIN_PRESETS {
        let preset = Preset::builtin(name).expect("built-in preset loads");
        assert_eq!(&preset.name, name);
    }
    assert_eq!(Preset::default_course().name, "course");
}

#[test]
fn the_course_preset_has_the_documented_ladder() {
    let preset = Preset::default_course();
    let lines: Vec<u32> = preset.video.rungs.iter().map(|rung| rung.lines).collect();
    assert_eq!(lines, [240, 360, 480, 720, 1080, 1440, 2160]);
    assert_eq!(preset.segment_duration_seconds, 4);
    assert_eq!(preset.video.encoder_preset, "veryfast");
    assert_eq!(preset.video.max_frame_rate, 60);
    for rung in &preset.video.rungs {
        assert_eq!(rung.buffer_size(), 2 * rung.max_bitrate, "{} lines", rung.lines);
        let expected = if rung.lines <= 360 { H264Profile::Main } else { H264Profile::High };
        assert_eq!(rung.profile, expected, "{} lines", rung.lines);
        assert!((23.0..=26.0).contains(&rung.crf), "{} lines", rung.lines);
    }
    assert_eq!(preset.audio.bitrate, 128_000);
    assert_eq!(preset.audio.loudness.target(), None);
    assert_eq!(preset.images.thumbnail_interval_seconds, 10);
    assert_eq!(preset.images.thumbnail_width, 320);
    assert_eq!(preset.images.storyboard_tile_width, 160);
    assert_eq!((preset.images.storyboard_columns, preset.images.storyboard_rows), (10, 10));
}

#[test]
fn loudness_target_is_planned_only_when_switched_on() {
    let mut preset = Preset::default_course();
    preset.audio.loudness.enabled = true;
    let target = preset.audio.loudness.target().expect("switched on");
    assert_eq!(target.integrated_lufs, -16.0);
    assert_eq!(target.true_peak_db, -1.5);
    assert_eq!(target.loudness_range_lu, 11.0);
}

#[test]
fn an_unknown_builtin_name_lists_the_known_ones() {
    let error = Preset::builtin("ultra").expect_err("no such preset");
    assert_eq!(error.to_string(), "no built-in preset is called `ultra`; the built-in presets are course, fast");
}

#[test]
fn rungs_written_out_of_order_are_sorted() {
    let text = COURSE_TOML.replacen("lines = 240", "lines = 4000", 1);
    let preset = Preset::from_toml_str(&text).expect("valid");
    assert_eq!(preset.video.rungs.last().map(|rung| rung.lines), Some(4000));
}

/// Each row edits the course preset's text and names the field the error must mention.
#[test]
fn invalid_values_are_refused_with_the_field_named() {
    let cases: &[(&str, &str, &str)] = &[
        ("segment_duration_seconds = 4", "segment_duration_seconds = 0", "`segment_duration_seconds`"),
        ("encoder_preset = \"veryfast\"", "encoder_preset = \"quick\"", "`video.encoder_preset`"),
        ("crf = 25", "crf = 60", "`video.rungs[1].crf`"),
        ("lines = 360", "lines = 361", "`video.rungs[1].lines`"),
        ("lines = 360", "lines = 240", "`video.rungs` has two rungs of 240 lines"),
        ("max_bitrate = 300_000", "max_bitrate = 0", "`video.rungs[0].max_bitrate`"),
        ("default_frame_rate = 30", "default_frame_rate = 90", "`video.default_frame_rate`"),
        ("bitrate = 128_000", "bitrate = 1_000", "`audio.bitrate`"),
        ("sample_rate = 48_000", "sample_rate = 22_050", "`audio.sample_rate`"),
        ("true_peak_db = -1.5", "true_peak_db = 3.0", "`audio.loudness.true_peak_db`"),
        ("thumbnail_width = 320", "thumbnail_width = 321", "`images.thumbnail_width`"),
        ("storyboard_rows = 10", "storyboard_rows = 0", "`images.storyboard_rows`"),
    ];
    for (from, to, expected) in cases {
        assert!(COURSE_TOML.contains(from), "the course preset contains `{from}`");
        let text = COURSE_TOML.replacen(from, to, 1);
        let error = Preset::from_toml_str(&text).expect_err(to).to_string();
        assert!(error.contains(expected), "`{to}` gave `{error}`, expected `{expected}`");
    }
}

#[test]
fn misspelt_and_mistyped_keys_are_refused_with_the_key_named() {
    let misspelt = COURSE_TOML.replacen("crf = 25", "crff = 25", 1);
    let error = Preset::from_toml_str(&misspelt).expect_err("unknown key").to_string();
    assert!(error.contains("crff"), "{error}");

    let mistyped = COURSE_TOML.replacen("max_frame_rate = 60", "max_frame_rate = \"sixty\"", 1);
    let error = Preset::from_toml_str(&mistyped).expect_err("wrong type").to_string();
    assert!(error.contains("max_frame_rate"), "{error}");
}
