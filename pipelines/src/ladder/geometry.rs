//! Picture sizes: square pixels, even dimensions, the display aspect kept, never upscaled.

/// The nearest even number to `value` that does not exceed `ceiling`, and at least 2.
///
/// H.264 with 4:2:0 chroma needs even dimensions. Rounding to the nearest even number keeps the
/// aspect closest; stepping down when that would pass the source size keeps the "never
/// upscale" promise even for odd sources (361 lines becomes 360, not 362). The one exception
/// is the floor of 2: a degenerate source one pixel wide still gets a 2-pixel picture.
pub fn even_at_most(value: f64, ceiling: f64) -> u32 {
    let mut even = (value / 2.0).round() * 2.0;
    if even > ceiling {
        even -= 2.0;
    }
    // Float-to-int `as` saturates, so a huge or NaN value cannot wrap around.
    (even as u32).max(2)
}

/// The output size of a rung whose SHORT side has `lines` lines, for a picture displayed at
/// `display` (width, height). `lines` must be even and at most the display's short side.
pub fn size_for_lines(display: (f64, f64), lines: u32) -> (u32, u32) {
    let (display_width, display_height) = display;
    let short = display_width.min(display_height);
    let long = display_width.max(display_height);
    let long_lines = even_at_most(long * f64::from(lines) / short, long);
    if display_width >= display_height { (long_lines, lines) } else { (lines, long_lines) }
}

/// The short side of the display size as an even number of lines, never above the source.
pub fn source_lines(display: (f64, f64)) -> u32 {
    let short = display.0.min(display.1);
    even_at_most(short, short)
}

/// The size of a 16:9 picture with `lines` lines: the picture a preset rung's bitrate is for.
pub fn reference_pixels(lines: u32) -> f64 {
    let lines = f64::from(lines);
    f64::from(even_at_most(lines * 16.0 / 9.0, f64::INFINITY)) * lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_at_most_rounds_to_the_nearest_even_number_below_the_ceiling() {
        let cases = [
            (639.2, 641.0, 640),
            (641.0, 641.0, 640),
            (361.0, 361.0, 360),
            (853.33, 1024.0, 854),
            (426.67, 1024.0, 426),
            (1.0, 1.0, 2),
            (0.0, 0.0, 2),
        ];
        for (value, ceiling, expected) in cases {
            assert_eq!(even_at_most(value, ceiling), expected, "{value} under {ceiling}");
        }
    }

    #[test]
    fn sizes_follow_the_short_side() {
        assert_eq!(size_for_lines((1920.0, 1080.0), 720), (1280, 720));
        assert_eq!(size_for_lines((1080.0, 1920.0), 720), (720, 1280));
        assert_eq!(size_for_lines((1024.0, 576.0), 480), (854, 480));
        assert_eq!(size_for_lines((1000.0, 1000.0), 480), (480, 480));
    }

    #[test]
    fn the_reference_picture_is_sixteen_by_nine() {
        assert_eq!(reference_pixels(720), 1280.0 * 720.0);
        assert_eq!(reference_pixels(240), 426.0 * 240.0);
    }
}
