//! Key derivation.
//!
//! Two independent derivations start from the password:
//!
//! * the **placement key** — PBKDF2-HMAC-SHA256 at [`PLACEMENT_ITERATIONS`]. From
//!   format version 3 on, compact and lossless mode salt it per message: the
//!   PBKDF2 salt is [`SALTED_PLACEMENT_LABEL`] followed by the message's own random
//!   16-byte salt, which the video carries in the clear in every carrying picture
//!   (the *salt slot*, see [`crate::salt_slot`]), so an extractor holding only the
//!   password and the video can still derive it. Versions 1 and 2, and robust
//!   mode (whose pictures keep no sample exact), use the fixed public salt
//!   [`PLACEMENT_SALT`]. The placement key is all an embedding service ever
//!   receives. Being a PBKDF2 output it reveals the password only to a search at
//!   600,000 HMAC iterations per guess — per message, once salted, so one
//!   dictionary pass no longer attacks every job at once — and it reveals nothing
//!   about the encryption key, whose PBKDF2 salt is different;
//! * the **encryption key** — PBKDF2-HMAC-SHA256 with a random 16-byte salt and an
//!   iteration count that are both stored in the header, then HKDF-SHA256 to split
//!   the output into the AES-256-GCM key and nonce.
//!
//! The placement key is further split with HKDF into the subkeys that drive the
//! permutation, the whitening keystream, the ±1 direction, the header MAC and
//! (format version 2) the choice of carrier pictures.

use crate::envelope::{seal_with_salt, Envelope, EnvelopeHeader, SealParams};
use crate::error::Result;
use hkdf::Hkdf;
use sha2::Sha256;
use zeroize::Zeroizing;

/// The first format version whose compact- and lossless-mode placement key is
/// salted with the message salt (and whose carrying pictures hold the salt slot).
pub const SALTED_PLACEMENT_VERSION: u16 = 3;

/// Salt of the unsalted placement-key derivation (public and fixed: format
/// versions 1 and 2, and robust mode).
pub const PLACEMENT_SALT: &[u8] = b"VidStega placement key v1";
/// First bytes of the salted placement-key derivation's PBKDF2 salt (format
/// version 3): the message's 16-byte salt follows them.
pub const SALTED_PLACEMENT_LABEL: &[u8] = b"VidStega placement key v3";
/// PBKDF2 iterations of the placement-key derivation (fixed for every format version).
pub const PLACEMENT_ITERATIONS: u32 = 600_000;
/// Default PBKDF2 iterations of the encryption-key derivation (stored per message).
pub const DEFAULT_KDF_ITERATIONS: u32 = 600_000;
/// Fewest encryption-key iterations a header may declare when opened.
pub const MIN_KDF_ITERATIONS: u32 = 1_000;

/// The key that decides where bits go in each frame. Safe to hand to an
/// embedding service: it reveals neither the password nor the encryption key.
#[derive(Clone)]
pub struct PlacementKey {
    bytes: Zeroizing<[u8; 32]>,
    origin: KeyOrigin,
}

/// How a placement key was made, which decides the payloads it may place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyOrigin {
    /// Derived with the fixed public salt: format versions 1 and 2, robust mode.
    FixedSalt,
    /// Derived with this message salt (format version 3 and later).
    Salted([u8; 16]),
    /// 32 bytes received from a client, whose derivation is not known here:
    /// the payload's version says which it was.
    Received,
}

impl std::fmt::Debug for PlacementKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PlacementKey(<redacted>)")
    }
}

impl PlacementKey {
    /// Derive the placement key with the fixed public salt (PBKDF2, 600,000
    /// iterations: ~0.2 s): the key of format versions 1 and 2 and of robust
    /// mode. A compact- or lossless-mode payload of version 3 takes
    /// [`PlacementKey::derive_for`].
    pub fn derive(password: &[u8]) -> Self {
        let mut out = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(password, PLACEMENT_SALT, PLACEMENT_ITERATIONS, &mut out[..]);
        PlacementKey {
            bytes: out,
            origin: KeyOrigin::FixedSalt,
        }
    }

    /// Derive the placement key salted with a message salt (format version 3;
    /// PBKDF2, 600,000 iterations: ~0.2 s).
    pub fn derive_salted(password: &[u8], salt: &[u8; 16]) -> Self {
        let mut pbkdf2_salt = SALTED_PLACEMENT_LABEL.to_vec();
        pbkdf2_salt.extend_from_slice(salt);
        let mut out = Zeroizing::new([0u8; 32]);
        pbkdf2::pbkdf2_hmac::<Sha256>(password, &pbkdf2_salt, PLACEMENT_ITERATIONS, &mut out[..]);
        PlacementKey {
            bytes: out,
            origin: KeyOrigin::Salted(*salt),
        }
    }

    /// The key that places `envelope` in compact or lossless mode: salted
    /// with its salt from format version 3 on, the fixed salt before.
    pub fn derive_for(password: &[u8], envelope: &EnvelopeHeader) -> Self {
        if envelope.version >= SALTED_PLACEMENT_VERSION {
            Self::derive_salted(password, &envelope.salt)
        } else {
            Self::derive(password)
        }
    }

    /// Wrap 32 bytes received from a client (an embedding service's key: the
    /// payload's format version says how the client derived it).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        PlacementKey {
            bytes: Zeroizing::new(bytes),
            origin: KeyOrigin::Received,
        }
    }

    /// The raw 32 bytes, for sending to an embedding service.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// How the key was made.
    pub fn origin(&self) -> KeyOrigin {
        self.origin
    }

    pub(crate) fn subkeys(&self) -> Subkeys {
        let hk = Hkdf::<Sha256>::new(None, &self.bytes[..]);
        let expand = |info: &[u8]| {
            let mut k = Zeroizing::new([0u8; 32]);
            hk.expand(info, &mut k[..])
                .expect("32 bytes is a valid HKDF-SHA256 length");
            k
        };
        Subkeys {
            permutation: expand(b"vidstega v1 permutation"),
            whitening: expand(b"vidstega v1 whitening"),
            direction: expand(b"vidstega v1 direction"),
            header_mac: expand(b"vidstega v1 header mac"),
            carriers: expand(b"vidstega v2 carriers"),
        }
    }
}

/// Seals `message` for compact or lossless mode and derives the placement key
/// salted with the sealed payload's fresh salt, the two PBKDF2 derivations in
/// parallel (~0.2 s each).
pub fn seal_for_placement(
    message: &[u8],
    password: &[u8],
    params: &SealParams,
) -> Result<(PlacementKey, Envelope)> {
    let salt = crate::envelope::random_salt()?;
    let (key, envelope) = rayon::join(
        || PlacementKey::derive_salted(password, &salt),
        || seal_with_salt(message, password, params, salt),
    );
    Ok((key, envelope?))
}

/// Subkeys split from the placement key.
#[derive(Clone)]
pub(crate) struct Subkeys {
    pub permutation: Zeroizing<[u8; 32]>,
    pub whitening: Zeroizing<[u8; 32]>,
    pub direction: Zeroizing<[u8; 32]>,
    pub header_mac: Zeroizing<[u8; 32]>,
    /// Which pictures become carriers (format version 2).
    pub carriers: Zeroizing<[u8; 32]>,
}

/// AES-256-GCM key and nonce for one sealed message.
pub(crate) struct CipherKey {
    pub key: Zeroizing<[u8; 32]>,
    pub nonce: [u8; 12],
}

/// Derive the AES-256-GCM key and nonce from the password and the message's salt.
///
/// The salt is random per message, so every message gets a fresh key and the
/// derived nonce is never reused under a key.
pub(crate) fn cipher_key(password: &[u8], salt: &[u8; 16], iterations: u32) -> CipherKey {
    let mut master = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut master[..]);
    let hk = Hkdf::<Sha256>::new(None, &master[..]);
    let mut key = Zeroizing::new([0u8; 32]);
    let mut nonce = [0u8; 12];
    hk.expand(b"vidstega v1 aes-256-gcm key", &mut key[..])
        .expect("valid length");
    hk.expand(b"vidstega v1 aes-256-gcm nonce", &mut nonce)
        .expect("valid length");
    CipherKey { key, nonce }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subkeys_are_distinct_and_deterministic() {
        let key = PlacementKey::from_bytes([7u8; 32]);
        let a = key.subkeys();
        let b = key.subkeys();
        assert_eq!(*a.permutation, *b.permutation);
        let all = [
            *a.permutation,
            *a.whitening,
            *a.direction,
            *a.header_mac,
            *a.carriers,
        ];
        for i in 0..all.len() {
            for j in i + 1..all.len() {
                assert_ne!(all[i], all[j]);
            }
        }
    }

    #[test]
    fn cipher_key_depends_on_salt_and_password() {
        let a = cipher_key(b"pw", &[1; 16], 1000);
        let b = cipher_key(b"pw", &[2; 16], 1000);
        let c = cipher_key(b"pX", &[1; 16], 1000);
        assert_ne!(*a.key, *b.key);
        assert_ne!(*a.key, *c.key);
        assert_ne!(a.nonce, b.nonce);
    }

    #[test]
    fn debug_does_not_print_the_key() {
        let key = PlacementKey::from_bytes([0xAB; 32]);
        let shown = format!("{key:?}");
        assert!(!shown.to_lowercase().contains("ab"), "{shown}");
    }
}
