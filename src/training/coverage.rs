//! What a learner has watched of one lesson, and how a progress report may add to it. Pure: no
//! SQL, no clock.
//!
//! A [`Coverage`] is one bit per second of the lesson (bit `i` of byte `i / 8`, least significant
//! first), so a two-hour lecture is 900 bytes. Bits are only ever set. A report's spans cover the
//! seconds between their ends rounded to the nearest second, so consecutive spans that meet
//! mid-second (`[0, 10.4 s]`, `[10.4 s, 20 s]`) cover every second exactly once.
//!
//! [`apply`] is the plausibility rule: the new coverage of a report is paid from a *credit* of
//! milliseconds that grows with the wall time between reports × min(rate, 2) and starts with
//! 2 s of slack. What the credit cannot pay is dropped and counted as clipped, so a seek to the
//! end covers (almost) nothing and 2× playback covers at most twice the wall time. Spans of a
//! hidden page move the position but cover nothing.

/// The fastest playback rate that earns credit; faster spans still cover, paid at this rate.
pub const MAX_CREDITED_RATE: f64 = 2.0;

/// The slack a report stream starts with (network jitter between the player's clock and ours).
pub const INITIAL_CREDIT_MS: u64 = 2_000;

/// One bit per second of a lesson.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage {
    bytes: Vec<u8>,
}

impl Coverage {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self { bytes }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    pub fn is_covered(&self, second: u32) -> bool {
        let (byte, bit) = (second as usize / 8, second % 8);
        self.bytes.get(byte).is_some_and(|b| b & (1 << bit) != 0)
    }

    /// Sets one second; true when it was not covered before.
    pub fn cover(&mut self, second: u32) -> bool {
        let (byte, bit) = (second as usize / 8, second % 8);
        if self.bytes.len() <= byte {
            self.bytes.resize(byte + 1, 0);
        }
        let was = self.bytes[byte] & (1 << bit) != 0;
        self.bytes[byte] |= 1 << bit;
        !was
    }

    /// Covered seconds among the first `seconds`.
    pub fn count_below(&self, seconds: u32) -> u32 {
        let full = (seconds / 8) as usize;
        let mut count: u32 = self.bytes.iter().take(full).map(|b| b.count_ones()).sum();
        let rest = seconds % 8;
        if rest > 0
            && let Some(byte) = self.bytes.get(full)
        {
            count += (byte & ((1u8 << rest) - 1)).count_ones();
        }
        count
    }

    /// The uncovered ranges `[from_s, to_s)` among the first `seconds`, in order.
    pub fn gaps(&self, seconds: u32) -> Vec<[u32; 2]> {
        let mut gaps = Vec::new();
        let mut start = None;
        for second in 0..seconds {
            match (self.is_covered(second), start) {
                (false, None) => start = Some(second),
                (true, Some(from)) => {
                    gaps.push([from, second]);
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(from) = start {
            gaps.push([from, seconds]);
        }
        gaps
    }

    /// Adds every set bit of `other` to `counts` (one counter per second), for retention curves.
    pub fn add_to(&self, counts: &mut [u32]) {
        for (index, byte) in self.bytes.iter().enumerate() {
            if *byte == 0 {
                continue;
            }
            for bit in 0..8 {
                if byte & (1 << bit) != 0
                    && let Some(count) = counts.get_mut(index * 8 + bit)
                {
                    *count += 1;
                }
            }
        }
    }
}

/// Whole seconds a lesson of `duration_ms` has bits for (a started second counts).
pub fn seconds_of(duration_ms: u64) -> u32 {
    u32::try_from(duration_ms.div_ceil(1000)).unwrap_or(u32::MAX)
}

/// Covered share of a lesson, 0.0–1.0.
pub fn covered_ratio(coverage: &Coverage, duration_ms: u64) -> f64 {
    let seconds = seconds_of(duration_ms);
    if seconds == 0 {
        return 0.0;
    }
    f64::from(coverage.count_below(seconds)) / f64::from(seconds)
}

/// A stretch the player says it played, in media time, at a rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Span {
    pub from_ms: u64,
    pub to_ms: u64,
    pub rate: f64,
}

/// What [`apply`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Applied {
    /// Seconds newly covered by this report.
    pub covered_s: u32,
    /// Reported, not yet covered time the credit could not pay.
    pub clipped_ms: u64,
    /// Playing time this report adds to the total, in wall milliseconds.
    pub watch_ms: u64,
    /// The credit left for the next report.
    pub credit_ms: u64,
}

/// Applies one report to `coverage`. `credit_ms` is what the stream had left, `wall_ms` the wall
/// time since its previous report (or since the session started), `duration_ms` the lesson's.
pub fn apply(
    coverage: &mut Coverage,
    spans: &[Span],
    visible: bool,
    credit_ms: u64,
    wall_ms: u64,
    duration_ms: u64,
) -> Applied {
    let fastest = spans.iter().map(|span| span.rate).fold(0.0_f64, f64::max).min(MAX_CREDITED_RATE);
    // Paused reports (no spans) still earn credit at 1×, so a learner who pauses to take notes
    // and resumes is not clipped for the catch-up the next report brings.
    let earn_rate = if fastest > 0.0 { fastest.max(1.0) } else { 1.0 };
    let earned = (wall_ms as f64 * earn_rate) as u64;
    let mut credit = credit_ms.saturating_add(earned);
    let mut applied = Applied::default();
    if !visible {
        applied.credit_ms = credit;
        return applied;
    }
    let seconds = seconds_of(duration_ms);
    let mut played_ms: f64 = 0.0;
    for span in spans {
        let from = span.from_ms.min(duration_ms);
        let to = span.to_ms.min(duration_ms);
        if to <= from {
            continue;
        }
        played_ms += (to - from) as f64 / span.rate;
        let first = round_to_second(from);
        let last = round_to_second(to).min(seconds);
        for second in first..last {
            if coverage.is_covered(second) {
                continue;
            }
            if credit >= 1000 {
                coverage.cover(second);
                credit -= 1000;
                applied.covered_s += 1;
            } else {
                applied.clipped_ms += 1000;
            }
        }
    }
    applied.watch_ms = (played_ms as u64).min(wall_ms.saturating_add(INITIAL_CREDIT_MS));
    applied.credit_ms = credit;
    applied
}

fn round_to_second(ms: u64) -> u32 {
    u32::try_from((ms + 500) / 1000).unwrap_or(u32::MAX)
}

/// Where a learner should pick a lesson up again: rewound a little so the last words are heard
/// again, or `None` when the lesson is (nearly) finished and the next one should start.
pub fn resume_position(position_ms: u64, duration_ms: u64, completed: bool) -> Option<u64> {
    const REWIND_MS: u64 = 3_000;
    if completed || (duration_ms > 0 && position_ms * 100 >= duration_ms * 95) {
        return None;
    }
    Some(position_ms.saturating_sub(REWIND_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(from_s: f64, to_s: f64, rate: f64) -> Span {
        Span { from_ms: (from_s * 1000.0) as u64, to_ms: (to_s * 1000.0) as u64, rate }
    }

    #[test]
    fn bits_are_seconds_least_significant_first() {
        let mut coverage = Coverage::default();
        assert!(coverage.cover(0));
        assert!(coverage.cover(9));
        assert!(!coverage.cover(9));
        assert_eq!(coverage.as_bytes(), &[0b0000_0001, 0b0000_0010]);
        assert_eq!(coverage.count_below(9), 1);
        assert_eq!(coverage.count_below(10), 2);
        assert_eq!(coverage.count_below(1000), 2);
        assert_eq!(coverage.gaps(12), vec![[1, 9], [10, 12]]);
    }

    #[test]
    fn a_two_hour_lecture_is_900_bytes() {
        let mut coverage = Coverage::default();
        let mut credit = INITIAL_CREDIT_MS;
        let applied = apply(&mut coverage, &[span(0.0, 7200.0, 1.0)], true, credit, 7_200_000, 7_200_000);
        credit = applied.credit_ms;
        assert_eq!(applied.covered_s, 7200);
        assert_eq!(coverage.as_bytes().len(), 900);
        assert_eq!(credit, INITIAL_CREDIT_MS);
        assert!((covered_ratio(&coverage, 7_200_000) - 1.0).abs() < f64::EPSILON);
        assert!(coverage.gaps(7200).is_empty());
    }

    #[test]
    fn a_seek_to_the_end_covers_only_the_slack() {
        let mut coverage = Coverage::default();
        // Two seconds after the session opened, the player claims the last 10 minutes.
        let applied = apply(&mut coverage, &[span(3000.0, 3600.0, 1.0)], true, INITIAL_CREDIT_MS, 2_000, 3_600_000);
        assert_eq!(applied.covered_s, 4);
        assert_eq!(applied.clipped_ms, 596_000);
        assert!(covered_ratio(&coverage, 3_600_000) < 0.01);
    }

    #[test]
    fn double_speed_covers_at_most_twice_the_wall_time() {
        let mut coverage = Coverage::default();
        let mut credit = INITIAL_CREDIT_MS;
        // 30 reports, 10 s of wall time apart, each claiming 40 s of media at 2× (twice what 2×
        // can play in 10 s).
        for report in 0..30u32 {
            let from = f64::from(report) * 40.0;
            let applied = apply(&mut coverage, &[span(from, from + 40.0, 2.0)], true, credit, 10_000, 3_600_000);
            credit = applied.credit_ms;
        }
        let covered = coverage.count_below(3600);
        assert!(covered <= 600 + 2, "covered {covered} s in 300 s of wall time at 2×");
        assert!(covered >= 598);
    }

    #[test]
    fn faster_than_double_earns_no_more_than_double() {
        let mut coverage = Coverage::default();
        let applied = apply(&mut coverage, &[span(0.0, 160.0, 16.0)], true, 0, 10_000, 3_600_000);
        assert_eq!(applied.covered_s, 20);
        assert_eq!(applied.clipped_ms, 140_000);
    }

    #[test]
    fn hidden_spans_cover_nothing_but_keep_their_credit() {
        let mut coverage = Coverage::default();
        let applied = apply(&mut coverage, &[span(0.0, 10.0, 1.0)], false, INITIAL_CREDIT_MS, 10_000, 60_000);
        assert_eq!(applied.covered_s, 0);
        assert_eq!(applied.clipped_ms, 0);
        assert_eq!(applied.watch_ms, 0);
        assert_eq!(coverage.count_below(60), 0);
    }

    #[test]
    fn rewatching_covers_nothing_new_and_costs_nothing() {
        let mut coverage = Coverage::default();
        let first = apply(&mut coverage, &[span(0.0, 10.0, 1.0)], true, INITIAL_CREDIT_MS, 10_000, 60_000);
        assert_eq!(first.covered_s, 10);
        let again = apply(&mut coverage, &[span(0.0, 10.0, 1.0)], true, first.credit_ms, 0, 60_000);
        assert_eq!(again.covered_s, 0);
        assert_eq!(again.clipped_ms, 0);
        assert_eq!(again.credit_ms, first.credit_ms);
    }

    #[test]
    fn spans_meeting_mid_second_cover_each_second_once() {
        let mut coverage = Coverage::default();
        let applied = apply(
            &mut coverage,
            &[span(0.0, 10.4, 1.0), span(10.4, 20.0, 1.0)],
            true,
            INITIAL_CREDIT_MS,
            20_000,
            60_000,
        );
        assert_eq!(applied.covered_s, 20);
        assert_eq!(coverage.gaps(60), vec![[20, 60]]);
    }

    #[test]
    fn spans_past_the_end_are_cut_at_the_duration() {
        let mut coverage = Coverage::default();
        let applied = apply(&mut coverage, &[span(0.0, 100.0, 1.0)], true, INITIAL_CREDIT_MS, 100_000, 5_500);
        assert_eq!(applied.covered_s, 6);
        assert!((covered_ratio(&coverage, 5_500) - 1.0).abs() < f64::EPSILON);
    }

    #[test]
    fn retention_adds_each_learners_seconds() {
        let mut counts = vec![0u32; 12];
        let mut one = Coverage::default();
        let mut two = Coverage::default();
        for second in 0..10 {
            one.cover(second);
        }
        for second in 0..4 {
            two.cover(second);
        }
        one.add_to(&mut counts);
        two.add_to(&mut counts);
        assert_eq!(counts, vec![2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 0, 0]);
    }

    #[test]
    fn resume_rewinds_three_seconds_unless_nearly_done() {
        assert_eq!(resume_position(60_000, 600_000, false), Some(57_000));
        assert_eq!(resume_position(1_000, 600_000, false), Some(0));
        assert_eq!(resume_position(570_000, 600_000, false), None);
        assert_eq!(resume_position(10_000, 600_000, true), None);
    }
}
