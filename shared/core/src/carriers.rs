//! Which pictures carry the payload in compact mode (format version 2).
//!
//! The video layer lists the *candidates*: pictures it could replace, in a
//! fixed order both the embedder and the extractor compute from the video
//! alone. This module picks the carriers among them, keyed: candidate
//! `c_j = ⌊m · frac(u + j/φ)⌋` for `j = 0, 1, 2, …`, skipping repeats, where
//! `m` is the number of candidates, `u` a keyed offset and `1/φ` the golden
//! ratio's inverse (a Kronecker sequence). Its first `n` points are evenly
//! spread for *every* `n`, so however many carriers a message needs, they
//! are spread over the whole video; and the first carrier is always `c_0`,
//! which lets an extractor find the header before it knows `n`.
//!
//! Carrier `c` (a candidate index) keys its permutation, whitening and ±1
//! directions by `c`; the payload is spread over the carriers in candidate
//! order (their *rank*), so a run of consecutive candidates carries a
//! contiguous run of the payload.

use crate::error::{CoreError, Result};
use crate::header::HEADER_BITS;
use crate::keys::PlacementKey;

/// `2^64 / φ`, rounded to odd: the step of the Kronecker sequence.
const GOLDEN_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// How many points the sequence may visit, per candidate, before the
/// remaining candidates are taken in increasing order. The sequence hits
/// every candidate within about 2.62·m points, so this never triggers; it
/// only bounds the work on any input.
const STEPS_PER_CANDIDATE: u64 = 4;

/// The keyed order in which `m` candidate pictures become carriers.
#[derive(Clone, Debug)]
pub struct CarrierOrder {
    offset: u64,
    candidates: u64,
}

impl CarrierOrder {
    /// The order over `candidates` candidates for this key.
    pub fn new(key: &PlacementKey, candidates: u64) -> Self {
        let subkey = key.subkeys().carriers;
        CarrierOrder {
            offset: u64::from_le_bytes(subkey[..8].try_into().unwrap()),
            candidates,
        }
    }

    /// Candidates in the order.
    pub fn candidates(&self) -> u64 {
        self.candidates
    }

    /// The `j`-th point of the sequence, a candidate index (repeats possible).
    pub fn point(&self, j: u64) -> u64 {
        let x = self.offset.wrapping_add(j.wrapping_mul(GOLDEN_STEP));
        ((x as u128 * self.candidates as u128) >> 64) as u64
    }

    /// The first `n` distinct candidates of the order (`n ≤ m`), in order:
    /// element 0 is always the first point.
    pub fn first(&self, n: u64) -> Result<Vec<u64>> {
        let m = self.candidates;
        if n > m {
            return Err(CoreError::InvalidParameter(format!(
                "{n} carriers asked of {m} candidate pictures"
            )));
        }
        let mut taken = vec![false; m as usize];
        let mut out = Vec::with_capacity(n as usize);
        let limit = STEPS_PER_CANDIDATE * m + 16;
        let mut j = 0;
        while (out.len() as u64) < n && j < limit {
            let c = self.point(j);
            if !taken[c as usize] {
                taken[c as usize] = true;
                out.push(c);
            }
            j += 1;
        }
        let mut c = 0;
        while (out.len() as u64) < n {
            if !taken[c as usize] {
                taken[c as usize] = true;
                out.push(c);
            }
            c += 1;
        }
        Ok(out)
    }
}

/// The fewest carriers, each holding `samples` samples in the chosen planes,
/// that carry `body_bits` with at most `max_rate` of every carrier's samples
/// holding a bit (its header copy included).
pub fn carriers_needed(body_bits: u64, samples: u64, max_rate: f64) -> Result<u64> {
    if !(max_rate > 0.0 && max_rate <= 1.0) {
        return Err(CoreError::InvalidParameter(format!(
            "the embedding rate must be above 0 and at most 1 (got {max_rate})"
        )));
    }
    let per_carrier = ((max_rate * samples as f64).floor() as u64).min(samples);
    if per_carrier <= HEADER_BITS {
        return Err(CoreError::InvalidParameter(format!(
            "at an embedding rate of {max_rate}, a picture of {samples} samples cannot hold even the \
             {HEADER_BITS}-bit header; raise the rate"
        )));
    }
    Ok(body_bits.div_ceil(per_carrier - HEADER_BITS).max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_points_are_distinct_spread_and_prefixes_of_each_other() {
        let key = PlacementKey::from_bytes([3; 32]);
        for m in [1u64, 2, 3, 7, 100, 997, 20_000] {
            let order = CarrierOrder::new(&key, m);
            let all = order.first(m).unwrap();
            let mut sorted = all.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..m).collect::<Vec<_>>(), "m = {m}: a permutation");
            assert_eq!(all[0], order.point(0));
            for n in [1, 2, 5, m / 2, m] {
                let n = n.min(m).max(1);
                assert_eq!(order.first(n).unwrap(), all[..n as usize], "prefix property");
            }
            // Spread: among the first n, no gap is wider than ~3 m / n.
            if m >= 100 {
                for n in [4u64, 10, 50] {
                    let mut pts = order.first(n).unwrap();
                    pts.sort_unstable();
                    let widest = pts
                        .windows(2)
                        .map(|w| w[1] - w[0])
                        .chain([pts[0] + m - pts[pts.len() - 1]])
                        .max()
                        .unwrap();
                    assert!(widest <= 3 * m / n + 1, "m {m}, n {n}: gap {widest}");
                }
            }
        }
        assert!(CarrierOrder::new(&key, 5).first(6).is_err());
    }

    #[test]
    fn the_sequence_alone_covers_every_candidate() {
        // The fallback (increasing order) is never needed in practice.
        let key = PlacementKey::from_bytes([9; 32]);
        for m in 1..3000u64 {
            let order = CarrierOrder::new(&key, m);
            let mut seen = vec![false; m as usize];
            let mut left = m;
            let mut j = 0;
            while left > 0 {
                let c = order.point(j) as usize;
                if !seen[c] {
                    seen[c] = true;
                    left -= 1;
                }
                j += 1;
            }
            assert!(j <= 3 * m + 2, "m {m} took {j} points");
        }
    }

    #[test]
    fn different_keys_choose_different_carriers() {
        let a = CarrierOrder::new(&PlacementKey::from_bytes([1; 32]), 1000);
        let b = CarrierOrder::new(&PlacementKey::from_bytes([2; 32]), 1000);
        assert_ne!(a.first(10).unwrap(), b.first(10).unwrap());
    }

    #[test]
    fn carrier_counts() {
        // 10,000 samples at rate 0.25: 2,500 bits, 1,988 after the header.
        assert_eq!(carriers_needed(1, 10_000, 0.25).unwrap(), 1);
        assert_eq!(carriers_needed(1988, 10_000, 0.25).unwrap(), 1);
        assert_eq!(carriers_needed(1989, 10_000, 0.25).unwrap(), 2);
        assert_eq!(carriers_needed(0, 10_000, 1.0).unwrap(), 1);
        assert!(carriers_needed(100, 1000, 0.5).is_err());
        assert!(carriers_needed(100, 10_000, 0.0).is_err());
        assert!(carriers_needed(100, 10_000, 1.5).is_err());
    }
}
