//! The bit schedule: which payload bits each frame carries.
//!
//! The body's `P` bits are spread evenly over the `F` frames: frame `f` carries
//! bits `⌊f·P/F⌋ .. ⌊(f+1)·P/F⌋`. That depends on `f`, `P` and `F` alone, so
//! any frame range can be embedded or extracted without the others, and the
//! ranges of consecutive frames (or segments) partition the body exactly.

use std::ops::Range;

/// Spreads `body_bits` over `frames` frames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BitSchedule {
    frames: u64,
    body_bits: u64,
}

impl BitSchedule {
    /// A schedule; `frames` must be at least 1.
    pub fn new(frames: u64, body_bits: u64) -> Self {
        assert!(frames >= 1, "a schedule needs at least one frame");
        BitSchedule { frames, body_bits }
    }

    /// Frames in the schedule.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Total payload bits.
    pub fn body_bits(&self) -> u64 {
        self.body_bits
    }

    fn boundary(&self, f: u64) -> u64 {
        ((f as u128 * self.body_bits as u128) / self.frames as u128) as u64
    }

    /// The payload bits frame `f` carries.
    pub fn frame_bits(&self, f: u64) -> Range<u64> {
        self.frames_bits(f..f + 1)
    }

    /// The payload bits a run of frames carries (a segment's bit range).
    pub fn frames_bits(&self, frames: Range<u64>) -> Range<u64> {
        debug_assert!(frames.end <= self.frames);
        self.boundary(frames.start)..self.boundary(frames.end)
    }

    /// The most payload bits any single frame carries, `⌈P/F⌉`.
    pub fn max_frame_bits(&self) -> u64 {
        self.body_bits.div_ceil(self.frames)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn frames_partition_the_body(frames in 1u64..3000, bits in 0u64..10_000_000) {
            let s = BitSchedule::new(frames, bits);
            let mut at = 0;
            for f in 0..frames {
                let r = s.frame_bits(f);
                prop_assert_eq!(r.start, at);
                prop_assert!(r.end - r.start <= s.max_frame_bits());
                at = r.end;
            }
            prop_assert_eq!(at, bits);
        }

        #[test]
        fn segments_partition_the_body(frames in 1u64..100_000, bits in 0u64..u64::MAX / 2, cuts in proptest::collection::vec(any::<u64>(), 0..10)) {
            let s = BitSchedule::new(frames, bits);
            let mut points: Vec<u64> = cuts.into_iter().map(|c| c % frames).collect();
            points.extend([0, frames]);
            points.sort();
            points.dedup();
            let mut at = 0;
            for w in points.windows(2) {
                let r = s.frames_bits(w[0]..w[1]);
                prop_assert_eq!(r.start, at);
                // A segment's range is the union of its frames' ranges.
                prop_assert_eq!(r.start, s.frame_bits(w[0]).start);
                prop_assert_eq!(r.end, s.frame_bits(w[1] - 1).end);
                at = r.end;
            }
            prop_assert_eq!(at, bits);
        }
    }
}
