//! The shape of a frame: its 8-bit planes, and which of them carry bits.

use crate::error::{CoreError, Result};

/// Which planes of a frame carry bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PlaneSet {
    /// The first plane only (luma for YUV, the only plane for gray). The default.
    Luma,
    /// Every plane, in order (Y, then U, then V).
    All,
}

impl PlaneSet {
    /// The code stored in the frame header.
    pub fn code(self) -> u8 {
        match self {
            PlaneSet::Luma => 0,
            PlaneSet::All => 1,
        }
    }

    /// The plane set for a header code.
    pub fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(PlaneSet::Luma),
            1 => Some(PlaneSet::All),
            _ => None,
        }
    }
}

/// Width and height of one plane, in samples.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PlaneDims {
    /// Samples per row.
    pub width: u32,
    /// Rows.
    pub height: u32,
}

impl PlaneDims {
    /// Samples in the plane.
    pub fn samples(&self) -> u64 {
        self.width as u64 * self.height as u64
    }
}

/// The planes of a frame, each stored tightly packed (stride = width).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameGeometry {
    planes: Vec<PlaneDims>,
}

impl FrameGeometry {
    /// A geometry from explicit planes (1 to 4, none empty).
    pub fn new(planes: Vec<PlaneDims>) -> Result<Self> {
        if planes.is_empty() || planes.len() > 4 {
            return Err(CoreError::InvalidFrame(format!(
                "a frame has 1 to 4 planes, not {}",
                planes.len()
            )));
        }
        if let Some(p) = planes.iter().find(|p| p.width == 0 || p.height == 0) {
            return Err(CoreError::InvalidFrame(format!(
                "plane of {}x{} is empty",
                p.width, p.height
            )));
        }
        Ok(FrameGeometry { planes })
    }

    /// One 8-bit plane.
    pub fn gray(width: u32, height: u32) -> Result<Self> {
        Self::new(vec![PlaneDims { width, height }])
    }

    /// Planar YUV with chroma subsampled by `sx`, `sy` (1 or 2), rounding up.
    pub fn yuv(width: u32, height: u32, sx: u32, sy: u32) -> Result<Self> {
        let c = PlaneDims {
            width: width.div_ceil(sx),
            height: height.div_ceil(sy),
        };
        Self::new(vec![PlaneDims { width, height }, c, c])
    }

    /// yuv420p.
    pub fn yuv420(width: u32, height: u32) -> Result<Self> {
        Self::yuv(width, height, 2, 2)
    }

    /// The planes.
    pub fn planes(&self) -> &[PlaneDims] {
        &self.planes
    }

    /// Planes selected by `set`.
    pub fn selected(&self, set: PlaneSet) -> &[PlaneDims] {
        match set {
            PlaneSet::Luma => &self.planes[..1],
            PlaneSet::All => &self.planes,
        }
    }

    /// Samples in the planes selected by `set`: the permutation's domain.
    pub fn samples(&self, set: PlaneSet) -> u64 {
        self.selected(set).iter().map(PlaneDims::samples).sum()
    }

    /// Bytes of one whole frame (all planes).
    pub fn frame_len(&self) -> usize {
        self.planes.iter().map(|p| p.samples() as usize).sum()
    }

    /// Checks plane buffers against the geometry.
    pub(crate) fn check(&self, lens: impl Iterator<Item = usize>, set: PlaneSet) -> Result<()> {
        let need = self.selected(set);
        let lens: Vec<usize> = lens.collect();
        if lens.len() < need.len() {
            return Err(CoreError::InvalidFrame(format!(
                "{} planes given, {} needed",
                lens.len(),
                need.len()
            )));
        }
        for (i, (p, &len)) in need.iter().zip(&lens).enumerate() {
            if p.samples() as usize != len {
                return Err(CoreError::InvalidFrame(format!(
                    "plane {i} has {len} bytes; {}x{} needs {}",
                    p.width,
                    p.height,
                    p.samples()
                )));
            }
        }
        Ok(())
    }
}
