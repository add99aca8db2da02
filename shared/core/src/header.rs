//! The 64-byte frame header carried, whitened, at the first 512 positions of
//! every frame (or carrier picture).
//!
//! Bytes 0..32 are the envelope's parameter block; then the frame count, the
//! plane set, the layout kind (format version 2) and reserved zeros; bytes
//! 48..64 are a MAC keyed from the placement key. The header's size, the MAC's place and the version field's
//! place are fixed for every format version, so any version can tell "no
//! message for this password" from "a message in a newer format".

use crate::envelope::{EnvelopeHeader, FORMAT_VERSION, PARAMS_LEN};
use crate::error::{CoreError, Result};
use crate::geometry::PlaneSet;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of the frame header.
pub const FRAME_HEADER_LEN: usize = 64;
/// Bits of the frame header: the first carried bits of every frame.
pub const HEADER_BITS: u64 = FRAME_HEADER_LEN as u64 * 8;
/// Where the MAC starts.
pub const MAC_OFFSET: usize = 48;

/// Which pictures of a video carry the payload (header byte 37).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LayoutKind {
    /// Every frame, in display order (format version 1, and lossless mode).
    Frames,
    /// A keyed choice of carrier pictures, stored as I_PCM slices in an
    /// otherwise untouched H.264 stream (compact mode, format version 2).
    Carriers,
}

impl LayoutKind {
    /// The byte stored in the header.
    pub fn code(self) -> u8 {
        match self {
            LayoutKind::Frames => 0,
            LayoutKind::Carriers => 1,
        }
    }

    /// The kind a header byte names, if any.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(LayoutKind::Frames),
            1 => Some(LayoutKind::Carriers),
            _ => None,
        }
    }
}

/// The decoded frame header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// The sealed message's parameters.
    pub envelope: EnvelopeHeader,
    /// Frames (or carrier pictures) the payload is spread over.
    pub frame_count: u32,
    /// Planes that carry bits.
    pub plane_set: PlaneSet,
    /// Which pictures carry the payload.
    pub layout: LayoutKind,
}

fn mac(key: &[u8; 32], bytes: &[u8]) -> Hmac<Sha256> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(bytes);
    m
}

impl FrameHeader {
    /// Serialises and authenticates the header.
    pub fn to_bytes(&self, mac_key: &[u8; 32]) -> [u8; FRAME_HEADER_LEN] {
        let mut b = [0u8; FRAME_HEADER_LEN];
        b[..PARAMS_LEN].copy_from_slice(&self.envelope.params_bytes());
        b[32..36].copy_from_slice(&self.frame_count.to_le_bytes());
        b[36] = self.plane_set.code();
        b[37] = self.layout.code();
        let tag = mac(mac_key, &b[..MAC_OFFSET]).finalize().into_bytes();
        b[MAC_OFFSET..].copy_from_slice(&tag[..FRAME_HEADER_LEN - MAC_OFFSET]);
        b
    }

    /// Authenticates and parses a header found with plane set `tried`.
    ///
    /// A MAC mismatch is [`CoreError::NoMessage`]; an authentic header of
    /// another version is [`CoreError::UnsupportedVersion`].
    pub fn parse(b: &[u8; FRAME_HEADER_LEN], mac_key: &[u8; 32], tried: PlaneSet) -> Result<Self> {
        mac(mac_key, &b[..MAC_OFFSET])
            .verify_truncated_left(&b[MAC_OFFSET..])
            .map_err(|_| CoreError::NoMessage)?;
        let version = u16::from_le_bytes([b[0], b[1]]);
        if version > FORMAT_VERSION {
            return Err(CoreError::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let envelope = EnvelopeHeader::from_params_bytes(b[..PARAMS_LEN].try_into().unwrap())?;
        let frame_count = u32::from_le_bytes(b[32..36].try_into().unwrap());
        let plane_set = PlaneSet::from_code(b[36]);
        // Version 1 had no layout byte (it was reserved, zero: every frame).
        let layout = LayoutKind::from_code(b[37]).filter(|&l| version >= 2 || l == LayoutKind::Frames);
        let (Some(layout), true) = (layout, plane_set == Some(tried)) else {
            return Err(inconsistent());
        };
        if frame_count == 0 || b[38..MAC_OFFSET].iter().any(|&x| x != 0) {
            return Err(inconsistent());
        }
        Ok(FrameHeader {
            envelope,
            frame_count,
            plane_set: tried,
            layout,
        })
    }
}

fn inconsistent() -> CoreError {
    CoreError::InvalidEnvelope("the frame header authenticated but its fields are inconsistent".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::SealParams;

    fn header() -> FrameHeader {
        FrameHeader {
            envelope: SealParams::default().header_for(100, false, [3; 16]).unwrap(),
            frame_count: 90,
            plane_set: PlaneSet::Luma,
            layout: LayoutKind::Carriers,
        }
    }

    #[test]
    fn round_trips_and_authenticates() {
        let key = [9u8; 32];
        let b = header().to_bytes(&key);
        assert_eq!(FrameHeader::parse(&b, &key, PlaneSet::Luma).unwrap(), header());
        assert!(matches!(
            FrameHeader::parse(&b, &[8u8; 32], PlaneSet::Luma),
            Err(CoreError::NoMessage)
        ));
        let mut flipped = b;
        flipped[20] ^= 1;
        assert!(matches!(
            FrameHeader::parse(&flipped, &key, PlaneSet::Luma),
            Err(CoreError::NoMessage)
        ));
    }

    #[test]
    fn authentic_future_version_is_reported_as_such() {
        let key = [9u8; 32];
        let mut b = header().to_bytes(&key);
        b[0] = 4;
        // Re-authenticate, as a future writer would.
        let tag = mac(&key, &b[..MAC_OFFSET]).finalize().into_bytes();
        b[MAC_OFFSET..].copy_from_slice(&tag[..FRAME_HEADER_LEN - MAC_OFFSET]);
        match FrameHeader::parse(&b, &key, PlaneSet::Luma) {
            Err(
                e @ CoreError::UnsupportedVersion {
                    found: 4,
                    supported: 3,
                },
            ) => {
                assert!(e.to_string().contains("upgrade"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn version_1_headers_describe_every_frame_only() {
        let key = [9u8; 32];
        let reauth = |mut b: [u8; FRAME_HEADER_LEN]| {
            let tag = mac(&key, &b[..MAC_OFFSET]).finalize().into_bytes();
            b[MAC_OFFSET..].copy_from_slice(&tag[..FRAME_HEADER_LEN - MAC_OFFSET]);
            b
        };
        let mut v1 = header();
        v1.envelope.version = 1;
        v1.layout = LayoutKind::Frames;
        assert_eq!(
            FrameHeader::parse(&v1.to_bytes(&key), &key, PlaneSet::Luma).unwrap(),
            v1
        );
        let mut b = v1.to_bytes(&key);
        b[37] = 1;
        assert!(matches!(
            FrameHeader::parse(&reauth(b), &key, PlaneSet::Luma),
            Err(CoreError::InvalidEnvelope(_))
        ));
        let mut b = header().to_bytes(&key);
        b[37] = 2;
        assert!(matches!(
            FrameHeader::parse(&reauth(b), &key, PlaneSet::Luma),
            Err(CoreError::InvalidEnvelope(_))
        ));
    }
}
