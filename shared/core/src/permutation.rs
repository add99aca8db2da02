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
//! The round function is the SplitMix64 finaliser of `half XOR round_key`,
//! masked to the other half's width. (A single multiply-shift round was
//! measured to spread positions visibly less evenly, so it is not used.)
//! Round keys are per frame (see [`crate::layout`]) so every frame has its own
//! order. The permutation hides positions from anyone without the placement
//! key; it does not need to be, and is not claimed to be, a cryptographic PRP.

/// Rounds of the Feistel network.
pub const ROUNDS: usize = 4;

/// SplitMix64's output function: a fast, well-mixing 64-bit bijection.
#[inline(always)]
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The permutation of `[0, domain)` for one frame.
#[derive(Clone, Debug)]
pub struct FramePermutation {
    domain: u64,
    right_bits: u32,
    left_mask: u64,
    right_mask: u64,
    keys: [u64; ROUNDS],
}

/// One round: `mix64(v ^ k)` masked to the other half.
#[inline(always)]
fn round(v: u64, k: u64, mask: u64) -> u64 {
    mix64(v ^ k) & mask
}

impl FramePermutation {
    /// A permutation of `[0, domain)` keyed by four round keys. `domain >= 2`.
    pub fn new(domain: u64, keys: [u64; ROUNDS]) -> Self {
        assert!(domain >= 2, "a permutation needs at least two positions");
        let bits = (64 - (domain - 1).leading_zeros()).max(2);
        let left_bits = bits / 2;
        let right_bits = bits - left_bits;
        FramePermutation {
            domain,
            right_bits,
            left_mask: (1u64 << left_bits) - 1,
            right_mask: (1u64 << right_bits) - 1,
            keys,
        }
    }

    /// Number of positions.
    pub fn domain(&self) -> u64 {
        self.domain
    }

    #[inline(always)]
    fn encrypt(&self, x: u64) -> u64 {
        let mut l = x >> self.right_bits;
        let mut r = x & self.right_mask;
        l ^= round(r, self.keys[0], self.left_mask);
        r ^= round(l, self.keys[1], self.right_mask);
        l ^= round(r, self.keys[2], self.left_mask);
        r ^= round(l, self.keys[3], self.right_mask);
        (l << self.right_bits) | r
    }

    #[inline(always)]
    fn decrypt(&self, y: u64) -> u64 {
        let mut l = y >> self.right_bits;
        let mut r = y & self.right_mask;
        r ^= round(l, self.keys[3], self.right_mask);
        l ^= round(r, self.keys[2], self.left_mask);
        r ^= round(l, self.keys[1], self.right_mask);
        l ^= round(r, self.keys[0], self.left_mask);
        (l << self.right_bits) | r
    }

    /// The position of carried bit `i` (`i < domain`).
    #[inline]
    pub fn forward(&self, i: u64) -> u64 {
        debug_assert!(i < self.domain);
        let mut y = self.encrypt(i);
        while y >= self.domain {
            y = self.encrypt(y);
        }
        y
    }

    /// The carried-bit index stored at position `p` (`p < domain`).
    #[inline]
    pub fn inverse(&self, p: u64) -> u64 {
        debug_assert!(p < self.domain);
        let mut x = self.decrypt(p);
        while x >= self.domain {
            x = self.decrypt(x);
        }
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn is_a_bijection(domain in 2u64..5000, k in any::<[u64; 4]>()) {
            let p = FramePermutation::new(domain, k);
            let mut seen = vec![false; domain as usize];
            for i in 0..domain {
                let y = p.forward(i);
                prop_assert!(y < domain);
                prop_assert!(!seen[y as usize], "position {} repeated", y);
                seen[y as usize] = true;
                prop_assert_eq!(p.inverse(y), i);
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
        // The first 10% of positions should fall evenly into 16 bands of the frame.
        let n = 2560 * 1440;
        let p = FramePermutation::new(n, [11, 22, 33, 44]);
        let mut bands = [0u64; 16];
        let take = n / 10;
        for i in 0..take {
            bands[(p.forward(i) * 16 / n) as usize] += 1;
        }
        let expect = take as f64 / 16.0;
        for b in bands {
            assert!((b as f64 - expect).abs() / expect < 0.02, "{bands:?}");
        }
    }
}
