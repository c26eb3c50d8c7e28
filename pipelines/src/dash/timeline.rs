//! DASH `SegmentTimeline` entries, run-length compressed from the measured segment list.

use crate::package::SegmentInfo;

/// One `<S t d r/>` element: `repeat + 1` segments of `duration` ticks, the first starting at
/// `start` when given (otherwise right after the previous entry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineEntry {
    pub start: Option<u64>,
    pub duration: u64,
    pub repeat: u64,
}

/// Compresses segments into timeline entries. The first entry always states its start (the
/// first `tfdt`); later entries state it only where a gap or overlap breaks continuity, so
/// players place every segment at its real decode time.
pub fn compress(segments: &[SegmentInfo]) -> Vec<TimelineEntry> {
    let mut entries: Vec<TimelineEntry> = Vec::new();
    let mut expected_start: Option<u64> = None;
    for segment in segments {
        let contiguous = expected_start == Some(segment.start_ticks);
        match entries.last_mut() {
            Some(last) if contiguous && last.duration == segment.duration_ticks => last.repeat += 1,
            _ => entries.push(TimelineEntry {
                start: (!contiguous).then_some(segment.start_ticks),
                duration: segment.duration_ticks,
                repeat: 0,
            }),
        }
        expected_start = Some(segment.start_ticks + segment.duration_ticks);
    }
    entries
}

/// The (start, duration) of every segment the entries describe: what a player computes.
pub fn expand(entries: &[TimelineEntry]) -> Vec<(u64, u64)> {
    let mut segments = Vec::new();
    let mut next_start = 0;
    for entry in entries {
        let mut start = entry.start.unwrap_or(next_start);
        for _ in 0..=entry.repeat {
            segments.push((start, entry.duration));
            start += entry.duration;
        }
        next_start = start;
    }
    segments
}
