//! A keyed permutation of the sample positions of one frame.
//!
//! Positions are produced by a 4-round Feistel network over the smallest
//! bit-width that holds the frame's sample count, made to fit the exact domain
//! by *cycle walking* (apply the network again until the value falls inside
//! the domain). This is a true bijection on `[0, N)` — no rejection sampling
//! over a set, no position ever repeats — and it is cheap in both directions,
//! which the embedder uses: sparse embedding walks forwards from bit index to
//! position, dense embedding walks the frame in memory order and asks which
//! bit (if any) each sample carries.
//!
//! The round function is MurmurHash3's 32-bit finaliser of `half XOR
//! round_key`, masked to the other half's width: two 32-bit multiplies, which
//! vectorise when sixteen positions are computed at once. (A one-multiply
//! round spread positions measurably less evenly; the 64-bit SplitMix
//! finaliser was as even but twice as slow.)
//! Round keys are per frame (see [`crate::layout`]) so every frame has its own
//! order. The permutation hides positions from anyone without the placement
//! key; it does not need to be, and is not claimed to be, a cryptographic PRP.

/// Rounds of the Feistel network.
pub const ROUNDS: usize = 4;

/// Positions computed together by [`FramePermutation::forward_block`] and
/// [`FramePermutation::inverse_block`]: independent lanes the compiler turns
/// into SIMD, where a single position is a chain of dependent multiplies.
pub const BLOCK: usize = 16;

/// SplitMix64's output function: a fast, well-mixing 64-bit bijection.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// MurmurHash3's 32-bit finaliser, the Feistel round function.
#[inline(always)]
pub fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// The permutation of `[0, domain)` for one frame.
#[derive(Clone, Debug)]
pub struct FramePermutation {
    domain: u32,
    right_bits: u32,
    left_mask: u32,
    right_mask: u32,
    keys: [u32; ROUNDS],
}

impl FramePermutation {
    /// Largest domain: positions are 32-bit.
    pub const MAX_DOMAIN: u64 = u32::MAX as u64;

    /// A permutation of `[0, domain)` keyed by four round keys;
    /// `2 ≤ domain ≤ MAX_DOMAIN`.
    pub fn new(domain: u64, keys: [u32; ROUNDS]) -> Self {
        assert!(
            (2..=Self::MAX_DOMAIN).contains(&domain),
            "a permutation needs 2 to 2^32-1 positions"
        );
        let bits = (64 - (domain - 1).leading_zeros()).max(2);
        let left_bits = bits / 2;
        let right_bits = bits - left_bits;
        FramePermutation {
            domain: domain as u32,
            right_bits,
            left_mask: ((1u64 << left_bits) - 1) as u32,
            right_mask: ((1u64 << right_bits) - 1) as u32,
            keys,
        }
    }

    /// Number of positions.
    pub fn domain(&self) -> u64 {
        self.domain as u64
    }

    #[inline(always)]
    fn encrypt(&self, x: u32) -> u32 {
        let mut l = x >> self.right_bits;
        let mut r = x & self.right_mask;
        l ^= fmix32(r ^ self.keys[0]) & self.left_mask;
        r ^= fmix32(l ^ self.keys[1]) & self.right_mask;
        l ^= fmix32(r ^ self.keys[2]) & self.left_mask;
        r ^= fmix32(l ^ self.keys[3]) & self.right_mask;
        (l << self.right_bits) | r
    }

    #[inline(always)]
    fn decrypt(&self, y: u32) -> u32 {
        let mut l = y >> self.right_bits;
        let mut r = y & self.right_mask;
        r ^= fmix32(l ^ self.keys[3]) & self.right_mask;
        l ^= fmix32(r ^ self.keys[2]) & self.left_mask;
        r ^= fmix32(l ^ self.keys[1]) & self.right_mask;
        l ^= fmix32(r ^ self.keys[0]) & self.left_mask;
        (l << self.right_bits) | r
    }

    /// The position of carried bit `i` (`i < domain`).
    #[inline]
    pub fn forward(&self, i: u64) -> u64 {
        debug_assert!(i < self.domain as u64);
        let mut y = self.encrypt(i as u32);
        while y >= self.domain {
            y = self.encrypt(y);
        }
        y as u64
    }

    /// The carried-bit index stored at position `p` (`p < domain`).
    #[inline]
    pub fn inverse(&self, p: u64) -> u64 {
        debug_assert!(p < self.domain as u64);
        let mut x = self.decrypt(p as u32);
        while x >= self.domain {
            x = self.decrypt(x);
        }
        x as u64
    }

    /// Positions of carried bits `start .. start + BLOCK` (all `< domain`).
    #[inline]
    pub fn forward_block(&self, start: u64, out: &mut [u32; BLOCK]) {
        debug_assert!(start + BLOCK as u64 <= self.domain as u64);
        for (j, o) in out.iter_mut().enumerate() {
            *o = self.encrypt(start as u32 + j as u32);
        }
        for o in out.iter_mut() {
            while *o >= self.domain {
                *o = self.encrypt(*o);
            }
        }
    }

    /// Carried-bit indices at positions `start .. start + BLOCK` (all `< domain`).
    #[inline]
    pub fn inverse_block(&self, start: u64, out: &mut [u32; BLOCK]) {
        debug_assert!(start + BLOCK as u64 <= self.domain as u64);
        for (j, o) in out.iter_mut().enumerate() {
            *o = self.decrypt(start as u32 + j as u32);
        }
        for o in out.iter_mut() {
            while *o >= self.domain {
                *o = self.decrypt(*o);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn is_a_bijection(domain in 2u64..5000, k in any::<[u32; 4]>()) {
            let p = FramePermutation::new(domain, k);
            let mut seen = vec![false; domain as usize];
            for i in 0..domain {
                let y = p.forward(i);
                prop_assert!(y < domain);
                prop_assert!(!seen[y as usize], "position {} repeated", y);
                seen[y as usize] = true;
                prop_assert_eq!(p.inverse(y), i);
            }
            // Blocks agree with single evaluations.
            let mut block = [0u32; BLOCK];
            let mut i = 0;
            while i + BLOCK as u64 <= domain {
                p.forward_block(i, &mut block);
                for (j, &y) in block.iter().enumerate() {
                    prop_assert_eq!(y as u64, p.forward(i + j as u64));
                }
                p.inverse_block(i, &mut block);
                for (j, &x) in block.iter().enumerate() {
                    prop_assert_eq!(x as u64, p.inverse(i + j as u64));
                }
                i += BLOCK as u64;
            }
        }
    }

    #[test]
    fn different_keys_give_different_orders() {
        let a = FramePermutation::new(1 << 20, [1, 2, 3, 4]);
        let b = FramePermutation::new(1 << 20, [1, 2, 3, 5]);
        let same = (0..1000).filter(|&i| a.forward(i) == b.forward(i)).count();
        assert!(same < 5, "{same} of 1000 positions coincide");
    }

    #[test]
    fn positions_look_uniform() {
        // The first 10% of positions of a 1440p frame, counted in 16 bands:
        // the chi-square statistic (15 degrees of freedom; ~13.5 expected when
        // sampling without replacement) averaged over eight keys must look
        // like a random permutation's. A one-multiply round scored ~21 here.
        let n = 2560 * 1440;
        let take = n / 10;
        let expect = take as f64 / 16.0;
        let mut total = 0.0;
        for seed in 0..8u64 {
            let k = mix64(seed);
            let p = FramePermutation::new(
                n,
                [
                    k as u32,
                    (k >> 32) as u32,
                    mix64(k) as u32,
                    (mix64(k) >> 32) as u32,
                ],
            );
            let mut bands = [0u64; 16];
            for i in 0..take {
                bands[(p.forward(i) * 16 / n) as usize] += 1;
            }
            let chi2: f64 = bands.iter().map(|&b| (b as f64 - expect).powi(2) / expect).sum();
            assert!(chi2 < 40.0, "seed {seed}: chi2 {chi2:.1} {bands:?}");
            total += chi2;
        }
        let mean = total / 8.0;
        assert!(mean < 19.0, "mean chi2 {mean:.1}");
    }
}
