//! How much a video can carry.

use crate::envelope::{SealParams, MAX_MESSAGE_LEN};
use crate::error::{CoreError, Result};
use crate::geometry::{FrameGeometry, PlaneSet};
use crate::layout::{MIN_FRAME_SAMPLES, PICTURE_OVERHEAD_BITS};

/// What a video of a given shape can carry with given settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Capacity {
    /// Frames the payload is spread over.
    pub frames: u64,
    /// Samples per frame in the selected planes.
    pub samples_per_frame: u64,
    /// Payload bits one frame can carry after its salt slot and header copy.
    pub payload_bits_per_frame: u64,
    /// Payload bits the whole video can carry.
    pub available_bits: u64,
    /// Largest message, in bytes, that fits when it does not compress
    /// (compressible messages fit more).
    pub max_message_bytes: u64,
}

/// The largest (compressed) message whose sealed body fits in `available_bits`.
pub fn max_message_len(params: &SealParams, available_bits: u64) -> Result<u64> {
    params.validate()?;
    let fits = |len: u64| {
        params
            .body_bits_for(len)
            .map(|b| b <= available_bits)
            .unwrap_or(false)
    };
    if !fits(1) {
        return Ok(0);
    }
    // body_bits_for is non-decreasing in the length: binary search.
    let (mut lo, mut hi) = (1u64, (available_bits / 8).min(MAX_MESSAGE_LEN) + 1);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// Capacity of `frames` frames of `geometry` using the planes `set`.
pub fn capacity(
    geometry: &FrameGeometry,
    set: PlaneSet,
    frames: u64,
    params: &SealParams,
) -> Result<Capacity> {
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
    let frames_used = frames.min(u32::MAX as u64);
    let per_frame = samples - PICTURE_OVERHEAD_BITS;
    let available = per_frame.saturating_mul(frames_used);
    Ok(Capacity {
        frames: frames_used,
        samples_per_frame: samples,
        payload_bits_per_frame: per_frame,
        available_bits: available,
        max_message_bytes: if frames_used == 0 {
            0
        } else {
            max_message_len(params, available)?
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capacity_is_tight() {
        let params = SealParams::default();
        let g = FrameGeometry::gray(64, 48).unwrap();
        let c = capacity(&g, PlaneSet::Luma, 30, &params).unwrap();
        assert!(c.max_message_bytes > 0);
        assert!(params.body_bits_for(c.max_message_bytes).unwrap() <= c.available_bits);
        assert!(params.body_bits_for(c.max_message_bytes + 1).unwrap() > c.available_bits);
    }

    #[test]
    fn tiny_frames_are_rejected() {
        let g = FrameGeometry::gray(1, 1).unwrap();
        let e = capacity(&g, PlaneSet::Luma, 10, &SealParams::default()).unwrap_err();
        assert!(matches!(e, CoreError::FrameTooSmall { samples: 1, .. }), "{e}");
        assert!(e.to_string().contains("1x1"));
    }
}
