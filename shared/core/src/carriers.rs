//! Which pictures carry the payload in compact mode (format version 2).
//!
//! The video layer lists the *candidates* — pictures it could replace — in
//! decoding order, each with the *group* (GOP) it belongs to; both follow
//! from the video alone, the same before and after embedding. This module
//! picks the carriers among them, keyed, in rounds: round 0 takes the first
//! candidate of every group, round 1 the second, and so on; within a round
//! the groups are visited in a keyed, evenly spread order — the first `G`
//! distinct points of `⌊G · frac(u + j/φ)⌋`, `j = 0, 1, …` (a Kronecker
//! sequence with a keyed offset `u` and the golden ratio `φ`).
//!
//! Why: the first `n` groups of a Kronecker sequence are evenly spread for
//! *every* `n`, so however many carriers a message needs, they are spread
//! over the whole video; the first carrier never depends on `n`, which lets
//! an extractor find the header before it knows `n`; and a group's first
//! candidates sit just after its keyframe, so decoding a carrier's cover
//! picture costs a few frames, not a whole GOP: the work grows with the
//! message, not with the video or its GOP length.
//!
//! Carrier `c` (a candidate index) keys its permutation, whitening and ±1
//! directions by `c`; the payload is spread over the carriers in candidate
//! order (their *rank*), so a run of consecutive candidates carries a
//! contiguous run of the payload.

use crate::error::{CoreError, Result};
use crate::keys::PlacementKey;
use crate::layout::PICTURE_OVERHEAD_BITS;

/// `2^64 / φ`, rounded to odd: the step of the Kronecker sequence.
const GOLDEN_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// How many points the sequence may visit, per group, before the remaining
/// groups are taken in increasing order. The sequence hits every group
/// within about 2.62·G points, so this never triggers; it only bounds the
/// work on any input.
const STEPS_PER_GROUP: u64 = 4;

/// The keyed order in which candidate pictures become carriers.
#[derive(Clone, Debug)]
pub struct CarrierOrder {
    offset: u64,
    /// Where each group's candidates start (candidate indices), and the end.
    bounds: Vec<u64>,
}

impl CarrierOrder {
    /// The order over candidates whose groups are `groups` (one entry per
    /// candidate, in candidate order: non-decreasing, starting at 0, with
    /// no group number skipped).
    pub fn new(key: &PlacementKey, groups: &[u32]) -> Result<Self> {
        let subkey = key.subkeys().carriers;
        let mut bounds = vec![0u64];
        for (i, w) in groups.windows(2).enumerate() {
            match w[1].checked_sub(w[0]) {
                Some(0) => {}
                Some(1) => bounds.push(i as u64 + 1),
                _ => {
                    return Err(CoreError::InvalidParameter(format!(
                        "candidate groups must count up from 0 in steps of 1 (found {} after {})",
                        w[1], w[0]
                    )))
                }
            }
        }
        if groups.first().is_some_and(|&g| g != 0) {
            return Err(CoreError::InvalidParameter(
                "candidate groups must start at 0".into(),
            ));
        }
        bounds.push(groups.len() as u64);
        if groups.is_empty() {
            bounds = vec![0];
        }
        Ok(CarrierOrder {
            offset: u64::from_le_bytes(subkey[..8].try_into().unwrap()),
            bounds,
        })
    }

    /// Candidates in the order.
    pub fn candidates(&self) -> u64 {
        *self.bounds.last().unwrap()
    }

    /// Groups of candidates.
    pub fn groups(&self) -> u64 {
        self.bounds.len() as u64 - 1
    }

    /// The `j`-th point of the group sequence, a group index (repeats possible).
    pub fn point(&self, j: u64) -> u64 {
        let x = self.offset.wrapping_add(j.wrapping_mul(GOLDEN_STEP));
        ((x as u128 * self.groups() as u128) >> 64) as u64
    }

    /// Every group once, in the keyed order the rounds visit them.
    pub fn group_order(&self) -> Vec<u64> {
        let g = self.groups();
        let mut taken = vec![false; g as usize];
        let mut out = Vec::with_capacity(g as usize);
        let limit = STEPS_PER_GROUP * g + 16;
        let mut j = 0;
        while (out.len() as u64) < g && j < limit {
            let p = self.point(j);
            if !taken[p as usize] {
                taken[p as usize] = true;
                out.push(p);
            }
            j += 1;
        }
        for p in 0..g {
            if !taken[p as usize] {
                out.push(p);
            }
        }
        out
    }

    /// The first `n` carriers (candidate indices) of the order (`n ≤` the
    /// candidates), in order: element 0 is the first candidate of the group
    /// the order visits first.
    pub fn first(&self, n: u64) -> Result<Vec<u64>> {
        let m = self.candidates();
        if n > m {
            return Err(CoreError::InvalidParameter(format!(
                "{n} carriers asked of {m} candidate pictures"
            )));
        }
        let groups = self.group_order();
        let mut out = Vec::with_capacity(n as usize);
        let mut round = 0u64;
        while (out.len() as u64) < n {
            for &g in &groups {
                let (start, end) = (self.bounds[g as usize], self.bounds[g as usize + 1]);
                if start + round < end {
                    out.push(start + round);
                    if out.len() as u64 == n {
                        break;
                    }
                }
            }
            round += 1;
        }
        Ok(out)
    }
}

/// The fewest carriers, each holding `samples` samples in the chosen planes,
/// that carry `body_bits` with at most `max_rate` of every carrier's samples
/// holding a bit (its salt slot and header copy included).
pub fn carriers_needed(body_bits: u64, samples: u64, max_rate: f64) -> Result<u64> {
    if !(max_rate > 0.0 && max_rate <= 1.0) {
        return Err(CoreError::InvalidParameter(format!(
            "the embedding rate must be above 0 and at most 1 (got {max_rate})"
        )));
    }
    let per_carrier = ((max_rate * samples as f64).floor() as u64).min(samples);
    if per_carrier <= PICTURE_OVERHEAD_BITS {
        return Err(CoreError::InvalidParameter(format!(
            "at an embedding rate of {max_rate}, a picture of {samples} samples cannot hold even the \
             {PICTURE_OVERHEAD_BITS} bits of its salt and header; raise the rate"
        )));
    }
    Ok(body_bits.div_ceil(per_carrier - PICTURE_OVERHEAD_BITS).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups(sizes: &[u64]) -> Vec<u32> {
        sizes
            .iter()
            .enumerate()
            .flat_map(|(g, &n)| std::iter::repeat_n(g as u32, n as usize))
            .collect()
    }

    #[test]
    fn rounds_take_every_groups_first_candidate_first() {
        let key = PlacementKey::from_bytes([3; 32]);
        // Ten groups of 1 to 5 candidates.
        let sizes = [3u64, 1, 5, 2, 4, 1, 3, 2, 5, 4];
        let order = CarrierOrder::new(&key, &groups(&sizes)).unwrap();
        let m: u64 = sizes.iter().sum();
        let all = order.first(m).unwrap();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..m).collect::<Vec<_>>(), "every candidate once");
        let starts: Vec<u64> = (0..sizes.len()).map(|g| sizes[..g].iter().sum()).collect();
        // Round 0: the first candidate of each group, groups in the keyed order.
        let visits = order.group_order();
        assert_eq!(
            all[..10],
            visits.iter().map(|&g| starts[g as usize]).collect::<Vec<_>>()[..]
        );
        // Every prefix is a prefix.
        for n in [1, 4, 10, 11, m] {
            assert_eq!(order.first(n).unwrap(), all[..n as usize]);
        }
        assert!(order.first(m + 1).is_err());
    }

    #[test]
    fn group_visits_are_spread_for_every_count() {
        let key = PlacementKey::from_bytes([3; 32]);
        for g in [1u64, 2, 3, 7, 100, 997, 20_000] {
            let order = CarrierOrder::new(&key, &groups(&vec![1; g as usize])).unwrap();
            let visits = order.group_order();
            let mut sorted = visits.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..g).collect::<Vec<_>>(), "G = {g}: a permutation");
            if g >= 100 {
                for n in [4u64, 10, 50] {
                    let mut pts = visits[..n as usize].to_vec();
                    pts.sort_unstable();
                    let widest = pts
                        .windows(2)
                        .map(|w| w[1] - w[0])
                        .chain([pts[0] + g - pts[pts.len() - 1]])
                        .max()
                        .unwrap();
                    assert!(widest <= 3 * g / n + 1, "G {g}, n {n}: gap {widest}");
                }
            }
        }
    }

    #[test]
    fn the_sequence_alone_visits_every_group() {
        // The fallback (increasing order) is never needed in practice.
        let key = PlacementKey::from_bytes([9; 32]);
        for g in 1..3000u64 {
            let order = CarrierOrder::new(&key, &groups(&vec![1; g as usize])).unwrap();
            let mut seen = vec![false; g as usize];
            let mut left = g;
            let mut j = 0;
            while left > 0 {
                let c = order.point(j) as usize;
                if !seen[c] {
                    seen[c] = true;
                    left -= 1;
                }
                j += 1;
            }
            assert!(j <= 3 * g + 2, "G {g} took {j} points");
        }
    }

    #[test]
    fn groups_must_count_up_and_keys_differ() {
        let key = PlacementKey::from_bytes([1; 32]);
        assert!(CarrierOrder::new(&key, &[0, 0, 2]).is_err());
        assert!(CarrierOrder::new(&key, &[1, 1]).is_err());
        assert!(CarrierOrder::new(&key, &[0, 1, 0]).is_err());
        let empty = CarrierOrder::new(&key, &[]).unwrap();
        assert_eq!((empty.candidates(), empty.groups()), (0, 0));
        assert!(empty.first(0).unwrap().is_empty());
        let many = groups(&vec![2; 1000]);
        let a = CarrierOrder::new(&PlacementKey::from_bytes([1; 32]), &many).unwrap();
        let b = CarrierOrder::new(&PlacementKey::from_bytes([2; 32]), &many).unwrap();
        assert_ne!(a.first(10).unwrap(), b.first(10).unwrap());
    }

    #[test]
    fn carrier_counts() {
        // 10,000 samples at rate 0.25: 2,500 bits, 1,860 after the salt
        // slot (128) and the header (512).
        assert_eq!(carriers_needed(1, 10_000, 0.25).unwrap(), 1);
        assert_eq!(carriers_needed(1860, 10_000, 0.25).unwrap(), 1);
        assert_eq!(carriers_needed(1861, 10_000, 0.25).unwrap(), 2);
        assert_eq!(carriers_needed(0, 10_000, 1.0).unwrap(), 1);
        assert!(carriers_needed(100, 1000, 0.5).is_err());
        assert!(carriers_needed(100, 10_000, 0.0).is_err());
        assert!(carriers_needed(100, 10_000, 1.5).is_err());
    }
}
