//! The CABAC arithmetic coder of H.264 clause 9.3, reduced to what an
//! I_PCM slice needs: regular bins for the first bin of `mb_type`,
//! terminate bins for the second bin of `mb_type` and `end_of_slice_flag`,
//! the flush before PCM samples, and re-initialisation after them.
//!
//! Written from the standard's flowcharts (9.3.1.2, 9.3.3.2, 9.3.4) with
//! 9-bit range and offset registers, one bit at a time: the slices it codes
//! hold a handful of bins per macroblock next to 384+ raw bytes, so speed
//! does not matter and a literal transcription is the easiest to check.

use crate::bits::{BitReader, BitWriter};
use crate::error::H264Error;

/// Table 9-44: `rangeTabLPS[pStateIdx][qCodIRangeIdx]`.
const RANGE_TAB_LPS: [[u8; 4]; 64] = [
    [128, 176, 208, 240],
    [128, 167, 197, 227],
    [128, 158, 187, 216],
    [123, 150, 178, 205],
    [116, 142, 169, 195],
    [111, 135, 160, 185],
    [105, 128, 152, 175],
    [100, 122, 144, 166],
    [95, 116, 137, 158],
    [90, 110, 130, 150],
    [85, 104, 123, 142],
    [81, 99, 117, 135],
    [77, 94, 111, 128],
    [73, 89, 105, 122],
    [69, 85, 100, 116],
    [66, 80, 95, 110],
    [62, 76, 90, 104],
    [59, 72, 86, 99],
    [56, 69, 81, 94],
    [53, 65, 77, 89],
    [51, 62, 73, 85],
    [48, 59, 69, 80],
    [46, 56, 66, 76],
    [43, 53, 63, 72],
    [41, 50, 59, 69],
    [39, 48, 56, 65],
    [37, 45, 54, 62],
    [35, 43, 51, 59],
    [33, 41, 48, 56],
    [32, 39, 46, 53],
    [30, 37, 43, 50],
    [29, 35, 41, 48],
    [27, 33, 39, 45],
    [26, 31, 37, 43],
    [24, 30, 35, 41],
    [23, 28, 33, 39],
    [22, 27, 32, 37],
    [21, 26, 30, 35],
    [20, 24, 29, 33],
    [19, 23, 27, 31],
    [18, 22, 26, 30],
    [17, 21, 25, 28],
    [16, 20, 23, 27],
    [15, 19, 22, 25],
    [14, 18, 21, 24],
    [14, 17, 20, 23],
    [13, 16, 19, 22],
    [12, 15, 18, 21],
    [12, 14, 17, 20],
    [11, 14, 16, 19],
    [11, 13, 15, 18],
    [10, 12, 15, 17],
    [10, 12, 14, 16],
    [9, 11, 13, 15],
    [9, 11, 12, 14],
    [8, 10, 12, 14],
    [8, 9, 11, 13],
    [7, 9, 11, 12],
    [7, 9, 10, 12],
    [7, 8, 10, 11],
    [6, 8, 9, 11],
    [6, 7, 9, 10],
    [6, 7, 8, 9],
    [2, 2, 2, 2],
];

/// Table 9-45: `transIdxLPS[pStateIdx]` (`transIdxMPS` is `min(p + 1, 62)`).
const TRANS_IDX_LPS: [u8; 64] = [
    0, 0, 1, 2, 2, 4, 4, 5, 6, 7, 8, 9, 9, 11, 11, 12, 13, 13, 15, 15, 16, 16, 18, 18, 19, 19, 21, 21, 22,
    22, 23, 24, 24, 25, 26, 26, 27, 27, 28, 29, 29, 30, 30, 30, 31, 32, 32, 33, 33, 33, 34, 34, 35, 35, 35,
    36, 36, 36, 37, 37, 37, 38, 38, 63,
];

/// Table 9-12, ctxIdx 3..=5: `(m, n)` of the contexts of the first bin of
/// `mb_type` in I slices (ctxIdxInc 0, 1, 2).
const MB_TYPE_I_INIT: [(i32, i32); 3] = [(20, -15), (2, 54), (3, 74)];

/// One context variable: probability state and most probable symbol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Context {
    state: u8,
    mps: u8,
}

impl Context {
    /// 9.3.1.1: initialisation from `(m, n)` at slice QP `qp`.
    fn new((m, n): (i32, i32), qp: i32) -> Self {
        let pre = (((m * qp.clamp(0, 51)) >> 4) + n).clamp(1, 126);
        if pre <= 63 {
            Context {
                state: (63 - pre) as u8,
                mps: 0,
            }
        } else {
            Context {
                state: (pre - 64) as u8,
                mps: 1,
            }
        }
    }

    fn lps_range(&self, range: u32) -> u32 {
        RANGE_TAB_LPS[self.state as usize][((range >> 6) & 3) as usize] as u32
    }

    fn update(&mut self, was_mps: bool) {
        if was_mps {
            self.state = (self.state + 1).min(62);
        } else {
            if self.state == 0 {
                self.mps = 1 - self.mps;
            }
            self.state = TRANS_IDX_LPS[self.state as usize];
        }
    }
}

/// The three contexts of `mb_type`'s first bin in an I slice, initialised for
/// slice QP `qp`. Index = ctxIdxInc = number of available neighbours A and B
/// whose `mb_type` is not I_NxN.
pub(crate) fn mb_type_contexts(qp: i32) -> [Context; 3] {
    MB_TYPE_I_INIT.map(|mn| Context::new(mn, qp))
}

/// 9.3.4: the arithmetic encoder, writing into a [`BitWriter`].
pub(crate) struct Encoder {
    low: u32,
    range: u32,
    outstanding: u32,
    first_bit: bool,
}

impl Encoder {
    /// 9.3.4.1: a fresh engine (at the start of slice data, and after PCM samples).
    pub(crate) fn new() -> Self {
        Encoder {
            low: 0,
            range: 510,
            outstanding: 0,
            first_bit: true,
        }
    }

    fn put_bit(&mut self, w: &mut BitWriter, bit: u32) {
        if self.first_bit {
            self.first_bit = false;
        } else {
            w.put_bit(bit);
        }
        while self.outstanding > 0 {
            w.put_bit(1 - bit);
            self.outstanding -= 1;
        }
    }

    fn renorm(&mut self, w: &mut BitWriter) {
        while self.range < 256 {
            if self.low < 256 {
                self.put_bit(w, 0);
            } else if self.low >= 512 {
                self.low -= 512;
                self.put_bit(w, 1);
            } else {
                self.low -= 256;
                self.outstanding += 1;
            }
            self.range <<= 1;
            self.low <<= 1;
        }
    }

    /// 9.3.4.2: a regular bin coded with `ctx`.
    pub(crate) fn decision(&mut self, w: &mut BitWriter, ctx: &mut Context, bin: u32) {
        let lps = ctx.lps_range(self.range);
        self.range -= lps;
        let mps = bin == ctx.mps as u32;
        if !mps {
            self.low += self.range;
            self.range = lps;
        }
        ctx.update(mps);
        self.renorm(w);
    }

    /// 9.3.4.5: a terminate bin. A one ends the arithmetic code: the flush
    /// writes its last bits, the final one of which is a 1 (the
    /// `rbsp_stop_one_bit` at the end of a slice). The caller aligns after it.
    pub(crate) fn terminate(&mut self, w: &mut BitWriter, bin: u32) {
        self.range -= 2;
        if bin != 0 {
            self.low += self.range;
            self.flush(w);
        } else {
            self.renorm(w);
        }
    }

    fn flush(&mut self, w: &mut BitWriter) {
        self.range = 2;
        self.renorm(w);
        let bit = (self.low >> 9) & 1;
        self.put_bit(w, bit);
        w.put_bits((((self.low >> 7) & 3) | 1) as u64, 2);
    }
}

/// 9.3.1.2 and 9.3.3.2: the arithmetic decoder, reading from a [`BitReader`].
pub(crate) struct Decoder {
    range: u32,
    offset: u32,
}

impl Decoder {
    /// Initialises the engine at the reader's position (reads 9 bits).
    pub(crate) fn new(r: &mut BitReader<'_>) -> Result<Self, H264Error> {
        let offset = r.bits(9)? as u32;
        if offset >= 510 {
            return Err(H264Error::Malformed("CABAC initial offset is 510 or 511".into()));
        }
        Ok(Decoder { range: 510, offset })
    }

    fn renorm(&mut self, r: &mut BitReader<'_>) -> Result<(), H264Error> {
        while self.range < 256 {
            self.range <<= 1;
            self.offset = (self.offset << 1) | r.bit()?;
        }
        Ok(())
    }

    /// 9.3.3.2.1: a regular bin.
    pub(crate) fn decision(&mut self, r: &mut BitReader<'_>, ctx: &mut Context) -> Result<u32, H264Error> {
        let lps = ctx.lps_range(self.range);
        self.range -= lps;
        let bin;
        if self.offset >= self.range {
            bin = 1 - ctx.mps as u32;
            self.offset -= self.range;
            self.range = lps;
            ctx.update(false);
        } else {
            bin = ctx.mps as u32;
            ctx.update(true);
        }
        self.renorm(r)?;
        Ok(bin)
    }

    /// 9.3.3.2.2.3: a terminate bin. After a one the reader stands just past
    /// the last bit of the encoder's flush: at the alignment bits before PCM
    /// samples, or past the `rbsp_stop_one_bit` at the end of a slice.
    pub(crate) fn terminate(&mut self, r: &mut BitReader<'_>) -> Result<u32, H264Error> {
        self.range -= 2;
        if self.offset >= self.range {
            Ok(1)
        } else {
            self.renorm(r)?;
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Bins coded by the encoder come back from the decoder, and the stream
    /// positions after terminate bins line up with the flush.
    #[test]
    fn encoder_and_decoder_agree() {
        let mut seed = 0x1234_5678u32;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed
        };
        for qp in [0, 12, 26, 51] {
            let mut w = BitWriter::default();
            let mut enc = Encoder::new();
            let mut ctx = mb_type_contexts(qp);
            let mut bins = Vec::new();
            for i in 0..2000 {
                let c = (next() % 3) as usize;
                // Skewed bins exercise both MPS and LPS paths and state changes.
                let bin = (next() % 10 < 8) as u32 ^ (i / 500 % 2);
                enc.decision(&mut w, &mut ctx[c], bin);
                bins.push((c, bin));
                if i % 97 == 0 {
                    enc.terminate(&mut w, 0);
                }
            }
            enc.terminate(&mut w, 1);
            w.align_with(0);
            let bytes = w.into_bytes();

            let mut r = BitReader::new(&bytes);
            let mut dec = Decoder::new(&mut r).unwrap();
            let mut ctx = mb_type_contexts(qp);
            for (i, &(c, bin)) in bins.iter().enumerate() {
                assert_eq!(
                    dec.decision(&mut r, &mut ctx[c]).unwrap(),
                    bin,
                    "bin {i} at qp {qp}"
                );
                if i % 97 == 0 {
                    assert_eq!(dec.terminate(&mut r).unwrap(), 0);
                }
            }
            assert_eq!(dec.terminate(&mut r).unwrap(), 1);
            // The flush's last bit was the final bit read; zeros follow.
            r.align_expecting(0, "alignment").unwrap();
            assert!(r.aligned_bytes(1).is_err(), "nothing after the flush");
        }
    }

    #[test]
    fn context_initialisation_follows_9_3_1_1() {
        // preCtxState = clip(1, 126, ((m * qp) >> 4) + n)
        let c = Context::new((20, -15), 26);
        // (20*26)>>4 = 32; 32 - 15 = 17 <= 63: state 46, MPS 0.
        assert_eq!(c, Context { state: 46, mps: 0 });
        let c = Context::new((3, 74), 26);
        // (78>>4)=4; 78 > 63: state 14, MPS 1.
        assert_eq!(c, Context { state: 14, mps: 1 });
    }
}
