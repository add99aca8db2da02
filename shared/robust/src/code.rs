//! The inner code: CCSDS LDPC codes from `labrador-ldpc`, decoded with soft
//! min-sum.
//!
//! * **Payload**: the TM2048 code (AR4JA, `n = 2048` sent bits, `k = 1024`,
//!   rate 1/2, 512 punctured bits the decoder restores). The payload's bits
//!   (MSB-first) fill codewords of 1024 information bits; the last codeword is
//!   *shortened*: its missing information bits are zero, are not sent, and are
//!   decoded as certain zeros. The coded bit string is, codeword after
//!   codeword, the sent information bits followed by the 1024 parity bits.
//! * **Period header**: the TC128 code (`n = 128`, `k = 64`, rate 1/2).

use labrador_ldpc::LDPCCode;

/// The payload code.
pub(crate) const DATA_CODE: LDPCCode = LDPCCode::TM2048;
/// Information bits per payload codeword.
pub(crate) const K_BITS: usize = 1024;
/// Parity bits sent per payload codeword.
pub(crate) const P_BITS: usize = 1024;
/// The header code.
pub(crate) const HEADER_CODE: LDPCCode = LDPCCode::TC128;
/// Min-sum iterations.
const MAX_ITERS: usize = 60;
/// The LLR of a bit known to be zero (shortened).
const CERTAIN: f32 = 1.0e6;

/// The coded layout of one payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PayloadCode {
    /// Payload bytes.
    pub bytes: usize,
    /// Codewords.
    pub codewords: usize,
    /// Coded bits sent, `M`.
    pub coded_bits: usize,
}

/// Result of decoding every codeword.
pub(crate) struct Decoded {
    /// The payload bytes (failed codewords hold the decoder's last hard decisions).
    pub bytes: Vec<u8>,
    /// Per codeword: did it decode (all parity checks satisfied)?
    pub ok: Vec<bool>,
    /// The coded bits of the decoded (or last hard-decided) codewords.
    pub coded: Vec<u8>,
}

impl PayloadCode {
    /// The layout for a `bytes`-byte payload.
    pub fn new(bytes: usize) -> Self {
        let codewords = (bytes * 8).div_ceil(K_BITS);
        PayloadCode {
            bytes,
            codewords,
            coded_bits: Self::coded_bits_for(bytes),
        }
    }

    /// `M` for a `bytes`-byte payload: `8·bytes + 1024·codewords`.
    pub fn coded_bits_for(bytes: usize) -> usize {
        bytes * 8 + P_BITS * (bytes * 8).div_ceil(K_BITS)
    }

    /// Information bits sent in codeword `q`.
    fn info_bits(&self, q: usize) -> usize {
        (self.bytes * 8 - q * K_BITS).min(K_BITS)
    }

    /// Offset of codeword `q` in the coded bit string.
    fn offset(&self, q: usize) -> usize {
        q * (K_BITS + P_BITS)
    }

    /// The coded bits (one per byte, 0 or 1) of `payload`.
    pub fn encode(&self, payload: &[u8]) -> Vec<u8> {
        assert_eq!(payload.len(), self.bytes);
        let mut out = Vec::with_capacity(self.coded_bits);
        let mut cw = vec![0u8; DATA_CODE.n() / 8];
        for q in 0..self.codewords {
            let chunk = &payload[q * K_BITS / 8..((q + 1) * K_BITS / 8).min(self.bytes)];
            let mut data = [0u8; K_BITS / 8];
            data[..chunk.len()].copy_from_slice(chunk);
            DATA_CODE.copy_encode(&data, &mut cw);
            let kq = self.info_bits(q);
            out.extend((0..kq).map(|i| bit(&cw, i)));
            out.extend((K_BITS..K_BITS + P_BITS).map(|i| bit(&cw, i)));
        }
        debug_assert_eq!(out.len(), self.coded_bits);
        out
    }

    /// Decodes from accumulated LLRs (positive = 0), one per coded bit.
    pub fn decode(&self, llr: &[f32]) -> Decoded {
        assert_eq!(llr.len(), self.coded_bits);
        let code = DATA_CODE;
        let mut work = vec![0f32; code.decode_ms_working_len()];
        let mut work_u8 = vec![0u8; code.decode_ms_working_u8_len()];
        let mut out = vec![0u8; code.output_len()];
        let mut input = vec![0f32; code.n()];
        let mut bytes = Vec::with_capacity(self.codewords * K_BITS / 8);
        let mut ok = Vec::with_capacity(self.codewords);
        let mut coded = Vec::with_capacity(self.coded_bits);
        for q in 0..self.codewords {
            let (off, kq) = (self.offset(q), self.info_bits(q));
            for (i, v) in input.iter_mut().enumerate() {
                *v = if i < kq {
                    llr[off + i]
                } else if i < K_BITS {
                    CERTAIN
                } else {
                    llr[off + kq + (i - K_BITS)]
                };
            }
            let (good, _) = code.decode_ms(&input, &mut out, &mut work, &mut work_u8, MAX_ITERS);
            // Shortened bits must come back zero, else the "codeword" is not ours.
            let good = good && (kq..K_BITS).all(|i| bit(&out, i) == 0);
            ok.push(good);
            bytes.extend_from_slice(&out[..K_BITS / 8]);
            coded.extend((0..kq).map(|i| bit(&out, i)));
            coded.extend((K_BITS..K_BITS + P_BITS).map(|i| bit(&out, i)));
        }
        bytes.truncate(self.bytes);
        Decoded { bytes, ok, coded }
    }
}

/// Bit `i` (MSB-first) of `b`.
#[inline]
pub(crate) fn bit(b: &[u8], i: usize) -> u8 {
    (b[i / 8] >> (7 - i % 8)) & 1
}

/// Encodes the 8-byte header into 128 coded bits (0/1).
pub(crate) fn header_encode(info: &[u8; 8]) -> Vec<u8> {
    let mut cw = vec![0u8; HEADER_CODE.n() / 8];
    HEADER_CODE.copy_encode(info, &mut cw);
    (0..HEADER_CODE.n()).map(|i| bit(&cw, i)).collect()
}

/// Decodes 128 header LLRs (positive = 0); `None` if the decoder does not converge.
pub(crate) fn header_decode(llr: &[f32]) -> Option<[u8; 8]> {
    let code = HEADER_CODE;
    let mut work = vec![0f32; code.decode_ms_working_len()];
    let mut work_u8 = vec![0u8; code.decode_ms_working_u8_len()];
    let mut out = vec![0u8; code.output_len()];
    let (good, _) = code.decode_ms(llr, &mut out, &mut work, &mut work_u8, MAX_ITERS);
    good.then(|| out[..8].try_into().expect("8 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(seed: u64, n: usize) -> Vec<f32> {
        // Box–Muller on SplitMix64.
        let mut s = seed;
        let mut next = move || {
            s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
            (vidstega_core::mix64(s) >> 11) as f64 / (1u64 << 53) as f64
        };
        (0..n)
            .map(|_| {
                let (u1, u2) = (next().max(1e-300), next());
                ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
            })
            .collect()
    }

    #[test]
    fn payload_round_trip_through_noise_and_erasures() {
        for len in [1usize, 100, 128, 129, 300] {
            let payload: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let code = PayloadCode::new(len);
            let bits = code.encode(&payload);
            assert_eq!(bits.len(), code.coded_bits);
            let n = noise(len as u64, bits.len());
            // BPSK at Es/N0 = 1 dB with 20% of the bits erased.
            let sigma = (1.0 / (2.0 * 10f32.powf(0.1))).sqrt();
            let llr: Vec<f32> = bits
                .iter()
                .zip(&n)
                .enumerate()
                .map(|(i, (&b, &z))| {
                    if i % 5 == 0 {
                        0.0
                    } else {
                        let y = if b == 0 { 1.0 } else { -1.0 } + sigma * z;
                        2.0 * y / (sigma * sigma)
                    }
                })
                .collect();
            let d = code.decode(&llr);
            assert!(d.ok.iter().all(|&o| o), "len {len}");
            assert_eq!(d.bytes, payload);
            assert_eq!(d.coded, bits);
        }
    }

    #[test]
    fn header_round_trip() {
        let info = [1, 2, 3, 4, 5, 6, 7, 8];
        let bits = header_encode(&info);
        let mut llr: Vec<f32> = bits.iter().map(|&b| if b == 0 { 1.0 } else { -1.0 }).collect();
        for v in llr.iter_mut().step_by(29) {
            *v = -*v;
        }
        assert_eq!(header_decode(&llr), Some(info));
    }
}
