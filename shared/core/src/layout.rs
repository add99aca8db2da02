//! Where the bits of one job go, frame by frame, and the ±1 embedding itself.
//!
//! Frame `f` carries `n_f = 512 + |bits(f)|` bits: its copy of the frame
//! header, then its share of the body (see [`crate::schedule`]). The carried
//! string is XORed with a ChaCha20 keystream (nonce = frame index) so it is
//! indistinguishable from random, and carried bit `i` goes to sample
//! `π_f(i)` of the selected planes, where `π_f` is the frame's keyed
//! permutation ([`crate::permutation`]).
//!
//! Embedding is LSB *matching*: a sample whose LSB already equals the bit is
//! left alone; otherwise it moves by +1 or −1, the direction chosen by a keyed
//! hash of its position (0 always goes up, 255 always down). Unlike LSB
//! replacement this leaves no pairs-of-values asymmetry for chi-square, RS or
//! sample-pair analysis to find.
//!
//! From format version 3 on, every carrying picture also holds the message
//! salt in the clear, one bit in the LSB of each of the last
//! [`SALT_SLOT_BITS`] samples of its first plane (the *salt slot*, read by
//! [`salt_slot`] without any key): the placement key is salted with it, so a
//! reader needs it before anything keyed. The keyed positions then cover the
//! selected planes without those samples.
//!
//! Two equivalent walks implement it: *sparse* (for each carried bit, compute
//! its position) for low rates, and *dense* (for each sample in memory order,
//! invert the permutation and see whether it carries a bit) for high rates,
//! run in parallel over chunks of the planes with rayon.

use crate::assembly::BodyAssembly;
use crate::bits::{get_bit, set_bit, BodyBits};
use crate::envelope::{open_assembly, EnvelopeHeader, OpenFailure, SealParams};
use crate::error::{CoreError, Result};
use crate::geometry::{FrameGeometry, PlaneSet};
use crate::header::{FrameHeader, LayoutKind, FRAME_HEADER_LEN, HEADER_BITS};
use crate::keys::{KeyOrigin, PlacementKey, Subkeys, SALTED_PLACEMENT_VERSION};
use crate::permutation::{FramePermutation, BLOCK};
use crate::schedule::BitSchedule;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::ChaCha20;
use hmac::{Hmac, Mac};
use rayon::prelude::*;
use sha2::Sha256;
use std::ops::Range;

/// Fewest samples a frame's selected planes must have (twice the header).
pub const MIN_FRAME_SAMPLES: u64 = 2 * HEADER_BITS;

/// Samples at the end of a carrying picture's first plane that hold the
/// message salt in their LSBs (format version 3 on): the salt slot.
pub const SALT_SLOT_BITS: u64 = 128;

/// Carried bits of every carrying picture that are not payload (format
/// version 3): the salt slot and the header copy.
pub const PICTURE_OVERHEAD_BITS: u64 = SALT_SLOT_BITS + HEADER_BITS;

/// Reads the salt slot of a picture from its first plane: the LSBs of the
/// last [`SALT_SLOT_BITS`] samples in raster order, most significant bit of
/// byte 0 first. Needs no key. `None` if the plane is smaller than the slot.
pub fn salt_slot(first_plane: &[u8]) -> Option<[u8; 16]> {
    let start = first_plane.len().checked_sub(SALT_SLOT_BITS as usize)?;
    let mut salt = [0u8; 16];
    for (j, &s) in first_plane[start..].iter().enumerate() {
        salt[j / 8] |= (s & 1) << (7 - j % 8);
    }
    Some(salt)
}

/// Samples reserved for the salt slot by a payload of format `version`.
fn reserved_for(version: u16) -> u64 {
    if version >= SALTED_PLACEMENT_VERSION {
        SALT_SLOT_BITS
    } else {
        0
    }
}

/// Splits the planes into the keyed part (the first plane without its salt
/// slot, then the others) and the salt slot's samples.
fn split_slot<'a>(planes: &'a mut [&mut [u8]], reserved: u64) -> (Vec<&'a mut [u8]>, &'a mut [u8]) {
    let (first, rest) = planes.split_first_mut().expect("a picture has a plane");
    let len = first.len();
    let (keyed, slot) = first.split_at_mut(len - reserved as usize);
    let mut keyed_planes = vec![keyed];
    keyed_planes.extend(rest.iter_mut().map(|p| &mut **p));
    (keyed_planes, slot)
}

/// The keyed part of read-only planes (see [`split_slot`]).
fn keyed_part<'a>(planes: &[&'a [u8]], reserved: u64) -> Vec<&'a [u8]> {
    let mut out = planes.to_vec();
    if let Some(first) = out.first_mut() {
        *first = &first[..first.len() - reserved as usize];
    }
    out
}

/// Above this fraction of samples carrying bits, the dense walk is used.
///
/// On one core the sparse walk is the faster at every rate (1440p luma,
/// `cargo bench -p vidstega-core`: 6.8 ms against 28.5 ms at 20 %, 24 ms
/// against 29 ms at 100 %); the dense walk wins only when the frame's
/// chunks can spread over idle cores, which pays once most samples carry.
/// Compact mode's carriers (at most 25 % by default) take the sparse walk.
const DENSE_RATE: f64 = 0.5;
/// Samples per parallel chunk in the dense walk.
const CHUNK: usize = 1 << 16;

/// Everything needed to embed or extract the bits of one job in any frame.
#[derive(Clone)]
pub struct Layout {
    subkeys: Subkeys,
    header: FrameHeader,
    header_bytes: [u8; FRAME_HEADER_LEN],
    geometry: FrameGeometry,
    /// Keyed positions per picture (the selected samples minus the salt slot).
    domain: u64,
    /// The salt slot's content (format version 3 on).
    salt: Option<[u8; 16]>,
    schedule: BitSchedule,
}

impl std::fmt::Debug for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layout")
            .field("header", &self.header)
            .field("geometry", &self.geometry)
            .field("domain", &self.domain)
            .field("schedule", &self.schedule)
            .finish_non_exhaustive()
    }
}

/// What embedding one frame did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameStats {
    /// Bits the frame carries (header copy + payload share).
    pub carried_bits: u64,
    /// Samples changed by ±1.
    pub changed_samples: u64,
}

/// What extracting one frame saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameCheck {
    /// Whether the frame's header copy read back intact (a hint of damage if not).
    pub header_intact: bool,
}

/// One picture's place in a job: its `rank` in the payload schedule (which
/// body bits it carries) and the `key_index` that keys its positions,
/// whitening and ±1 directions. For every-frame layouts both are the frame
/// index; for carrier pictures the rank is the carrier's position among the
/// carriers and the key index its candidate index (see [`crate::CarrierOrder`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Position in the bit schedule, `0..frame_count`.
    pub rank: u64,
    /// What keys the picture's positions, whitening and directions.
    pub key_index: u64,
}

impl Slot {
    /// Frame `f` of an every-frame layout.
    pub fn frame(f: u64) -> Self {
        Slot {
            rank: f,
            key_index: f,
        }
    }
}

/// The keyed positions of a picture: its selected samples minus the
/// `reserved` samples of the salt slot.
///
/// The picture's own selected samples must number at least
/// [`MIN_FRAME_SAMPLES`], the salt slot's included.
fn check_domain(geometry: &FrameGeometry, set: PlaneSet, reserved: u64) -> Result<u64> {
    let samples = geometry.samples(set);
    if samples < MIN_FRAME_SAMPLES {
        let p = geometry.planes()[0];
        return Err(CoreError::FrameTooSmall {
            width: p.width,
            height: p.height,
            samples,
            min: MIN_FRAME_SAMPLES,
        });
    }
    let domain = samples - reserved;
    if domain > FramePermutation::MAX_DOMAIN {
        return Err(CoreError::InvalidFrame(format!(
            "{domain} samples per frame is more than the 2^32-1 the format addresses"
        )));
    }
    Ok(domain)
}

fn frame_hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

fn permutation_for(subkeys: &Subkeys, set: PlaneSet, domain: u64, frame: u64) -> FramePermutation {
    let h = frame_hmac(&subkeys.permutation, &[&[set.code()], &frame.to_le_bytes()]);
    let k = |i: usize| u32::from_le_bytes(h[i * 4..i * 4 + 4].try_into().unwrap());
    FramePermutation::new(domain, [k(0), k(1), k(2), k(3)])
}

fn whiten(subkeys: &Subkeys, frame: u64, buf: &mut [u8]) {
    let mut nonce = [0u8; 12];
    nonce[..8].copy_from_slice(&frame.to_le_bytes());
    let mut c = ChaCha20::new((&*subkeys.whitening).into(), (&nonce).into());
    c.apply_keystream(buf);
}

/// Multiplier of the ±1 direction hash.
const DIRECTION_MULTIPLIER: u64 = 0xD6E8_FEB8_6659_FD93;

/// Whether the sample at position `p` moves up (+1) when it must change.
#[inline(always)]
fn moves_up(p: u64, dkey: u64) -> bool {
    (p ^ dkey).wrapping_mul(DIRECTION_MULTIPLIER) >> 63 == 1
}

/// The sample moved to carry `bit`, by ±1 in direction `up` where possible
/// (0 always goes up, 255 down). Branch-free: half the samples change, at
/// random, which no branch predictor can guess.
#[inline(always)]
fn matched(sample: u8, bit: u8, up: bool) -> u8 {
    let need = ((sample ^ bit) & 1) as i16;
    let dir: i16 = if sample == 0 {
        1
    } else if sample == 255 {
        -1
    } else {
        2 * up as i16 - 1
    };
    (sample as i16 + need * dir) as u8
}

/// Locates the plane holding domain position `p` and the offset inside it.
#[inline(always)]
fn locate(offsets: &[u64; 4], planes: usize, p: u64) -> (usize, usize) {
    let mut k = 0;
    while k + 1 < planes && p >= offsets[k + 1] {
        k += 1;
    }
    (k, (p - offsets[k]) as usize)
}

/// Checks that a sealed body fits `frame_count` frames of `geometry` using
/// `plane_set`, returning the samples per frame. Needs no key, so a planner
/// can refuse an oversized job before any embedding starts.
pub fn check_fits(
    envelope: &EnvelopeHeader,
    geometry: &FrameGeometry,
    plane_set: PlaneSet,
    frame_count: u64,
) -> Result<u64> {
    let plane_set = if geometry.planes().len() == 1 {
        PlaneSet::Luma
    } else {
        plane_set
    };
    let domain = check_domain(geometry, plane_set, reserved_for(envelope.version))?;
    if frame_count == 0 || frame_count > u32::MAX as u64 {
        return Err(CoreError::InvalidParameter(format!(
            "frame count {frame_count} is outside 1..={}",
            u32::MAX
        )));
    }
    let per_frame = domain - HEADER_BITS;
    let available = per_frame * frame_count;
    let needed = envelope.body_bits();
    if needed > available {
        let params = SealParams {
            data_shards: envelope.data_shards,
            parity_shards: envelope.parity_shards,
            ..SealParams::default()
        };
        let fits = crate::capacity::max_message_len(&params, available).unwrap_or(0);
        return Err(CoreError::CapacityExceeded {
            needed_bits: needed,
            available_bits: available,
            frames: frame_count,
            per_frame_bits: per_frame,
            hint: format!(
                "about {fits} bytes of (compressed) message fit; use a longer or higher-resolution video, \
                 embed in all planes, or lower the parity"
            ),
        });
    }
    Ok(domain)
}

impl Layout {
    /// The layout for embedding a sealed message into `frame_count` frames of `geometry`.
    ///
    /// Fails with [`CoreError::CapacityExceeded`] if the body does not fit. For a
    /// single-plane geometry [`PlaneSet::All`] is recorded as [`PlaneSet::Luma`].
    pub fn for_embedding(
        key: &PlacementKey,
        envelope: &EnvelopeHeader,
        geometry: &FrameGeometry,
        plane_set: PlaneSet,
        frame_count: u64,
    ) -> Result<Self> {
        Self::embedding(
            key,
            envelope,
            geometry,
            plane_set,
            frame_count,
            LayoutKind::Frames,
        )
    }

    /// The layout for embedding a sealed message into `carriers` carrier
    /// pictures of `geometry` (compact mode). The envelope must be of format
    /// version 2 or later.
    pub fn for_carriers(
        key: &PlacementKey,
        envelope: &EnvelopeHeader,
        geometry: &FrameGeometry,
        plane_set: PlaneSet,
        carriers: u64,
    ) -> Result<Self> {
        if envelope.version < 2 {
            return Err(CoreError::InvalidParameter(format!(
                "the payload was sealed in format version {}, which has no carrier pictures; \
                 seal it again with this version of VidStega",
                envelope.version
            )));
        }
        Self::embedding(key, envelope, geometry, plane_set, carriers, LayoutKind::Carriers)
    }

    fn embedding(
        key: &PlacementKey,
        envelope: &EnvelopeHeader,
        geometry: &FrameGeometry,
        plane_set: PlaneSet,
        frame_count: u64,
        layout: LayoutKind,
    ) -> Result<Self> {
        // With a single plane, "all planes" is the luma plane: store it as such
        // so the extractor's first try finds it.
        let plane_set = if geometry.planes().len() == 1 {
            PlaneSet::Luma
        } else {
            plane_set
        };
        let domain = check_fits(envelope, geometry, plane_set, frame_count)?;
        let salted = envelope.version >= SALTED_PLACEMENT_VERSION;
        match key.origin() {
            KeyOrigin::FixedSalt if salted => {
                return Err(CoreError::InvalidParameter(format!(
                    "a payload of format version {} is placed with the key salted with its salt \
                     (PlacementKey::derive_for), not the fixed-salt key",
                    envelope.version
                )))
            }
            KeyOrigin::Salted(_) if !salted => {
                return Err(CoreError::InvalidParameter(format!(
                    "a payload of format version {} is placed with the fixed-salt key",
                    envelope.version
                )))
            }
            KeyOrigin::Salted(s) if s != envelope.salt => {
                return Err(CoreError::InvalidParameter(
                    "the placement key was derived for another payload's salt".into(),
                ))
            }
            _ => {}
        }
        let needed = envelope.body_bits();
        let subkeys = key.subkeys();
        let header = FrameHeader {
            envelope: envelope.clone(),
            frame_count: frame_count as u32,
            plane_set,
            layout,
        };
        let header_bytes = header.to_bytes(&subkeys.header_mac);
        Ok(Layout {
            subkeys,
            header,
            header_bytes,
            geometry: geometry.clone(),
            domain,
            salt: salted.then_some(envelope.salt),
            schedule: BitSchedule::new(frame_count, needed),
        })
    }

    /// Finds and authenticates the header in frame `frame` of a stego video,
    /// trying the luma plane first, then all planes.
    ///
    /// [`CoreError::NoMessage`] means: wrong password, or no message (or this
    /// frame is damaged: try another frame).
    pub fn locate(
        key: &PlacementKey,
        geometry: &FrameGeometry,
        frame: u64,
        planes: &[&[u8]],
    ) -> Result<Self> {
        let layout = Self::locate_at(key, geometry, frame, planes)?;
        if layout.header.layout != LayoutKind::Frames {
            return Err(CoreError::NoMessage);
        }
        if frame >= layout.frame_count() {
            return Err(CoreError::InvalidParameter(format!(
                "frame {frame} is past the {} frames the message was embedded in",
                layout.frame_count()
            )));
        }
        Ok(layout)
    }

    /// Finds and authenticates the header in a picture whose positions are
    /// keyed by `key_index` (a frame index, or a carrier's candidate index),
    /// trying the luma plane first, then all planes. The caller checks
    /// [`Layout::kind`].
    pub fn locate_at(
        key: &PlacementKey,
        geometry: &FrameGeometry,
        key_index: u64,
        planes: &[&[u8]],
    ) -> Result<Self> {
        let frame = key_index;
        let subkeys = key.subkeys();
        let mut sets = vec![PlaneSet::Luma];
        if geometry.planes().len() > 1 {
            sets.push(PlaneSet::All);
        }
        // A salted key places version-3 payloads (with a salt slot), the
        // fixed-salt key older ones; a received key may be either.
        let slots: &[u64] = match key.origin() {
            KeyOrigin::FixedSalt => &[0],
            KeyOrigin::Salted(_) => &[SALT_SLOT_BITS],
            KeyOrigin::Received => &[SALT_SLOT_BITS, 0],
        };
        let mut last = CoreError::NoMessage;
        for (set, reserved) in sets
            .into_iter()
            .flat_map(|set| slots.iter().map(move |&r| (set, r)))
        {
            let domain = match check_domain(geometry, set, reserved) {
                Ok(d) => d,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            geometry.check(planes.iter().map(|p| p.len()), set)?;
            let perm = permutation_for(&subkeys, set, domain, frame);
            let offsets = offsets(geometry, set, reserved);
            let n = geometry.selected(set).len();
            let mut bytes = [0u8; FRAME_HEADER_LEN];
            for i in 0..HEADER_BITS {
                let (k, o) = locate(&offsets, n, perm.forward(i));
                if planes[k][o] & 1 == 1 {
                    set_bit(&mut bytes, i);
                }
            }
            whiten(&subkeys, frame, &mut bytes);
            match FrameHeader::parse(&bytes, &subkeys.header_mac, set) {
                Ok(header) => {
                    let envelope = &header.envelope;
                    let salted = envelope.version >= SALTED_PLACEMENT_VERSION;
                    let salt_matches = match key.origin() {
                        KeyOrigin::Salted(s) => s == envelope.salt,
                        KeyOrigin::FixedSalt | KeyOrigin::Received => true,
                    };
                    if salted != (reserved > 0) || !salt_matches {
                        return Err(CoreError::InvalidFrame(format!(
                            "the frame header authenticated but its fields are inconsistent: a version-{} \
                             header {} a salt slot",
                            envelope.version,
                            if reserved > 0 { "beside" } else { "without" }
                        )));
                    }
                    let schedule = BitSchedule::new(header.frame_count as u64, envelope.body_bits());
                    let salt = salted.then_some(envelope.salt);
                    return Ok(Layout {
                        subkeys,
                        header_bytes: bytes,
                        header,
                        geometry: geometry.clone(),
                        domain,
                        salt,
                        schedule,
                    });
                }
                Err(CoreError::NoMessage) => last = CoreError::NoMessage,
                Err(e) => return Err(e),
            }
        }
        Err(last)
    }

    /// The sealed message's parameters.
    pub fn envelope_header(&self) -> &EnvelopeHeader {
        &self.header.envelope
    }

    /// The planes that carry bits.
    pub fn plane_set(&self) -> PlaneSet {
        self.header.plane_set
    }

    /// Which pictures carry the payload.
    pub fn kind(&self) -> LayoutKind {
        self.header.layout
    }

    /// The frame geometry.
    pub fn geometry(&self) -> &FrameGeometry {
        &self.geometry
    }

    /// The bit schedule.
    pub fn schedule(&self) -> &BitSchedule {
        &self.schedule
    }

    /// Frames the payload is spread over.
    pub fn frame_count(&self) -> u64 {
        self.schedule.frames()
    }

    /// Samples per frame in the selected planes (the salt slot's included).
    pub fn samples_per_frame(&self) -> u64 {
        self.domain + self.reserved()
    }

    /// The salt slot's samples (0 before format version 3).
    fn reserved(&self) -> u64 {
        if self.salt.is_some() {
            SALT_SLOT_BITS
        } else {
            0
        }
    }

    /// The payload bits frame `f` carries.
    pub fn frame_bits(&self, f: u64) -> Range<u64> {
        self.schedule.frame_bits(f)
    }

    /// The payload bits frames `frames` carry.
    pub fn segment_bits(&self, frames: Range<u64>) -> Range<u64> {
        self.schedule.frames_bits(frames)
    }

    /// The largest fraction of a frame's samples that carry bits.
    pub fn max_rate(&self) -> f64 {
        (self.reserved() + HEADER_BITS + self.schedule.max_frame_bits()) as f64
            / self.samples_per_frame() as f64
    }

    /// The first `count` positions of frame `f` (for documentation and tests).
    pub fn positions(&self, f: u64, count: u64) -> Vec<u64> {
        self.slot_positions(Slot::frame(f), count)
    }

    /// The first `count` positions of a slot (for documentation and tests).
    pub fn slot_positions(&self, slot: Slot, count: u64) -> Vec<u64> {
        let perm = permutation_for(&self.subkeys, self.header.plane_set, self.domain, slot.key_index);
        (0..count.min(self.domain)).map(|i| perm.forward(i)).collect()
    }

    /// The whitened bit string frame `f` carries (header copy, then payload share).
    pub fn carried_bits(&self, f: u64, body: &BodyBits) -> Result<Vec<u8>> {
        self.slot_carried_bits(Slot::frame(f), body)
    }

    /// The whitened bit string a slot carries (header copy, then payload share).
    pub fn slot_carried_bits(&self, slot: Slot, body: &BodyBits) -> Result<Vec<u8>> {
        self.check_rank(slot.rank)?;
        let r = self.frame_bits(slot.rank);
        let total = HEADER_BITS + (r.end - r.start);
        let mut buf = vec![0u8; total.div_ceil(8) as usize];
        buf[..FRAME_HEADER_LEN].copy_from_slice(&self.header_bytes);
        body.copy_out(r.start, r.end - r.start, &mut buf, HEADER_BITS)?;
        whiten(&self.subkeys, slot.key_index, &mut buf);
        Ok(buf)
    }

    fn check_rank(&self, rank: u64) -> Result<()> {
        if rank >= self.frame_count() {
            return Err(CoreError::InvalidParameter(format!(
                "picture {rank} is past the {} pictures of this job",
                self.frame_count()
            )));
        }
        Ok(())
    }

    fn direction_key(&self, f: u64) -> u64 {
        let h = frame_hmac(&self.subkeys.direction, &[&f.to_le_bytes()]);
        u64::from_le_bytes(h[..8].try_into().unwrap())
    }

    /// Embeds frame `f`'s bits into its planes (the selected planes must be
    /// given, tightly packed). `body` must cover `self.frame_bits(f)`.
    pub fn embed_frame(&self, f: u64, body: &BodyBits, planes: &mut [&mut [u8]]) -> Result<FrameStats> {
        self.embed_slot(Slot::frame(f), body, planes)
    }

    /// Embeds a slot's bits into its planes. `body` must cover
    /// `self.frame_bits(slot.rank)`.
    pub fn embed_slot(&self, slot: Slot, body: &BodyBits, planes: &mut [&mut [u8]]) -> Result<FrameStats> {
        let set = self.header.plane_set;
        self.geometry.check(planes.iter().map(|p| p.len()), set)?;
        let carried = self.slot_carried_bits(slot, body)?;
        let bits = self.frame_bits(slot.rank);
        let total = HEADER_BITS + (bits.end - bits.start);
        let perm = permutation_for(&self.subkeys, set, self.domain, slot.key_index);
        let dkey = self.direction_key(slot.key_index);
        let reserved = self.reserved();
        let offsets = offsets(&self.geometry, set, reserved);
        let n = self.geometry.selected(set).len();
        let dense = (total as f64) >= DENSE_RATE * self.domain as f64;
        let (mut keyed, slot_samples) = split_slot(planes, reserved);
        let mut changed = walk_embed(&perm, dkey, &carried, total, &offsets, n, &mut keyed, dense);
        if let Some(salt) = &self.salt {
            // The slot's direction hash runs on from the keyed positions.
            for (j, s) in slot_samples.iter_mut().enumerate() {
                let bit = (salt[j / 8] >> (7 - j % 8)) & 1;
                changed += ((*s ^ bit) & 1) as u64;
                *s = matched(*s, bit, moves_up(self.domain + j as u64, dkey));
            }
        }
        Ok(FrameStats {
            carried_bits: reserved + total,
            changed_samples: changed,
        })
    }

    /// Reads frame `f`'s payload share into `out`, which must cover
    /// `self.frame_bits(f)` and be zero there.
    pub fn extract_frame(&self, f: u64, planes: &[&[u8]], out: &mut BodyBits) -> Result<FrameCheck> {
        self.extract_slot(Slot::frame(f), planes, out)
    }

    /// Reads a slot's payload share into `out`, which must cover
    /// `self.frame_bits(slot.rank)` and be zero there.
    pub fn extract_slot(&self, slot: Slot, planes: &[&[u8]], out: &mut BodyBits) -> Result<FrameCheck> {
        self.check_rank(slot.rank)?;
        let set = self.header.plane_set;
        self.geometry.check(planes.iter().map(|p| p.len()), set)?;
        let r = self.frame_bits(slot.rank);
        let total = HEADER_BITS + (r.end - r.start);
        let perm = permutation_for(&self.subkeys, set, self.domain, slot.key_index);
        let reserved = self.reserved();
        let offsets = offsets(&self.geometry, set, reserved);
        let n = self.geometry.selected(set).len();
        let dense = (total as f64) >= DENSE_RATE * self.domain as f64;
        let keyed = keyed_part(planes, reserved);
        let mut carried = walk_extract(&perm, total, &offsets, n, &keyed, dense);
        whiten(&self.subkeys, slot.key_index, &mut carried);
        out.or_in(r.start, r.end - r.start, &carried, HEADER_BITS)?;
        Ok(FrameCheck {
            header_intact: carried[..FRAME_HEADER_LEN] == self.header_bytes,
        })
    }

    /// Rebuilds, decrypts and decompresses the message from an assembly.
    ///
    /// The header already proved the password right, so a failing tag here
    /// means the video was altered: [`CoreError::Tampered`].
    pub fn open(&self, assembly: &BodyAssembly, password: &[u8]) -> Result<Vec<u8>> {
        match open_assembly(&self.header.envelope, assembly, password) {
            Ok(m) => Ok(m),
            Err(OpenFailure::Core(e)) => Err(e),
            Err(OpenFailure::Decrypt) => Err(CoreError::Tampered),
        }
    }
}

/// Calls `f(i, position)` for carried bits `0..total`, computing positions
/// sixteen at a time (independent lanes the compiler vectorises).
#[inline(always)]
fn for_each_position(perm: &FramePermutation, total: u64, mut f: impl FnMut(u64, u64)) {
    let mut block = [0u32; BLOCK];
    let mut i = 0;
    while i + BLOCK as u64 <= total {
        perm.forward_block(i, &mut block);
        for (j, &p) in block.iter().enumerate() {
            f(i + j as u64, p as u64);
        }
        i += BLOCK as u64;
    }
    for i in i..total {
        f(i, perm.forward(i));
    }
}

/// Calls `f(o, index)` for the positions `first + o`, `o < len`, with the
/// carried-bit index each holds, sixteen at a time.
#[inline(always)]
fn for_each_index(perm: &FramePermutation, first: u64, len: usize, mut f: impl FnMut(usize, u64)) {
    let mut block = [0u32; BLOCK];
    let mut o = 0;
    while o + BLOCK <= len {
        perm.inverse_block(first + o as u64, &mut block);
        for (j, &i) in block.iter().enumerate() {
            f(o + j, i as u64);
        }
        o += BLOCK;
    }
    for o in o..len {
        f(o, perm.inverse(first + o as u64));
    }
}

/// Embeds `total` carried bits with the sparse (`dense == false`) or the dense
/// walk; both change exactly the same samples in the same way.
#[allow(clippy::too_many_arguments)]
fn walk_embed(
    perm: &FramePermutation,
    dkey: u64,
    carried: &[u8],
    total: u64,
    offsets: &[u64; 4],
    n: usize,
    planes: &mut [&mut [u8]],
    dense: bool,
) -> u64 {
    if !dense {
        let mut changed = 0u64;
        let mut apply = |i: u64, p: u64| {
            let (k, o) = locate(offsets, n, p);
            let s = planes[k][o];
            let bit = get_bit(carried, i);
            planes[k][o] = matched(s, bit, moves_up(p, dkey));
            changed += ((s ^ bit) & 1) as u64;
        };
        for_each_position(perm, total, &mut apply);
        changed
    } else {
        planes
            .iter_mut()
            .take(n)
            .enumerate()
            .map(|(k, plane)| {
                let base = offsets[k];
                plane
                    .par_chunks_mut(CHUNK)
                    .enumerate()
                    .map(|(c, chunk)| {
                        let mut changed = 0u64;
                        let first = base + (c * CHUNK) as u64;
                        // Branch-free: samples past the carried bits keep their value.
                        let mut apply = |s: &mut u8, p: u64, i: u64| {
                            let inside = (i < total) as u8;
                            let bit = get_bit(carried, i.min(total - 1));
                            let want = (bit & inside) | (*s & 1 & !inside);
                            changed += ((*s ^ want) & 1) as u64;
                            *s = matched(*s, want, moves_up(p, dkey));
                        };
                        for_each_index(perm, first, chunk.len(), |o, i| {
                            apply(&mut chunk[o], first + o as u64, i)
                        });
                        changed
                    })
                    .sum::<u64>()
            })
            .sum()
    }
}

/// Reads `total` carried bits with the sparse or the dense walk.
fn walk_extract(
    perm: &FramePermutation,
    total: u64,
    offsets: &[u64; 4],
    n: usize,
    planes: &[&[u8]],
    dense: bool,
) -> Vec<u8> {
    let len = total.div_ceil(8) as usize;
    if !dense {
        let mut buf = vec![0u8; len];
        // Branch-free: OR each sample's LSB into place.
        let mut read = |i: u64, p: u64| {
            let (k, o) = locate(offsets, n, p);
            buf[(i >> 3) as usize] |= (planes[k][o] & 1) << (7 - (i & 7));
        };
        for_each_position(perm, total, &mut read);
        buf
    } else {
        // Each chunk lists the carried bits it found set; merging the lists
        // afterwards is cheaper than atomic writes into the shared string.
        let mut buf = vec![0u8; len];
        for (k, plane) in planes.iter().take(n).enumerate() {
            let base = offsets[k];
            let ones: Vec<Vec<u32>> = plane
                .par_chunks(CHUNK)
                .enumerate()
                .map(|(c, chunk)| {
                    let first = base + (c * CHUNK) as u64;
                    // Branch-free compaction: always write, advance only on a one.
                    let mut ones = vec![0u32; chunk.len()];
                    let mut count = 0usize;
                    let mut note = |s: u8, i: u64| {
                        ones[count] = i as u32;
                        count += ((s & 1 == 1) & (i < total)) as usize;
                    };
                    for_each_index(perm, first, chunk.len(), |o, i| note(chunk[o], i));
                    ones.truncate(count);
                    ones
                })
                .collect();
            for i in ones.into_iter().flatten() {
                set_bit(&mut buf, i as u64);
            }
        }
        buf
    }
}

/// Where each selected plane starts among the keyed positions (the first
/// plane's last `reserved` samples are the salt slot's, not keyed).
fn offsets(geometry: &FrameGeometry, set: PlaneSet, reserved: u64) -> [u64; 4] {
    let mut o = [0u64; 4];
    let mut at = 0;
    for (k, p) in geometry.selected(set).iter().enumerate() {
        o[k] = at;
        at += p.samples() - if k == 0 { reserved } else { 0 };
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::permutation::mix64;

    #[test]
    fn sparse_and_dense_walks_agree() {
        // Two planes of different sizes, every rate from header-only to full.
        let dims = [(97usize, 61usize), (49, 31)];
        let domain = (dims[0].0 * dims[0].1 + dims[1].0 * dims[1].1) as u64;
        let perm = FramePermutation::new(domain, [5, 6, 7, 8]);
        let offsets = [0, (dims[0].0 * dims[0].1) as u64, 0, 0];
        let carried: Vec<u8> = (0..domain.div_ceil(8)).map(|i| mix64(i) as u8).collect();
        let cover: Vec<Vec<u8>> = dims
            .iter()
            .enumerate()
            .map(|(k, (w, h))| {
                (0..w * h)
                    .map(|i| mix64((k * 1_000_000 + i) as u64) as u8)
                    .collect()
            })
            .collect();
        for total in [1, 512, 1000, domain / 3, domain / 2, domain - 1, domain] {
            let mut a = cover.clone();
            let mut b = cover.clone();
            let mut pa: Vec<&mut [u8]> = a.iter_mut().map(|p| p.as_mut_slice()).collect();
            let mut pb: Vec<&mut [u8]> = b.iter_mut().map(|p| p.as_mut_slice()).collect();
            let ca = walk_embed(&perm, 99, &carried, total, &offsets, 2, &mut pa, false);
            let cb = walk_embed(&perm, 99, &carried, total, &offsets, 2, &mut pb, true);
            assert_eq!(ca, cb, "total {total}");
            assert_eq!(a, b, "total {total}");
            let ra: Vec<&[u8]> = a.iter().map(|p| p.as_slice()).collect();
            let xa = walk_extract(&perm, total, &offsets, 2, &ra, false);
            let xb = walk_extract(&perm, total, &offsets, 2, &ra, true);
            assert_eq!(xa, xb, "total {total}");
            for i in 0..total {
                assert_eq!(get_bit(&xa, i), get_bit(&carried, i));
            }
        }
    }

    #[test]
    fn matching_never_wraps() {
        for s in 0..=255u8 {
            for bit in 0..=1u8 {
                for up in [false, true] {
                    let t = matched(s, bit, up);
                    assert_eq!(t & 1, bit);
                    assert!((t as i16 - s as i16).abs() <= 1);
                    if s & 1 == bit {
                        assert_eq!(t, s);
                    }
                }
            }
        }
        assert_eq!(matched(0, 1, false), 1);
        assert_eq!(matched(255, 1, true), 255);
        assert_eq!(matched(0, 0, false), 0);
        assert_eq!(matched(255, 0, true), 254);
    }
}
