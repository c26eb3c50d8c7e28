//! Output frame rates. Every rung gets a constant rate derived from the source by dropping
//! whole frames (never by blending), so motion stays as smooth as the source allows.

use crate::preset::VideoPreset;
use crate::source::{Rational, VideoStreamInfo};

/// Rates up to this count as "30 fps or less". The margin absorbs containers that report an
/// average such as 30.02 for a 30 fps recording.
const NORMAL_RATE_MAX: f64 = 31.0;

/// Greatest common divisor, for keeping fractions such as 60000/2002 readable as 30000/1001.
fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// `num / (den × divisor)` in lowest terms. Falls back to the undivided rate in the
/// theoretical case where the reduced denominator does not fit in 32 bits.
fn divide(rate: Rational, divisor: u32) -> Rational {
    let num = u64::from(rate.num);
    let den = u64::from(rate.den) * u64::from(divisor);
    let common = gcd(num, den).max(1);
    match (u32::try_from(num / common), u32::try_from(den / common)) {
        (Ok(num), Ok(den)) => Rational::new(num, den),
        _ => rate,
    }
}

/// Whether a rate is "high" (above 30 fps): halved on small rungs, given more bits on others.
pub fn is_high(rate: Rational) -> bool {
    rate.as_f64() > NORMAL_RATE_MAX
}

/// The rate of the top rungs. A variable or unknown rate becomes the preset's default; a rate
/// above the preset's maximum is divided by the smallest whole number that brings it under
/// (120 → 60, 100 → 50, 144 → 48), which means keeping every n-th frame.
pub fn source_rate(video: &VideoStreamInfo, preset: &VideoPreset) -> Rational {
    let default = Rational::new(preset.default_frame_rate, 1);
    let rate = match video.frame_rate {
        Some(rate) if !video.variable_frame_rate && rate.num > 0 && rate.den > 0 => divide(rate, 1),
        _ => return default,
    };
    let max = f64::from(preset.max_frame_rate);
    if rate.as_f64() <= max {
        return rate;
    }
    let divisor = (rate.as_f64() / max).ceil();
    // The limits refuse rates above a few hundred, so the divisor is small; saturating keeps
    // even a corrupt 4-billion-fps probe result from wrapping.
    divide(rate, divisor as u32)
}

/// The rate of a rung: small rungs halve high rates (60 → 30, 59.94 → 29.97, 50 → 25), since
/// their viewers are short of bandwidth and the small picture hides the loss of smoothness.
pub fn rung_rate(source_rate: Rational, lines: u32, preset: &VideoPreset) -> Rational {
    if lines <= preset.halve_frame_rate_max_lines && is_high(source_rate) {
        divide(source_rate, 2)
    } else {
        source_rate
    }
}

/// Frames per segment, rounded to the nearest whole frame and at least 1. At 29.97 fps a 4 s
/// segment holds 119.88 frames; we give 120. The engine forces keyframes at segment boundary
/// *times*, so this number is the GOP length x264 aims for between them, not the boundary.
pub fn keyframe_interval_frames(rate: Rational, segment_duration_seconds: u32) -> u32 {
    let frames = (rate.as_f64() * f64::from(segment_duration_seconds)).round();
    (frames as u32).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::video;
    use crate::preset::Preset;

    fn rate_of(num: u32, den: u32, variable: bool) -> Rational {
        let preset = Preset::default_course().video;
        let stream = VideoStreamInfo { variable_frame_rate: variable, ..video(1920, 1080, Rational::new(num, den)) };
        source_rate(&stream, &preset)
    }

    #[test]
    fn source_rates_are_kept_defaulted_or_decimated() {
        let cases = [
            ((30, 1, false), (30, 1)),
            ((30000, 1001, false), (30000, 1001)),
            ((50, 1, false), (50, 1)),
            ((60000, 1001, false), (60000, 1001)),
            ((2997, 100, true), (30, 1)),
            ((0, 0, false), (30, 1)),
            ((120, 1, false), (60, 1)),
            ((100, 1, false), (50, 1)),
            ((144, 1, false), (48, 1)),
            ((240000, 1001, false), (60000, 1001)),
            ((50, 2, false), (25, 1)),
        ];
        for ((num, den, variable), (expected_num, expected_den)) in cases {
            assert_eq!(rate_of(num, den, variable), Rational::new(expected_num, expected_den), "{num}/{den}");
        }
    }

    #[test]
    fn small_rungs_halve_high_rates_only() {
        let preset = Preset::default_course().video;
        let cases = [
            ((60, 1), 480, (30, 1)),
            ((60000, 1001), 360, (30000, 1001)),
            ((50, 1), 240, (25, 1)),
            ((60, 1), 720, (60, 1)),
            ((30, 1), 240, (30, 1)),
            ((25, 1), 240, (25, 1)),
        ];
        for ((num, den), lines, (expected_num, expected_den)) in cases {
            let rate = rung_rate(Rational::new(num, den), lines, &preset);
            assert_eq!(rate, Rational::new(expected_num, expected_den), "{num}/{den} at {lines}");
        }
    }

    #[test]
    fn keyframe_intervals_are_the_nearest_whole_frame() {
        assert_eq!(keyframe_interval_frames(Rational::new(30, 1), 4), 120);
        assert_eq!(keyframe_interval_frames(Rational::new(30000, 1001), 4), 120);
        assert_eq!(keyframe_interval_frames(Rational::new(24000, 1001), 4), 96);
        assert_eq!(keyframe_interval_frames(Rational::new(25, 1), 4), 100);
        assert_eq!(keyframe_interval_frames(Rational::new(1, 10), 4), 1);
    }
}
