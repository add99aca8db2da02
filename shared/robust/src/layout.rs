//! Which cell carries what: header cells, data slots, the interleaver, the
//! whitening, the dithers and the period header's bytes.

use crate::code::{header_encode, HEADER_CODE};
use crate::keys::{RobustKeys, HEADER_DITHER_NONCE};
use vidstega_core::{mix64, FramePermutation};

/// Coded bits of one header copy (TC128).
pub const HEADER_CODED_BITS: usize = 128;
/// Header format version (2 bits).
pub(crate) const HEADER_VERSION: u8 = 1;
/// Largest period index a header holds (22 bits).
pub(crate) const MAX_PERIOD: u64 = (1 << 22) - 1;
/// Largest payload a header describes, in bytes (22 bits).
pub const MAX_PAYLOAD_BYTES: usize = (1 << 22) - 1;

/// The cells of a grid, split into header cells and data cells.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    /// Cells per frame (`R·C`).
    pub cells: usize,
    /// Header cell `h` carries coded header bit `h mod 128`.
    pub header_cells: Vec<u32>,
    /// Data cells in ascending cell order; the rank in this list is `k`.
    pub data_cells: Vec<u32>,
}

impl Layout {
    /// The keyed split of `cells` cells with `copies` header copies.
    pub fn new(keys: &RobustKeys, cells: usize, copies: u32) -> Layout {
        let header = (copies as usize * HEADER_CODED_BITS).min(cells);
        // Keyed Fisher–Yates over the cells; the first `header` are header cells.
        let stream = keys.layout_stream(8 * header);
        let mut order: Vec<u32> = (0..cells as u32).collect();
        for i in 0..header {
            let r = u64::from_le_bytes(stream[8 * i..8 * i + 8].try_into().expect("8 bytes"));
            let j = i + (r % (cells - i) as u64) as usize;
            order.swap(i, j);
        }
        let header_cells = order[..header].to_vec();
        let mut data_cells = order[header..].to_vec();
        data_cells.sort_unstable();
        Layout {
            cells,
            header_cells,
            data_cells,
        }
    }
}

/// Maps data slots to coded bits: slot `i = p·D + k` lies in lap `b = i div M`
/// at offset `o = i mod M` and carries coded bit `π_b(o)`, where `π_b` is the
/// core's keyed Feistel permutation of `0..M` with round keys
/// `low32(mix64(w_r ⊕ b))` (`w_0..w_3` the words of `K_rperm`). Every lap of
/// `M` consecutive slots holds every coded bit exactly once, spread over
/// space and time.
pub(crate) struct SlotMap {
    m: u64,
    d: u64,
    words: [u64; 4],
    cache: Option<(u64, FramePermutation)>,
}

impl SlotMap {
    /// The map for `m` coded bits and `d` data cells per frame.
    pub fn new(keys: &RobustKeys, m: usize, d: usize) -> SlotMap {
        SlotMap {
            m: m as u64,
            d: d as u64,
            words: keys.perm_words(),
            cache: None,
        }
    }

    /// The coded bit carried by data cell rank `k` in period `p`.
    pub fn coded_index(&mut self, p: u64, k: usize) -> usize {
        let i = p * self.d + k as u64;
        let (b, o) = (i / self.m, i % self.m);
        let perm = match &self.cache {
            Some((lap, perm)) if *lap == b => perm,
            _ => {
                let keys = std::array::from_fn(|r| mix64(self.words[r] ^ b) as u32);
                self.cache = Some((b, FramePermutation::new(self.m, keys)));
                &self.cache.as_ref().expect("just set").1
            }
        };
        perm.forward(o) as usize
    }
}

/// Whitening bits of period `p`, one per data cell rank: bit `k` (MSB-first) of
/// ChaCha20(`K_rwhite`, nonce `p`).
pub(crate) fn whitening(keys: &RobustKeys, p: u64, d: usize) -> Vec<u8> {
    let s = keys.white_stream(p, d.div_ceil(8));
    (0..d).map(|k| crate::code::bit(&s, k)).collect()
}

/// Data dithers of period `p`, one per cell: `Δ · u32le(stream[4c..4c+4]) / 2^32`
/// with ChaCha20(`K_rdith`, nonce `p`).
pub(crate) fn data_dither(keys: &RobustKeys, p: u64, cells: usize, step: f32) -> Vec<f32> {
    dither_from(&keys.dither_stream(p, 4 * cells), step)
}

/// Header dithers for hypothesis `h = p mod 4` (nonce `2^63 + h`), one per cell.
pub(crate) fn header_dither(keys: &RobustKeys, h: u64, cells: usize, step: f32) -> Vec<f32> {
    dither_from(&keys.dither_stream(HEADER_DITHER_NONCE + h, 4 * cells), step)
}

fn dither_from(s: &[u8], step: f32) -> Vec<f32> {
    s.chunks_exact(4)
        .map(|c| (u32::from_le_bytes(c.try_into().expect("4 bytes")) as f64 / 4_294_967_296.0) as f32 * step)
        .collect()
}

/// What a period header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// Preset id (2 bits).
    pub preset: u8,
    /// Period index (22 bits).
    pub period: u64,
    /// Payload bytes (22 bits).
    pub payload_len: usize,
}

impl Header {
    /// The 64 information bits: `ver(2) ‖ preset(2) ‖ p(22) ‖ len(22) ‖ tag(16)`,
    /// big-endian, XORed with the header mask; `tag` is the first 16 bits of
    /// `HMAC(K_rhdr, first 6 bytes)`.
    pub fn to_info(self, keys: &RobustKeys) -> [u8; 8] {
        let v = ((HEADER_VERSION as u64) << 62)
            | ((self.preset as u64 & 3) << 60)
            | ((self.period & MAX_PERIOD) << 38)
            | ((self.payload_len as u64 & MAX_PERIOD) << 16);
        let fields = v.to_be_bytes();
        let tag = keys.header_tag(&fields[..6]) as u64;
        let mut info = (v | tag).to_be_bytes();
        for (b, m) in info.iter_mut().zip(keys.header_mask()) {
            *b ^= m;
        }
        info
    }

    /// Parses and authenticates decoded information bits.
    pub fn from_info(info: [u8; 8], keys: &RobustKeys) -> Option<Header> {
        let mut b = info;
        for (x, m) in b.iter_mut().zip(keys.header_mask()) {
            *x ^= m;
        }
        let v = u64::from_be_bytes(b);
        if (v >> 62) as u8 != HEADER_VERSION {
            return None;
        }
        let fields = (v & !0xFFFF).to_be_bytes();
        if keys.header_tag(&fields[..6]) as u64 != v & 0xFFFF {
            return None;
        }
        Some(Header {
            preset: ((v >> 60) & 3) as u8,
            period: (v >> 38) & MAX_PERIOD,
            payload_len: ((v >> 16) & MAX_PERIOD) as usize,
        })
    }

    /// The 128 coded header bits.
    pub fn coded(self, keys: &RobustKeys) -> Vec<u8> {
        let bits = header_encode(&self.to_info(keys));
        debug_assert_eq!(bits.len(), HEADER_CODE.n());
        bits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vidstega_core::PlacementKey;

    fn keys(b: u8) -> RobustKeys {
        RobustKeys::derive(&PlacementKey::from_bytes([b; 32]))
    }

    #[test]
    fn layout_splits_cells() {
        let l = Layout::new(&keys(1), 2040, 1);
        assert_eq!(l.header_cells.len(), 128);
        assert_eq!(l.data_cells.len(), 2040 - 128);
        let mut all: Vec<u32> = l.header_cells.iter().chain(&l.data_cells).copied().collect();
        all.sort_unstable();
        assert_eq!(all, (0..2040).collect::<Vec<_>>());
    }

    #[test]
    fn every_lap_holds_every_coded_bit_once() {
        let (m, d) = (3000usize, 700usize);
        let mut map = SlotMap::new(&keys(3), m, d);
        let mut seen = vec![0u32; m];
        // Periods 0..9 hold 6300 slots: two full laps and part of a third.
        for p in 0..9 {
            for k in 0..d {
                seen[map.coded_index(p, k)] += 1;
            }
        }
        assert!(seen.iter().all(|&c| c == 2 || c == 3));
        assert_eq!(seen.iter().map(|&c| c as usize).sum::<usize>(), 6300);
    }

    #[test]
    fn header_round_trip_and_wrong_key() {
        let h = Header {
            preset: 1,
            period: 123_456,
            payload_len: 4321,
        };
        let info = h.to_info(&keys(7));
        assert_eq!(Header::from_info(info, &keys(7)), Some(h));
        assert_eq!(Header::from_info(info, &keys(8)), None);
    }
}
