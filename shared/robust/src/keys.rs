//! Subkeys of robust mode and the keyed streams they drive.
//!
//! Everything robust mode keys comes from the core's [`PlacementKey`] (the
//! 32 bytes an embedding service receives) through HKDF-SHA256 with labels of
//! its own, so robust mode never reuses a subkey of the LSB layouts:
//!
//! | subkey | label | drives |
//! |---|---|---|
//! | `K_rdith` | `vidstega robust v1 dither` | the QIM dither of every cell and period |
//! | `K_rwhite` | `vidstega robust v1 whitening` | the whitening of the data slots |
//! | `K_rperm` | `vidstega robust v1 interleaver` | the lap permutations of the coded bits |
//! | `K_rlay` | `vidstega robust v1 layout` | which cells carry the period header |
//! | `K_rhdr` | `vidstega robust v1 header` | the header's tag and whitening |

use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use vidstega_core::PlacementKey;
use zeroize::Zeroizing;

/// Nonce of the header dither for hypothesis `h` (`p mod 4`): far above any period index.
pub(crate) const HEADER_DITHER_NONCE: u64 = 1 << 63;

type Secret = Zeroizing<[u8; 32]>;

/// The subkeys of robust mode.
#[derive(Clone)]
pub(crate) struct RobustKeys {
    dither: Secret,
    white: Secret,
    perm: Secret,
    layout: Secret,
    header: Secret,
}

impl RobustKeys {
    /// Derives the robust-mode subkeys from a placement key.
    pub(crate) fn derive(key: &PlacementKey) -> Self {
        let hk = Hkdf::<Sha256>::new(None, key.as_bytes());
        let expand = |info: &[u8]| {
            let mut k = Zeroizing::new([0u8; 32]);
            hk.expand(info, &mut k[..])
                .expect("32 bytes is a valid HKDF-SHA256 length");
            k
        };
        RobustKeys {
            dither: expand(b"vidstega robust v1 dither"),
            white: expand(b"vidstega robust v1 whitening"),
            perm: expand(b"vidstega robust v1 interleaver"),
            layout: expand(b"vidstega robust v1 layout"),
            header: expand(b"vidstega robust v1 header"),
        }
    }

    /// `len` bytes of ChaCha20 keystream under `K_rdith`, nonce `n`.
    pub(crate) fn dither_stream(&self, nonce: u64, len: usize) -> Vec<u8> {
        stream(&self.dither, nonce, len)
    }

    /// `len` bytes of keystream under `K_rwhite`, nonce `n`.
    pub(crate) fn white_stream(&self, nonce: u64, len: usize) -> Vec<u8> {
        stream(&self.white, nonce, len)
    }

    /// `len` bytes of keystream under `K_rlay`, nonce 0.
    pub(crate) fn layout_stream(&self, len: usize) -> Vec<u8> {
        stream(&self.layout, 0, len)
    }

    /// The 8-byte header whitening mask: keystream under `K_rhdr`, nonce 0.
    pub(crate) fn header_mask(&self) -> [u8; 8] {
        stream(&self.header, 0, 8).try_into().expect("8 bytes")
    }

    /// The 16-bit header tag: the first two bytes of `HMAC(K_rhdr, fields)`.
    pub(crate) fn header_tag(&self, fields: &[u8]) -> u16 {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.header[..]).expect("any key length");
        mac.update(fields);
        let out = mac.finalize().into_bytes();
        u16::from_be_bytes([out[0], out[1]])
    }

    /// The four 64-bit words of `K_rperm` (little-endian), from which lap keys are made.
    pub(crate) fn perm_words(&self) -> [u64; 4] {
        let k = &self.perm;
        std::array::from_fn(|i| u64::from_le_bytes(k[8 * i..8 * i + 8].try_into().expect("8 bytes")))
    }
}

/// ChaCha20 keystream (RFC 8439, counter 0) with nonce `0u32 ‖ u64le(n)`.
fn stream(key: &[u8; 32], nonce: u64, len: usize) -> Vec<u8> {
    let mut iv = [0u8; 12];
    iv[4..].copy_from_slice(&nonce.to_le_bytes());
    let mut c = ChaCha20::new(key.into(), &iv.into());
    let mut out = vec![0u8; len];
    c.apply_keystream(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subkeys_differ_and_streams_are_deterministic() {
        let a = RobustKeys::derive(&PlacementKey::from_bytes([1; 32]));
        let b = RobustKeys::derive(&PlacementKey::from_bytes([2; 32]));
        assert_eq!(a.dither_stream(5, 16), a.dither_stream(5, 16));
        assert_ne!(a.dither_stream(5, 16), a.dither_stream(6, 16));
        assert_ne!(a.dither_stream(5, 16), b.dither_stream(5, 16));
        assert_ne!(a.dither_stream(5, 16), a.white_stream(5, 16));
        assert_ne!(a.header_tag(b"x"), b.header_tag(b"x"));
    }
}
