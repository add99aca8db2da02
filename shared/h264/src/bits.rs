//! Bit-level reading and writing of RBSP data (the NAL payload with the
//! emulation-prevention bytes removed), with the Exp-Golomb codes of
//! H.264 clause 9.1.

use crate::error::H264Error;

/// Writes bits MSB-first into a growing byte buffer.
#[derive(Debug, Default)]
pub(crate) struct BitWriter {
    bytes: Vec<u8>,
    /// Bits of the byte being filled, left-aligned in the low `fill` bits.
    current: u8,
    fill: u8,
}

impl BitWriter {
    pub(crate) fn with_capacity(bytes: usize) -> Self {
        BitWriter {
            bytes: Vec::with_capacity(bytes),
            current: 0,
            fill: 0,
        }
    }

    pub(crate) fn put_bit(&mut self, bit: u32) {
        self.current = (self.current << 1) | (bit & 1) as u8;
        self.fill += 1;
        if self.fill == 8 {
            self.bytes.push(self.current);
            self.current = 0;
            self.fill = 0;
        }
    }

    /// The low `count` bits of `value`, most significant first.
    pub(crate) fn put_bits(&mut self, value: u64, count: u32) {
        for i in (0..count).rev() {
            self.put_bit(((value >> i) & 1) as u32);
        }
    }

    /// `ue(v)`.
    pub(crate) fn put_ue(&mut self, value: u32) {
        let v = value as u64 + 1;
        let len = 64 - v.leading_zeros();
        self.put_bits(0, len - 1);
        self.put_bits(v, len);
    }

    /// `se(v)`.
    pub(crate) fn put_se(&mut self, value: i32) {
        let mapped = if value > 0 {
            (value as i64) * 2 - 1
        } else {
            -(value as i64) * 2
        };
        self.put_ue(mapped as u32);
    }

    pub(crate) fn is_aligned(&self) -> bool {
        self.fill == 0
    }

    /// Pads with `bit` up to the next byte boundary.
    pub(crate) fn align_with(&mut self, bit: u32) {
        while !self.is_aligned() {
            self.put_bit(bit);
        }
    }

    /// Appends whole bytes; the writer must be byte-aligned.
    pub(crate) fn put_aligned_bytes(&mut self, bytes: &[u8]) {
        debug_assert!(self.is_aligned());
        self.bytes.extend_from_slice(bytes);
    }

    /// `rbsp_trailing_bits()`: a one, then zeros to the byte boundary.
    pub(crate) fn put_trailing_bits(&mut self) {
        self.put_bit(1);
        self.align_with(0);
    }

    pub(crate) fn into_bytes(self) -> Vec<u8> {
        debug_assert!(self.is_aligned(), "an RBSP ends byte-aligned");
        self.bytes
    }
}

/// Reads bits MSB-first from RBSP bytes.
#[derive(Debug, Clone)]
pub(crate) struct BitReader<'a> {
    bytes: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    fn end(&self) -> H264Error {
        H264Error::Malformed("a slice ends in the middle of a syntax element".into())
    }

    pub(crate) fn bit(&mut self) -> Result<u32, H264Error> {
        let byte = *self.bytes.get(self.pos / 8).ok_or_else(|| self.end())?;
        let bit = (byte >> (7 - self.pos % 8)) & 1;
        self.pos += 1;
        Ok(bit as u32)
    }

    pub(crate) fn bits(&mut self, count: u32) -> Result<u64, H264Error> {
        let mut v = 0u64;
        for _ in 0..count {
            v = (v << 1) | self.bit()? as u64;
        }
        Ok(v)
    }

    pub(crate) fn ue(&mut self) -> Result<u32, H264Error> {
        let mut zeros = 0;
        while self.bit()? == 0 {
            zeros += 1;
            if zeros > 31 {
                return Err(H264Error::Malformed(
                    "an Exp-Golomb code is longer than 32 bits".into(),
                ));
            }
        }
        let rest = self.bits(zeros)?;
        Ok(((1u64 << zeros) - 1 + rest) as u32)
    }

    pub(crate) fn se(&mut self) -> Result<i32, H264Error> {
        let k = self.ue()? as i64;
        Ok(if k % 2 == 1 { (k + 1) / 2 } else { -(k / 2) } as i32)
    }

    pub(crate) fn is_aligned(&self) -> bool {
        self.pos.is_multiple_of(8)
    }

    /// Skips to the byte boundary; the skipped bits must all equal `bit`.
    pub(crate) fn align_expecting(&mut self, bit: u32, what: &str) -> Result<(), H264Error> {
        while !self.is_aligned() {
            if self.bit()? != bit {
                return Err(H264Error::Malformed(format!("{what} bits are not all {bit}")));
            }
        }
        Ok(())
    }

    /// `count` whole bytes; the reader must be byte-aligned.
    pub(crate) fn aligned_bytes(&mut self, count: usize) -> Result<&'a [u8], H264Error> {
        debug_assert!(self.is_aligned());
        let start = self.pos / 8;
        let bytes = self.bytes.get(start..start + count).ok_or_else(|| self.end())?;
        self.pos += count * 8;
        Ok(bytes)
    }

    /// Checks that only `rbsp_trailing_bits()` remain (a one, then zeros),
    /// optionally followed by `cabac_zero_word`s (zero bytes).
    pub(crate) fn expect_trailing_bits(&mut self) -> Result<(), H264Error> {
        if self.bit()? != 1 {
            return Err(H264Error::Malformed(
                "the slice data does not end with a stop bit".into(),
            ));
        }
        self.align_expecting(0, "rbsp_alignment_zero")?;
        self.expect_only_zero_bytes()
    }

    /// Checks that nothing but zero bytes (`cabac_zero_word`s) follows; the
    /// reader must be byte-aligned.
    pub(crate) fn expect_only_zero_bytes(&self) -> Result<(), H264Error> {
        if self.bytes[self.pos / 8..].iter().any(|&b| b != 0) {
            return Err(H264Error::Malformed("data follows the end of the slice".into()));
        }
        Ok(())
    }
}

/// Removes emulation-prevention bytes (`00 00 03` → `00 00`) from a NAL
/// unit's payload (the bytes after its one-byte header).
pub fn unescape(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len());
    let mut zeros = 0;
    for &b in payload {
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    out
}

/// Inserts emulation-prevention bytes so the payload contains no start-code
/// prefix: a `03` before any byte `00..=03` that follows two zero bytes, and
/// after two final zero bytes (an RBSP ends in its stop bit, or in
/// `cabac_zero_word`s).
pub fn escape(rbsp: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(rbsp.len() + rbsp.len() / 256 + 4);
    let mut zeros = 0;
    for &b in rbsp {
        if zeros >= 2 && b <= 3 {
            out.push(3);
            zeros = 0;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        out.push(b);
    }
    if zeros >= 2 {
        out.push(3);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_golomb_round_trips() {
        let mut w = BitWriter::default();
        let values = [0u32, 1, 2, 3, 25, 254, 255, 65_535, 1 << 20];
        let signed = [0i32, 1, -1, 2, -2, 26, -51, 1000];
        for &v in &values {
            w.put_ue(v);
        }
        for &v in &signed {
            w.put_se(v);
        }
        w.put_trailing_bits();
        let bytes = w.into_bytes();
        let mut r = BitReader::new(&bytes);
        for &v in &values {
            assert_eq!(r.ue().unwrap(), v);
        }
        for &v in &signed {
            assert_eq!(r.se().unwrap(), v);
        }
        r.expect_trailing_bits().unwrap();
    }

    #[test]
    fn ue_25_is_the_i_pcm_code() {
        let mut w = BitWriter::default();
        w.put_ue(25);
        w.align_with(0);
        // 26 = 0b11010: four leading zeros, then 11010.
        assert_eq!(w.into_bytes(), vec![0b0000_1101, 0b0000_0000]);
    }

    #[test]
    fn escaping_removes_every_start_code_and_round_trips() {
        let cases: Vec<Vec<u8>> = vec![
            vec![0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4],
            vec![1, 0, 0],
            vec![0, 0, 0, 0, 7],
            vec![9, 0x80, 0, 0],
            (0..=255).collect(),
        ];
        for rbsp in cases {
            let escaped = escape(&rbsp);
            for w in escaped.windows(3) {
                assert!(!(w[0] == 0 && w[1] == 0 && w[2] <= 2), "{escaped:?}");
            }
            assert_ne!(escaped.last(), Some(&0));
            assert_eq!(unescape(&escaped), rbsp);
        }
    }
}
