//! Sealing: message → (deflate) → AES-256-GCM → Reed–Solomon stripes with a
//! checksum per shard → the *envelope*, the bytes an embedder carries.
//!
//! Sealing happens on the client; the envelope and the placement key are all
//! an embedding service needs. The layout is specified in `docs/format.md`.
//!
//! Shards are grouped into *stripes* of `k` data + `m` parity shards, and the
//! body stores them *slot-interleaved*: slot `s = j·G + g` holds shard `j` of
//! stripe `g` (with `G` stripes). Frames carry contiguous runs of the body, so
//! losing a contiguous run of frames — a whole segment — costs every stripe
//! only its fair share of shards, and a damaged frame costs one or two shards.

use crate::assembly::BodyAssembly;
use crate::error::{CoreError, Result};
use crate::keys::{cipher_key, DEFAULT_KDF_ITERATIONS, MIN_KDF_ITERATIONS};
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce, Tag};
use rayon::prelude::*;
use reed_solomon_erasure::galois_8::ReedSolomon;

/// Magic bytes opening an envelope.
pub const ENVELOPE_MAGIC: [u8; 4] = *b"VSGE";
/// The format version this build writes (it reads every version from
/// [`OLDEST_FORMAT_VERSION`] on).
pub const FORMAT_VERSION: u16 = 3;
/// The oldest format version this build reads.
pub const OLDEST_FORMAT_VERSION: u16 = 1;
/// Bytes of the envelope header (magic + parameters).
pub const ENVELOPE_HEADER_LEN: usize = 36;
/// Bytes of the parameter block shared by the envelope and the frame header.
pub const PARAMS_LEN: usize = 32;
/// Bytes of the AES-GCM tag appended to the ciphertext.
pub const TAG_LEN: usize = 16;
/// Bytes of the checksum after each shard.
pub const SHARD_CHECKSUM_LEN: usize = 4;
/// `kdf` field value for PBKDF2-HMAC-SHA256.
pub const KDF_PBKDF2_SHA256: u8 = 1;
/// Largest compressed message the format describes (the ciphertext length is a `u32`).
pub const MAX_MESSAGE_LEN: u64 = u32::MAX as u64 - TAG_LEN as u64;

const FLAG_DEFLATE: u8 = 0x01;

/// Settings chosen when sealing (all recorded in the header).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealParams {
    /// PBKDF2 iterations for the encryption key (≥ 1,000; default 600,000).
    pub kdf_iterations: u32,
    /// Deflate the message first, keeping the result only if it is smaller.
    pub compress: bool,
    /// Data shards per stripe, `k` (1..=255).
    pub data_shards: u8,
    /// Parity shards per stripe, `m` (1..=255, `k + m ≤ 256`): a stripe survives losing any `m` shards.
    pub parity_shards: u8,
    /// Largest shard, in bytes; larger messages get more stripes.
    pub max_shard_len: u16,
}

impl Default for SealParams {
    fn default() -> Self {
        SealParams {
            kdf_iterations: DEFAULT_KDF_ITERATIONS,
            compress: true,
            data_shards: 16,
            parity_shards: 4,
            max_shard_len: 16_384,
        }
    }
}

impl SealParams {
    /// Checks the settings, reporting every problem at once.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if self.kdf_iterations < MIN_KDF_ITERATIONS {
            problems.push(format!(
                "kdf iterations must be at least {MIN_KDF_ITERATIONS} (got {})",
                self.kdf_iterations
            ));
        }
        if self.data_shards == 0 {
            problems.push("data shards must be at least 1".to_string());
        }
        if self.parity_shards == 0 {
            problems.push("parity shards must be at least 1".to_string());
        }
        if self.data_shards as u32 + self.parity_shards as u32 > 256 {
            problems.push(format!(
                "data + parity shards must be at most 256 (got {} + {})",
                self.data_shards, self.parity_shards
            ));
        }
        if self.max_shard_len == 0 {
            problems.push("max shard length must be at least 1 byte".to_string());
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(CoreError::InvalidParameter(problems.join("; ")))
        }
    }

    /// The header a message whose (compressed) plaintext has `plain_len` bytes gets.
    pub(crate) fn header_for(
        &self,
        plain_len: u64,
        compressed: bool,
        salt: [u8; 16],
    ) -> Result<EnvelopeHeader> {
        if plain_len > MAX_MESSAGE_LEN {
            return Err(CoreError::MessageTooLarge {
                len: plain_len,
                max: MAX_MESSAGE_LEN,
            });
        }
        let c = plain_len + TAG_LEN as u64;
        let k = self.data_shards as u64;
        let shard_len = c.div_ceil(k).clamp(1, self.max_shard_len as u64);
        Ok(EnvelopeHeader {
            version: FORMAT_VERSION,
            compressed,
            kdf_iterations: self.kdf_iterations,
            salt,
            ciphertext_len: c as u32,
            data_shards: self.data_shards,
            parity_shards: self.parity_shards,
            shard_len: shard_len as u16,
        })
    }

    /// Bits of the sealed body for a message of `message_len` bytes stored uncompressed.
    pub fn body_bits_for(&self, message_len: u64) -> Result<u64> {
        self.validate()?;
        Ok(self.header_for(message_len, false, [0; 16])?.body_bits())
    }
}

/// The parameters of one sealed message (the envelope header without its magic).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// Format version.
    pub version: u16,
    /// Whether the plaintext was deflated before encryption.
    pub compressed: bool,
    /// PBKDF2 iterations for the encryption key.
    pub kdf_iterations: u32,
    /// PBKDF2 salt for the encryption key.
    pub salt: [u8; 16],
    /// Ciphertext bytes including the 16-byte tag (`C`).
    pub ciphertext_len: u32,
    /// Data shards per stripe (`k`).
    pub data_shards: u8,
    /// Parity shards per stripe (`m`).
    pub parity_shards: u8,
    /// Bytes per shard (`L`).
    pub shard_len: u16,
}

impl EnvelopeHeader {
    /// Number of stripes `G = ceil(C / (k·L))`.
    pub fn stripes(&self) -> u64 {
        (self.ciphertext_len as u64).div_ceil(self.data_shards as u64 * self.shard_len as u64)
    }

    /// Shards per stripe, `k + m`.
    pub fn shards_per_stripe(&self) -> u64 {
        self.data_shards as u64 + self.parity_shards as u64
    }

    /// Bytes per slot: a shard and its checksum.
    pub fn slot_len(&self) -> u64 {
        self.shard_len as u64 + SHARD_CHECKSUM_LEN as u64
    }

    /// Slots in the body, `G·(k+m)`.
    pub fn slots(&self) -> u64 {
        self.stripes() * self.shards_per_stripe()
    }

    /// Bytes of the body.
    pub fn body_len(&self) -> u64 {
        self.slots() * self.slot_len()
    }

    /// Bits of the body, the payload the frames carry.
    pub fn body_bits(&self) -> u64 {
        self.body_len() * 8
    }

    /// The 32-byte parameter block (envelope bytes 4..36, frame-header bytes 0..32).
    pub fn params_bytes(&self) -> [u8; PARAMS_LEN] {
        let mut b = [0u8; PARAMS_LEN];
        b[0..2].copy_from_slice(&self.version.to_le_bytes());
        b[2] = if self.compressed { FLAG_DEFLATE } else { 0 };
        b[3] = KDF_PBKDF2_SHA256;
        b[4..8].copy_from_slice(&self.kdf_iterations.to_le_bytes());
        b[8..24].copy_from_slice(&self.salt);
        b[24..28].copy_from_slice(&self.ciphertext_len.to_le_bytes());
        b[28] = self.data_shards;
        b[29] = self.parity_shards;
        b[30..32].copy_from_slice(&self.shard_len.to_le_bytes());
        b
    }

    /// Parses and checks a parameter block.
    pub fn from_params_bytes(b: &[u8; PARAMS_LEN]) -> Result<Self> {
        let version = u16::from_le_bytes([b[0], b[1]]);
        if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(CoreError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let bad = |what: String| Err(CoreError::InvalidEnvelope(what));
        if b[2] & !FLAG_DEFLATE != 0 {
            return bad(format!("unknown flags {:#04x}", b[2]));
        }
        if b[3] != KDF_PBKDF2_SHA256 {
            return bad(format!("unknown key-derivation function {}", b[3]));
        }
        let h = EnvelopeHeader {
            version,
            compressed: b[2] & FLAG_DEFLATE != 0,
            kdf_iterations: u32::from_le_bytes(b[4..8].try_into().unwrap()),
            salt: b[8..24].try_into().unwrap(),
            ciphertext_len: u32::from_le_bytes(b[24..28].try_into().unwrap()),
            data_shards: b[28],
            parity_shards: b[29],
            shard_len: u16::from_le_bytes([b[30], b[31]]),
        };
        if h.kdf_iterations < MIN_KDF_ITERATIONS {
            return bad(format!(
                "kdf iterations {} below {MIN_KDF_ITERATIONS}",
                h.kdf_iterations
            ));
        }
        if (h.ciphertext_len as usize) <= TAG_LEN {
            return bad(format!("ciphertext length {} too short", h.ciphertext_len));
        }
        if h.data_shards == 0 || h.parity_shards == 0 || h.shards_per_stripe() > 256 || h.shard_len == 0 {
            return bad(format!(
                "shard layout {}+{} x {} bytes is invalid",
                h.data_shards, h.parity_shards, h.shard_len
            ));
        }
        Ok(h)
    }
}

/// A sealed message: header and erasure-coded body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    header: EnvelopeHeader,
    body: Vec<u8>,
}

impl Envelope {
    /// The parameters.
    pub fn header(&self) -> &EnvelopeHeader {
        &self.header
    }

    /// The body: the slots, as carried by the frames.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Consumes the envelope, returning the body.
    pub fn into_body(self) -> Vec<u8> {
        self.body
    }

    /// Serialises to `magic ‖ params ‖ body`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENVELOPE_HEADER_LEN + self.body.len());
        out.extend_from_slice(&ENVELOPE_MAGIC);
        out.extend_from_slice(&self.header.params_bytes());
        out.extend_from_slice(&self.body);
        out
    }

    /// Parses the envelope header alone (the first 36 bytes).
    pub fn parse_header(bytes: &[u8]) -> Result<EnvelopeHeader> {
        if bytes.len() < ENVELOPE_HEADER_LEN {
            return Err(CoreError::InvalidEnvelope(format!(
                "{} bytes is shorter than the {ENVELOPE_HEADER_LEN}-byte header",
                bytes.len()
            )));
        }
        if bytes[0..4] != ENVELOPE_MAGIC {
            return Err(CoreError::InvalidEnvelope(
                "missing the VSGE magic; this is not a sealed VidStega payload".into(),
            ));
        }
        EnvelopeHeader::from_params_bytes(bytes[4..ENVELOPE_HEADER_LEN].try_into().unwrap())
    }

    /// Parses `magic ‖ params ‖ body`, checking the body length.
    pub fn parse(bytes: &[u8]) -> Result<Envelope> {
        let header = Self::parse_header(bytes)?;
        let body = &bytes[ENVELOPE_HEADER_LEN..];
        if body.len() as u64 != header.body_len() {
            return Err(CoreError::InvalidEnvelope(format!(
                "the body has {} bytes but its header declares {}; the file is truncated or padded",
                body.len(),
                header.body_len()
            )));
        }
        Ok(Envelope {
            header,
            body: body.to_vec(),
        })
    }
}

pub(crate) fn random_salt() -> Result<[u8; 16]> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| CoreError::Random(e.to_string()))?;
    Ok(salt)
}

/// Seals `message` under `password` with a fresh random salt.
pub fn seal(message: &[u8], password: &[u8], params: &SealParams) -> Result<Envelope> {
    seal_with_salt(message, password, params, random_salt()?)
}

/// Seals with a caller-chosen salt. Only for reproducible test vectors: a salt
/// must never be reused with the same password; use [`seal`].
pub fn seal_with_salt(
    message: &[u8],
    password: &[u8],
    params: &SealParams,
    salt: [u8; 16],
) -> Result<Envelope> {
    params.validate()?;
    if message.is_empty() {
        return Err(CoreError::EmptyMessage);
    }
    let mut compressed = false;
    let mut plain = if params.compress {
        let deflated = miniz_oxide::deflate::compress_to_vec(message, 6);
        if deflated.len() < message.len() {
            compressed = true;
            deflated
        } else {
            message.to_vec()
        }
    } else {
        message.to_vec()
    };
    let header = params.header_for(plain.len() as u64, compressed, salt)?;
    let key = cipher_key(password, &header.salt, header.kdf_iterations);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key.key[..]));
    let aad = header.params_bytes();
    let tag = cipher
        .encrypt_in_place_detached(Nonce::from_slice(&key.nonce), &aad, &mut plain)
        .map_err(|_| CoreError::InvalidParameter("message too large for AES-GCM".into()))?;
    plain.extend_from_slice(&tag);
    let body = erasure_encode(&header, plain)?;
    Ok(Envelope { header, body })
}

/// The checksum stored after the shard in slot `slot`: CRC-32 (IEEE) of the slot index (u64 LE) and the shard.
pub fn slot_checksum(slot: u64, shard: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&slot.to_le_bytes());
    h.update(shard);
    h.finalize()
}

fn erasure_encode(h: &EnvelopeHeader, mut ciphertext: Vec<u8>) -> Result<Vec<u8>> {
    let (k, m, l, g) = (
        h.data_shards as usize,
        h.parity_shards as usize,
        h.shard_len as usize,
        h.stripes() as usize,
    );
    ciphertext.resize(g * k * l, 0);
    let rs =
        ReedSolomon::new(k, m).map_err(|e| CoreError::InvalidParameter(format!("erasure code: {e:?}")))?;
    let parity: Vec<Vec<u8>> = ciphertext
        .par_chunks(k * l)
        .map(|stripe| {
            let data: Vec<&[u8]> = stripe.chunks(l).collect();
            let mut parity = vec![0u8; m * l];
            let mut refs: Vec<&mut [u8]> = parity.chunks_mut(l).collect();
            rs.encode_sep(&data, &mut refs)
                .expect("shard sizes are consistent");
            parity
        })
        .collect();
    let slot_len = h.slot_len() as usize;
    let mut body = vec![0u8; h.body_len() as usize];
    body.par_chunks_mut(slot_len).enumerate().for_each(|(s, out)| {
        let (j, stripe) = (s / g, s % g);
        let shard = if j < k {
            &ciphertext[(stripe * k + j) * l..][..l]
        } else {
            &parity[stripe][(j - k) * l..][..l]
        };
        out[..l].copy_from_slice(shard);
        out[l..].copy_from_slice(&slot_checksum(s as u64, shard).to_le_bytes());
    });
    Ok(body)
}

/// Why opening failed before any policy about passwords was applied.
pub(crate) enum OpenFailure {
    Core(CoreError),
    /// The AES-GCM tag did not verify.
    Decrypt,
}

impl From<CoreError> for OpenFailure {
    fn from(e: CoreError) -> Self {
        OpenFailure::Core(e)
    }
}

/// Rebuilds and decrypts a body from whatever parts of it were recovered.
pub(crate) fn open_assembly(
    h: &EnvelopeHeader,
    assembly: &BodyAssembly,
    password: &[u8],
) -> std::result::Result<Vec<u8>, OpenFailure> {
    let (k, m, l, g) = (
        h.data_shards as usize,
        h.parity_shards as usize,
        h.shard_len as usize,
        h.stripes() as usize,
    );
    let slot_len = h.slot_len();
    let body = assembly.bits().bytes();
    if assembly.bits().range() != (0..h.body_bits()) {
        return Err(CoreError::InvalidParameter("assembly does not span the body".into()).into());
    }
    let rs =
        ReedSolomon::new(k, m).map_err(|e| CoreError::InvalidParameter(format!("erasure code: {e:?}")))?;
    let stripes: Vec<std::result::Result<Vec<u8>, u32>> = (0..g)
        .into_par_iter()
        .map(|stripe| {
            let mut shards: Vec<Option<Vec<u8>>> = (0..k + m)
                .map(|j| {
                    let s = (j * g + stripe) as u64;
                    let bits = s * slot_len * 8..(s + 1) * slot_len * 8;
                    if !assembly.is_covered(&bits) {
                        return None;
                    }
                    let slot = &body[(s * slot_len) as usize..][..slot_len as usize];
                    let (shard, sum) = slot.split_at(l);
                    (slot_checksum(s, shard).to_le_bytes() == sum).then(|| shard.to_vec())
                })
                .collect();
            let lost = shards.iter().filter(|s| s.is_none()).count() as u32;
            if lost as usize > m {
                return Err(lost);
            }
            if lost > 0 {
                rs.reconstruct_data(&mut shards).map_err(|_| lost)?;
            }
            let mut data = Vec::with_capacity(k * l);
            for shard in shards.into_iter().take(k) {
                data.extend_from_slice(&shard.expect("reconstructed"));
            }
            Ok(data)
        })
        .collect();
    if stripes.iter().any(|s| s.is_err()) {
        // Report the first stripe that failed and the total losses.
        let mut total_lost = 0u64;
        for stripe in 0..g {
            total_lost += (0..k + m)
                .filter(|&j| {
                    let s = (j * g + stripe) as u64;
                    let bits = s * slot_len * 8..(s + 1) * slot_len * 8;
                    let slot = &body[(s * slot_len) as usize..][..slot_len as usize];
                    let (shard, sum) = slot.split_at(l);
                    !assembly.is_covered(&bits) || slot_checksum(s, shard).to_le_bytes() != sum
                })
                .count() as u64;
        }
        let (stripe, lost) = stripes
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.as_ref().err().map(|&lost| (i, lost)))
            .expect("a stripe failed");
        return Err(CoreError::Damaged {
            stripe: stripe as u32,
            stripe_lost: lost,
            stripe_shards: (k + m) as u32,
            stripe_parity: m as u32,
            lost_shards: total_lost,
            total_shards: (g * (k + m)) as u64,
        }
        .into());
    }
    let mut ct: Vec<u8> = Vec::with_capacity(g * k * l);
    for s in stripes {
        ct.extend_from_slice(&s.expect("checked"));
    }
    ct.truncate(h.ciphertext_len as usize);
    let tag_at = ct.len() - TAG_LEN;
    let tag = Tag::clone_from_slice(&ct[tag_at..]);
    ct.truncate(tag_at);
    let key = cipher_key(password, &h.salt, h.kdf_iterations);
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key.key[..]));
    cipher
        .decrypt_in_place_detached(Nonce::from_slice(&key.nonce), &h.params_bytes(), &mut ct, &tag)
        .map_err(|_| OpenFailure::Decrypt)?;
    if h.compressed {
        miniz_oxide::inflate::decompress_to_vec_with_limit(&ct, MAX_MESSAGE_LEN as usize)
            .map_err(|e| OpenFailure::Core(CoreError::Decompression(format!("{e:?}"))))
    } else {
        Ok(ct)
    }
}

/// Opens an envelope with the password (no video involved).
///
/// Errors: [`CoreError::WrongPassword`] when the tag does not verify,
/// [`CoreError::Damaged`] when shards fail their checksums beyond the parity.
pub fn unseal(envelope: &Envelope, password: &[u8]) -> Result<Vec<u8>> {
    let assembly = BodyAssembly::complete(envelope.body.clone());
    match open_assembly(&envelope.header, &assembly, password) {
        Ok(m) => Ok(m),
        Err(OpenFailure::Core(e)) => Err(e),
        Err(OpenFailure::Decrypt) => Err(CoreError::WrongPassword),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize) -> Vec<u8> {
        (0..n as u64)
            .map(|i| crate::permutation::mix64(i) as u8)
            .collect()
    }

    fn fast() -> SealParams {
        SealParams {
            kdf_iterations: 1000,
            ..SealParams::default()
        }
    }

    #[test]
    fn round_trip_sizes() {
        for len in [1usize, 2, 15, 16, 17, 255, 256, 257, 4096, 100_003, 300_001] {
            let msg: Vec<u8> = (0..len).map(|i| (i * 7919 % 251) as u8).collect();
            let env = seal(&msg, b"pw", &fast()).unwrap();
            let parsed = Envelope::parse(&env.to_bytes()).unwrap();
            assert_eq!(parsed, env);
            assert_eq!(unseal(&parsed, b"pw").unwrap(), msg, "len {len}");
        }
    }

    #[test]
    fn empty_message_is_rejected() {
        assert!(matches!(seal(b"", b"pw", &fast()), Err(CoreError::EmptyMessage)));
    }

    #[test]
    fn wrong_password_is_distinct() {
        let env = seal(b"secret", b"right", &fast()).unwrap();
        assert!(matches!(unseal(&env, b"wrong"), Err(CoreError::WrongPassword)));
    }

    #[test]
    fn compression_is_used_only_when_it_helps() {
        let text = vec![b'a'; 10_000];
        let env = seal(&text, b"pw", &fast()).unwrap();
        assert!(env.header().compressed);
        assert!(env.header().ciphertext_len < 1000);
        let noise = noise(10_000);
        let env = seal(&noise, b"pw", &fast()).unwrap();
        assert!(!env.header().compressed);
        assert_eq!(unseal(&env, b"pw").unwrap(), noise);
    }

    #[test]
    fn flipped_bit_in_one_shard_is_repaired() {
        let msg = vec![42u8; 5000];
        let params = SealParams {
            compress: false,
            ..fast()
        };
        let env = seal(&msg, b"pw", &params).unwrap();
        let mut bytes = env.to_bytes();
        bytes[ENVELOPE_HEADER_LEN + 10] ^= 0x04;
        let damaged = Envelope::parse(&bytes).unwrap();
        assert_eq!(unseal(&damaged, b"pw").unwrap(), msg);
    }

    #[test]
    fn more_lost_shards_than_parity_reports_counts() {
        let msg = vec![7u8; 5000];
        let params = SealParams {
            compress: false,
            ..fast()
        };
        let env = seal(&msg, b"pw", &params).unwrap();
        let h = env.header().clone();
        assert_eq!(h.stripes(), 1);
        let mut body = env.body().to_vec();
        // Corrupt 5 slots of the single stripe: parity is 4.
        for s in 0..5 {
            body[(s * h.slot_len()) as usize] ^= 0xFF;
        }
        let damaged = Envelope { header: h, body };
        match unseal(&damaged, b"pw") {
            Err(CoreError::Damaged {
                stripe_lost,
                stripe_parity,
                lost_shards,
                total_shards,
                ..
            }) => {
                assert_eq!(
                    (stripe_lost, stripe_parity, lost_shards, total_shards),
                    (5, 4, 5, 20)
                );
            }
            other => panic!("expected Damaged, got {other:?}"),
        }
    }

    #[test]
    fn exactly_parity_losses_are_repaired() {
        let msg = vec![9u8; 5000];
        let params = SealParams {
            compress: false,
            ..fast()
        };
        let env = seal(&msg, b"pw", &params).unwrap();
        let h = env.header().clone();
        let mut body = env.body().to_vec();
        for s in [0u64, 7, 13, 19] {
            body[(s * h.slot_len() + 3) as usize] ^= 0x10;
        }
        assert_eq!(unseal(&Envelope { header: h, body }, b"pw").unwrap(), msg);
    }

    #[test]
    fn header_tampering_fails_authentication() {
        let env = seal(b"hello world", b"pw", &fast()).unwrap();
        let mut h = env.header().clone();
        h.kdf_iterations += 1;
        let forged = Envelope {
            header: h,
            body: env.body().to_vec(),
        };
        assert!(matches!(unseal(&forged, b"pw"), Err(CoreError::WrongPassword)));
    }

    #[test]
    fn parse_rejects_garbage_and_future_versions() {
        assert!(matches!(
            Envelope::parse(b"hello"),
            Err(CoreError::InvalidEnvelope(_))
        ));
        let env = seal(b"x", b"pw", &fast()).unwrap();
        let mut bytes = env.to_bytes();
        bytes[4] = 4;
        assert!(matches!(
            Envelope::parse(&bytes),
            Err(CoreError::UnsupportedVersion {
                found: 4,
                supported: 3
            })
        ));
        // Version 1 payloads are still read.
        bytes[4] = 1;
        assert_eq!(Envelope::parse(&bytes).unwrap().header().version, 1);
        let bytes = env.to_bytes();
        assert!(matches!(
            Envelope::parse(&bytes[..bytes.len() - 1]),
            Err(CoreError::InvalidEnvelope(_))
        ));
    }

    #[test]
    fn large_messages_use_several_stripes() {
        let msg = noise(1_000_000);
        let env = seal(&msg, b"pw", &fast()).unwrap();
        assert!(env.header().stripes() > 1);
        assert_eq!(unseal(&env, b"pw").unwrap(), msg);
    }

    #[test]
    fn params_are_validated_together() {
        let p = SealParams {
            kdf_iterations: 10,
            data_shards: 0,
            parity_shards: 0,
            ..SealParams::default()
        };
        let msg = p.validate().unwrap_err().to_string();
        assert!(
            msg.contains("iterations") && msg.contains("data shards") && msg.contains("parity"),
            "{msg}"
        );
    }
}
