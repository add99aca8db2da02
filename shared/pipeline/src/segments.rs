//! Cutting a video into GOP-aligned segments.
//!
//! A segment must start at a keyframe so a decoder can start there without
//! the frames before it. GOPs (keyframe to keyframe) are merged greedily until
//! a segment holds at least the target number of frames; every frame belongs
//! to exactly one segment.

use crate::error::{PipelineError, Result};
use std::ops::Range;

/// Frame ranges of the segments of a `frame_count`-frame video whose
/// keyframes (display-order indices) are `keyframes`, each at least
/// `target_frames` long except possibly the last.
pub fn gop_segments(frame_count: u64, keyframes: &[u64], target_frames: u64) -> Result<Vec<Range<u64>>> {
    if frame_count == 0 {
        return Err(PipelineError::InvalidInput("the video has no frames".into()));
    }
    let target = target_frames.max(1);
    // Frame 0 always starts a segment: decoding from the start of the file
    // needs no earlier frames even if the container does not flag it.
    let mut starts: Vec<u64> = std::iter::once(0)
        .chain(keyframes.iter().copied().filter(|&k| k > 0 && k < frame_count))
        .collect();
    starts.sort_unstable();
    starts.dedup();
    let mut segments = Vec::new();
    let mut start = 0;
    for &k in starts.iter().skip(1) {
        if k - start >= target {
            segments.push(start..k);
            start = k;
        }
    }
    segments.push(start..frame_count);
    Ok(segments)
}

/// A target segment length: long enough that ffmpeg's start-up is amortised,
/// short enough that `workers` can run in parallel (about two segments per
/// worker), and at most `max_frames` (the Lambda time budget). One worker
/// has nothing to balance, so it gets segments of `max_frames`: every
/// segment costs a decoder and an encoder start-up and drain, and a video
/// that fits one segment needs no join at all.
pub fn target_frames(frame_count: u64, workers: usize, min_frames: u64, max_frames: u64) -> u64 {
    let per_worker = if workers <= 1 {
        max_frames
    } else {
        frame_count.div_ceil(2 * workers as u64)
    };
    per_worker.clamp(min_frames.max(1), max_frames.max(min_frames.max(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn merges_gops_to_the_target() {
        let s = gop_segments(100, &[0, 30, 60, 90], 25).unwrap();
        assert_eq!(s, vec![0..30, 30..60, 60..90, 90..100]);
        let s = gop_segments(100, &[0, 30, 60, 90], 50).unwrap();
        assert_eq!(s, vec![0..60, 60..100]);
        let s = gop_segments(100, &[0, 30, 60, 90], 1000).unwrap();
        assert_eq!(s, vec![0..100]);
        // No keyframe flag on frame 0, irregular GOPs.
        let s = gop_segments(50, &[7, 9, 31], 5).unwrap();
        assert_eq!(s, vec![0..7, 7..31, 31..50]);
        assert!(gop_segments(0, &[], 10).is_err());
    }

    proptest! {
        #[test]
        fn every_frame_in_exactly_one_segment(
            frames in 1u64..5000,
            keys in proptest::collection::vec(0u64..5000, 0..60),
            target in 1u64..800,
        ) {
            let s = gop_segments(frames, &keys, target).unwrap();
            let mut at = 0;
            for (i, r) in s.iter().enumerate() {
                prop_assert_eq!(r.start, at);
                prop_assert!(r.end > r.start);
                prop_assert!(r.start == 0 || keys.contains(&r.start));
                if i + 1 < s.len() {
                    prop_assert!(r.end - r.start >= target);
                }
                at = r.end;
            }
            prop_assert_eq!(at, frames);
        }
    }

    #[test]
    fn target_balances_workers_and_bounds() {
        assert_eq!(target_frames(100, 2, 10, 600), 25);
        assert_eq!(target_frames(10, 8, 10, 600), 10);
        assert_eq!(target_frames(1_000_000, 2, 10, 600), 600);
        // One worker: as long as allowed, whatever the length.
        assert_eq!(target_frames(100, 1, 10, 600), 600);
        assert_eq!(target_frames(1_000_000, 1, 10, 600), 600);
    }
}
