//! Bit strings of the sealed body, addressed by their global bit index.
//!
//! All bit strings are MSB-first: bit `j` of a byte string is
//! `(bytes[j / 8] >> (7 - j % 8)) & 1`. A [`BodyBits`] holds a window of the
//! body (a frame's or a segment's bit range) stored at its *global* byte
//! alignment, so a segment can fetch exactly the bytes it needs (for example
//! with an S3 range read) and hand them over without re-shifting.

use crate::error::{CoreError, Result};
use std::ops::Range;

/// Reads bit `j` (MSB-first) of `bytes`.
#[inline]
pub(crate) fn get_bit(bytes: &[u8], j: u64) -> u8 {
    (bytes[(j >> 3) as usize] >> (7 - (j & 7))) & 1
}

/// Sets bit `j` (MSB-first) of `bytes` to one.
#[inline]
pub(crate) fn set_bit(bytes: &mut [u8], j: u64) {
    bytes[(j >> 3) as usize] |= 0x80 >> (j & 7);
}

/// The byte range of a body holding the bit range `bits` (whole bytes).
pub fn byte_span(bits: &Range<u64>) -> Range<u64> {
    if bits.start >= bits.end {
        let b = bits.start / 8;
        return b..b;
    }
    (bits.start / 8)..bits.end.div_ceil(8)
}

/// A window `[range.start, range.end)` of the sealed body's bits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BodyBits {
    range: Range<u64>,
    /// Bytes `byte_span(range)` of the body.
    bytes: Vec<u8>,
}

impl BodyBits {
    /// A window over `range`, given the body bytes `byte_span(&range)`.
    pub fn new(range: Range<u64>, bytes: Vec<u8>) -> Result<Self> {
        if range.start > range.end {
            return Err(CoreError::InvalidParameter(format!(
                "bit range {}..{} is reversed",
                range.start, range.end
            )));
        }
        let span = byte_span(&range);
        if bytes.len() as u64 != span.end - span.start {
            return Err(CoreError::InvalidParameter(format!(
                "bit range {}..{} needs body bytes {}..{} ({} bytes) but {} were given",
                range.start,
                range.end,
                span.start,
                span.end,
                span.end - span.start,
                bytes.len()
            )));
        }
        Ok(BodyBits { range, bytes })
    }

    /// The whole body as one window.
    pub fn whole(body: Vec<u8>) -> Self {
        let range = 0..body.len() as u64 * 8;
        BodyBits { range, bytes: body }
    }

    /// An all-zero window, to be filled by extraction.
    pub fn zeroed(range: Range<u64>) -> Self {
        let span = byte_span(&range);
        BodyBits {
            range,
            bytes: vec![0; (span.end - span.start) as usize],
        }
    }

    /// The global bit range this window covers.
    pub fn range(&self) -> Range<u64> {
        self.range.clone()
    }

    /// The stored bytes (global bytes `byte_span(&self.range())`).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Consumes the window, returning its bytes.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }

    fn local(&self, global_bit: u64) -> u64 {
        global_bit - (self.range.start / 8) * 8
    }

    /// Copies `len` bits starting at global bit `from` into `dst`, starting at
    /// the byte-aligned bit `dst_bit` of `dst`.
    pub(crate) fn copy_out(&self, from: u64, len: u64, dst: &mut [u8], dst_bit: u64) -> Result<()> {
        if from < self.range.start || from + len > self.range.end {
            return Err(CoreError::InvalidParameter(format!(
                "bits {}..{} are outside the supplied window {}..{}",
                from,
                from + len,
                self.range.start,
                self.range.end
            )));
        }
        debug_assert_eq!(dst_bit % 8, 0);
        let src = &self.bytes;
        let start = self.local(from);
        let shift = (start % 8) as u32;
        let first = (start / 8) as usize;
        let out = &mut dst[(dst_bit / 8) as usize..];
        let full = (len / 8) as usize;
        if shift == 0 {
            out[..full].copy_from_slice(&src[first..first + full]);
        } else {
            for (k, o) in out[..full].iter_mut().enumerate() {
                let hi = src[first + k] << shift;
                let lo = src[first + k + 1] >> (8 - shift);
                *o = hi | lo;
            }
        }
        let rest = len % 8;
        if rest != 0 {
            let mut v = 0u8;
            for b in 0..rest {
                v |= get_bit(src, start + full as u64 * 8 + b) << (7 - b);
            }
            out[full] = v;
        }
        Ok(())
    }

    /// ORs `len` bits from `src` (starting at its byte-aligned bit `src_bit`)
    /// into this window at global bit `to`. Bits of `self` must still be zero
    /// there; bits of `src` past `len` are ignored.
    pub(crate) fn or_in(&mut self, to: u64, len: u64, src: &[u8], src_bit: u64) -> Result<()> {
        if to < self.range.start || to + len > self.range.end {
            return Err(CoreError::InvalidParameter(format!(
                "bits {}..{} are outside the window {}..{}",
                to,
                to + len,
                self.range.start,
                self.range.end
            )));
        }
        debug_assert_eq!(src_bit % 8, 0);
        let src = &src[(src_bit / 8) as usize..];
        let start = self.local(to);
        let shift = (start % 8) as u32;
        let first = (start / 8) as usize;
        let full = (len / 8) as usize;
        let dst = &mut self.bytes;
        for (k, &v) in src[..full].iter().enumerate() {
            if shift == 0 {
                dst[first + k] |= v;
            } else {
                dst[first + k] |= v >> shift;
                dst[first + k + 1] |= v << (8 - shift);
            }
        }
        for b in 0..len % 8 {
            if get_bit(src, full as u64 * 8 + b) == 1 {
                set_bit(dst, start + full as u64 * 8 + b);
            }
        }
        Ok(())
    }

    /// ORs another window into this one (their ranges must lie inside this one
    /// and not overlap what was merged before).
    pub fn merge(&mut self, part: &BodyBits) -> Result<()> {
        let len = part.range.end - part.range.start;
        if len == 0 {
            return Ok(());
        }
        let lead = part.range.start % 8;
        // `part` starts `lead` bits into its first byte: take whole bytes first,
        // then the remaining bits bit by bit.
        let head = ((8 - lead) % 8).min(len);
        for b in 0..head {
            let j = part.range.start + b;
            if part.get(j) == 1 {
                let local = self.local(j);
                set_bit(&mut self.bytes, local);
            }
        }
        let aligned = part.range.start + head;
        let rest = len - head;
        if rest > 0 {
            let src_bit = part.local(aligned);
            self.or_in(aligned, rest, &part.bytes, src_bit)?;
        }
        Ok(())
    }

    /// Bit `j` (global index) of the window.
    pub fn get(&self, j: u64) -> u8 {
        debug_assert!(self.range.contains(&j));
        get_bit(&self.bytes, self.local(j))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn body(n: usize, seed: u8) -> Vec<u8> {
        (0..n)
            .map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed))
            .collect()
    }

    proptest! {
        #[test]
        fn copy_out_matches_bitwise(len_bytes in 1usize..40, a in 0u64..320, n in 0u64..320) {
            let b = body(len_bytes, 3);
            let total = len_bytes as u64 * 8;
            let a = a % total;
            let n = n.min(total - a);
            let win = BodyBits::whole(b.clone());
            let mut dst = vec![0u8; 8 + n.div_ceil(8) as usize];
            win.copy_out(a, n, &mut dst, 64).unwrap();
            for k in 0..n {
                prop_assert_eq!(get_bit(&dst, 64 + k), get_bit(&b, a + k));
            }
        }

        #[test]
        fn split_windows_merge_back(len_bytes in 1usize..40, cuts in proptest::collection::vec(0u64..320, 0..6)) {
            let b = body(len_bytes, 9);
            let total = len_bytes as u64 * 8;
            let mut points: Vec<u64> = cuts.into_iter().map(|c| c % total).collect();
            points.push(0);
            points.push(total);
            points.sort();
            let whole = BodyBits::whole(b.clone());
            let mut rebuilt = BodyBits::zeroed(0..total);
            for w in points.windows(2) {
                let r = w[0]..w[1];
                // Carry the window through a byte-aligned buffer, as a frame does.
                let n = r.end - r.start;
                let mut carried = vec![0u8; n.div_ceil(8) as usize + 1];
                whole.copy_out(r.start, n, &mut carried, 0).unwrap();
                let mut part = BodyBits::zeroed(r.clone());
                part.or_in(r.start, n, &carried, 0).unwrap();
                rebuilt.merge(&part).unwrap();
            }
            prop_assert_eq!(rebuilt.bytes(), &b[..]);
        }
    }

    #[test]
    fn new_checks_length() {
        assert!(BodyBits::new(3..17, vec![0; 3]).is_ok());
        assert!(BodyBits::new(3..17, vec![0; 2]).is_err());
        assert_eq!(byte_span(&(3..17)), 0..3);
        assert_eq!(byte_span(&(8..16)), 1..2);
    }
}
