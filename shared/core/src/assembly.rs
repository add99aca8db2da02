//! Gathering a body from the parts that segments extracted.
//!
//! Extraction may run segment by segment, in any order, on different machines;
//! each yields a [`BodyBits`] window. The assembly ORs them together and
//! remembers which bit ranges were actually recovered, so that shards in a
//! missing range are treated as erasures rather than as zeros.

use crate::bits::BodyBits;
use crate::error::{CoreError, Result};
use std::ops::Range;

/// The sealed body as recovered so far.
#[derive(Clone, Debug)]
pub struct BodyAssembly {
    bits: BodyBits,
    /// Recovered ranges, sorted and disjoint.
    covered: Vec<Range<u64>>,
}

impl BodyAssembly {
    /// An empty assembly for a body of `body_bits` bits.
    pub fn new(body_bits: u64) -> Self {
        BodyAssembly {
            bits: BodyBits::zeroed(0..body_bits),
            covered: Vec::new(),
        }
    }

    /// A fully recovered body.
    pub fn complete(body: Vec<u8>) -> Self {
        let bits = BodyBits::whole(body);
        let covered = vec![bits.range()];
        BodyAssembly { bits, covered }
    }

    /// Adds a recovered window. Windows must not overlap ones already added.
    pub fn add(&mut self, part: &BodyBits) -> Result<()> {
        let r = part.range();
        if r.is_empty() {
            return Ok(());
        }
        if r.end > self.bits.range().end {
            return Err(CoreError::InvalidParameter(format!(
                "window {}..{} lies beyond the body's {} bits",
                r.start,
                r.end,
                self.bits.range().end
            )));
        }
        if self.covered.iter().any(|c| c.start < r.end && r.start < c.end) {
            return Err(CoreError::InvalidParameter(format!(
                "window {}..{} overlaps a window already added",
                r.start, r.end
            )));
        }
        self.bits.merge(part)?;
        let at = self.covered.partition_point(|c| c.start < r.start);
        self.covered.insert(at, r);
        // Coalesce neighbours.
        let mut merged: Vec<Range<u64>> = Vec::with_capacity(self.covered.len());
        for c in self.covered.drain(..) {
            match merged.last_mut() {
                Some(last) if last.end == c.start => last.end = c.end,
                _ => merged.push(c),
            }
        }
        self.covered = merged;
        Ok(())
    }

    /// Whether every bit of `range` was recovered.
    pub fn is_covered(&self, range: &Range<u64>) -> bool {
        let i = self.covered.partition_point(|c| c.end <= range.start);
        self.covered
            .get(i)
            .is_some_and(|c| c.start <= range.start && range.end <= c.end)
    }

    /// Bit ranges not recovered.
    pub fn missing(&self) -> Vec<Range<u64>> {
        let mut out = Vec::new();
        let mut at = 0;
        for c in &self.covered {
            if c.start > at {
                out.push(at..c.start);
            }
            at = c.end;
        }
        let end = self.bits.range().end;
        if at < end {
            out.push(at..end);
        }
        out
    }

    /// The body bits (zeros where nothing was recovered).
    pub fn bits(&self) -> &BodyBits {
        &self.bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coverage_tracks_windows() {
        let mut a = BodyAssembly::new(100);
        a.add(&BodyBits::zeroed(10..20)).unwrap();
        a.add(&BodyBits::zeroed(20..35)).unwrap();
        assert!(a.is_covered(&(12..30)));
        assert!(!a.is_covered(&(5..12)));
        assert_eq!(a.missing(), vec![0..10, 35..100]);
        assert!(a.add(&BodyBits::zeroed(30..40)).is_err());
        assert!(a.add(&BodyBits::zeroed(90..101)).is_err());
    }
}
