//! Presets, parameters and capacity.

use crate::code::PayloadCode;
use crate::error::{Result, RobustError};
use crate::layout::HEADER_CODED_BITS;
use vidstega_core::{SealParams, DEFAULT_KDF_ITERATIONS, ENVELOPE_HEADER_LEN};

/// A named trade of capacity for survival.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Preset {
    /// Measured against libx264 CRF 23 at the source size and a downscale to
    /// 720p at CRF 23, on 1080p sources (`docs/robust.md` §10–§11).
    Normal,
    /// Measured against a downscale to 480p at CRF 28, on 1080p sources; about
    /// a fifth of `Normal`'s capacity.
    Strong,
}

impl Preset {
    /// The preset's parameters.
    pub fn params(self) -> RobustParams {
        match self {
            Preset::Normal => RobustParams {
                preset: self,
                rows: 34,
                step: 5.0,
                hold_seconds: 0.8,
                header_copies: 2,
                min_repeat: 1.5,
                texture_masking: 0.0,
                flat_strength: 1.0,
                flat_activity: 6.0,
                guard_seconds: 0.0,
                weight_frames: true,
            },
            Preset::Strong => RobustParams {
                preset: self,
                rows: 26,
                step: 7.0,
                hold_seconds: 1.0,
                header_copies: 3,
                min_repeat: 2.0,
                texture_masking: 0.0,
                flat_strength: 1.0,
                flat_activity: 6.0,
                guard_seconds: 0.0,
                weight_frames: true,
            },
        }
    }

    /// The 2-bit code recorded in the period header.
    pub(crate) fn id(self) -> u8 {
        match self {
            Preset::Normal => 0,
            Preset::Strong => 1,
        }
    }

    /// The lowercase name (`normal`, `strong`).
    pub fn name(self) -> &'static str {
        match self {
            Preset::Normal => "normal",
            Preset::Strong => "strong",
        }
    }

    /// Parses `normal` or `strong`.
    pub fn parse(s: &str) -> Option<Preset> {
        match s {
            "normal" => Some(Preset::Normal),
            "strong" => Some(Preset::Strong),
            _ => None,
        }
    }

    /// Every preset, in the order an extractor tries them.
    pub const ALL: [Preset; 2] = [Preset::Normal, Preset::Strong];
}

/// Everything that decides where and how strongly bits are embedded.
///
/// Embedder and extractor must agree on every field but the last four
/// (`texture_masking`, `flat_strength` and `flat_activity` only shape the
/// embedder's changes; `guard_seconds` and `weight_frames` only steer the
/// extractor). Start from [`Preset::params`].
#[derive(Clone, Debug, PartialEq)]
pub struct RobustParams {
    /// The preset these parameters belong to (recorded in the header).
    pub preset: Preset,
    /// Grid rows `R`; the columns are `C = round(R · width / height)`. Cells are
    /// fractions of the frame, so a rescaled video is read on the same grid.
    pub rows: u32,
    /// QIM step `Δ` on the Hann-weighted cell mean, in 8-bit luma levels.
    pub step: f32,
    /// Hold time `T`: every frame of one period (`floor(t / T)`) carries the same bits.
    pub hold_seconds: f64,
    /// Copies of the 128-bit coded period header in every period.
    pub header_copies: u32,
    /// Fewest slots per coded bit, on average, that the capacity allows.
    pub min_repeat: f64,
    /// `β` in 0..=1: how much of a cell's change follows local texture rather than the plain window.
    pub texture_masking: f32,
    /// `α_min` in (0, 1]: the fraction of the QIM move made in a flat cell (1 = full move everywhere).
    pub flat_strength: f32,
    /// Mean absolute luma gradient at and above which a cell gets the full move.
    pub flat_activity: f32,
    /// Frames closer than this to a period boundary are not read (extractor only).
    pub guard_seconds: f64,
    /// Weight each frame of a period by its measured agreement (extractor only).
    pub weight_frames: bool,
}

impl RobustParams {
    /// Grid columns for a `width × height` frame.
    pub fn cols_for(&self, width: u32, height: u32) -> u32 {
        ((self.rows as f64) * width as f64 / height.max(1) as f64)
            .round()
            .max(1.0) as u32
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<()> {
        let mut problems = Vec::new();
        if !(4..=255).contains(&self.rows) {
            problems.push(format!("rows must be 4 to 255 (got {})", self.rows));
        }
        if !(self.step > 0.5 && self.step < 64.0) {
            problems.push(format!("step must be in (0.5, 64) (got {})", self.step));
        }
        if !(self.hold_seconds >= 0.05 && self.hold_seconds <= 60.0) {
            problems.push(format!("hold must be 0.05 to 60 s (got {})", self.hold_seconds));
        }
        if !(1..=16).contains(&self.header_copies) {
            problems.push(format!(
                "header copies must be 1 to 16 (got {})",
                self.header_copies
            ));
        }
        if self.min_repeat.is_nan() || self.min_repeat < 1.0 {
            problems.push(format!("min repeat must be at least 1 (got {})", self.min_repeat));
        }
        if !(0.0..=1.0).contains(&self.texture_masking) {
            problems.push("texture masking must be 0 to 1".to_string());
        }
        if !(self.flat_strength > 0.0 && self.flat_strength <= 1.0) {
            problems.push("flat strength must be in (0, 1]".to_string());
        }
        if !(self.flat_activity > 0.0 && self.flat_activity.is_finite()) {
            problems.push(format!(
                "flat activity must be positive (got {})",
                self.flat_activity
            ));
        }
        if !(self.guard_seconds >= 0.0 && self.guard_seconds < self.hold_seconds / 2.0) {
            problems.push(format!(
                "guard must be at least 0 and under half the hold (got {} s)",
                self.guard_seconds
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(RobustError::InvalidInput(problems.join("; ")))
        }
    }

    /// The period frame `index` of a `fps` video belongs to: `floor(index / (fps · T))`.
    pub fn period_of(&self, index: u64, fps: f64) -> u64 {
        period_at(index as f64 / fps, self.hold_seconds)
    }

    /// Periods a video of `frames` frames at `fps` spans (the last may be partial).
    pub fn periods(&self, frames: u64, fps: f64) -> u64 {
        if frames == 0 {
            0
        } else {
            self.period_of(frames - 1, fps) + 1
        }
    }

    /// Whole periods (every frame present) in a video of `frames` frames.
    pub fn full_periods(&self, frames: u64, fps: f64) -> u64 {
        let full = period_at(frames as f64 / fps, self.hold_seconds);
        full.min(self.periods(frames, fps))
    }

    /// Cells of the grid for a `width × height` frame, and how many carry data.
    pub fn cells(&self, width: u32, height: u32) -> (u64, u64) {
        let cells = self.rows as u64 * self.cols_for(width, height) as u64;
        let header = (self.header_copies as u64 * HEADER_CODED_BITS as u64).min(cells);
        (cells, cells - header)
    }
}

/// `floor(t / T)`, robust to the rounding of `t = index / fps`.
pub(crate) fn period_at(t: f64, hold: f64) -> u64 {
    ((t / hold) + 1e-9).floor().max(0.0) as u64
}

/// What a video can carry in robust mode.
#[derive(Clone, Debug, PartialEq)]
pub struct Capacity {
    /// Grid rows × columns.
    pub grid: (u32, u32),
    /// Cells per frame carrying data (the rest carry the period header).
    pub data_cells: u64,
    /// Whole periods of the video.
    pub periods: u64,
    /// Data slots: whole periods × data cells.
    pub slots: u64,
    /// Largest payload (sealed envelope) in bytes.
    pub payload_bytes: u64,
    /// Largest message in bytes, incompressible, sealed with [`robust_seal_params`].
    pub message_bytes: u64,
    /// `message_bytes` per second of video.
    pub message_bytes_per_second: f64,
}

/// Slot budget → the largest payload whose coded bits repeat at least `min_repeat` times.
pub(crate) fn max_payload_bytes(slots: u64, min_repeat: f64) -> u64 {
    let budget = (slots as f64 / min_repeat).floor() as u64;
    // coded(B) = 8B + 1024·ceil(8B/1024) is increasing: binary search.
    let (mut lo, mut hi) = (0u64, budget / 8 + 1);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if PayloadCode::coded_bits_for(mid as usize) as u64 <= budget {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Envelope bytes of an incompressible `message_len`-byte message sealed with [`robust_seal_params`].
pub fn envelope_len(message_len: u64) -> u64 {
    let p = robust_seal_params(message_len, DEFAULT_KDF_ITERATIONS);
    let bits = p.body_bits_for(message_len).unwrap_or(u64::MAX / 2);
    ENVELOPE_HEADER_LEN as u64 + bits / 8
}

/// How many bytes a `width × height` video of `frames` frames at `fps` carries.
pub fn capacity(width: u32, height: u32, frames: u64, fps: f64, params: &RobustParams) -> Capacity {
    let (_, data_cells) = params.cells(width, height);
    let periods = params.full_periods(frames, fps);
    let slots = periods * data_cells;
    let payload_bytes = max_payload_bytes(slots, params.min_repeat);
    // Largest message whose envelope fits.
    let (mut lo, mut hi) = (0u64, payload_bytes);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if envelope_len(mid) <= payload_bytes {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let seconds = frames as f64 / fps;
    Capacity {
        grid: (params.rows, params.cols_for(width, height)),
        data_cells,
        periods,
        slots,
        payload_bytes,
        message_bytes: lo,
        message_bytes_per_second: if seconds > 0.0 { lo as f64 / seconds } else { 0.0 },
    }
}

/// The seal settings robust mode uses for a `message_len`-byte message: one
/// parity shard and the number of data shards (1 to 16) that makes the
/// envelope smallest.
///
/// Robust mode's own LDPC code and interleaving repair bit errors and lost
/// periods; the envelope's Reed–Solomon layer (which the format requires)
/// then only has to mend a failed LDPC codeword, so one parity shard is enough
/// and more would cost capacity the LDPC code uses better.
pub fn robust_seal_params(message_len: u64, kdf_iterations: u32) -> SealParams {
    let mut best = SealParams {
        kdf_iterations,
        compress: true,
        data_shards: 1,
        parity_shards: 1,
        max_shard_len: u16::MAX,
    };
    let mut best_bits = u64::MAX;
    for k in 1..=16u8 {
        let p = SealParams {
            data_shards: k,
            ..best.clone()
        };
        if let Ok(bits) = p.body_bits_for(message_len) {
            if bits < best_bits {
                best_bits = bits;
                best = p;
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_follow_time() {
        let p = Preset::Normal.params();
        assert_eq!(p.period_of(0, 30.0), 0);
        assert_eq!(p.period_of(23, 30.0), 0);
        assert_eq!(p.period_of(24, 30.0), 1);
        assert_eq!(p.periods(300, 30.0), 13);
        assert_eq!(p.full_periods(300, 30.0), 12);
        assert_eq!(p.periods(24, 30.0), 1);
        assert_eq!(p.full_periods(24, 30.0), 1);
    }

    #[test]
    fn capacity_grows_with_length_and_fits() {
        let p = Preset::Normal.params();
        let a = capacity(1920, 1080, 300, 30.0, &p);
        let b = capacity(1920, 1080, 600, 30.0, &p);
        assert_eq!(a.grid, (34, 60));
        assert!(b.message_bytes > a.message_bytes);
        assert!(
            PayloadCode::coded_bits_for(a.payload_bytes as usize) as f64 * p.min_repeat <= a.slots as f64
        );
        assert!(envelope_len(a.message_bytes) <= a.payload_bytes);
        assert!(envelope_len(a.message_bytes + 1) > a.payload_bytes);
    }

    #[test]
    fn seal_params_are_valid_and_small() {
        for len in [1u64, 10, 100, 400, 5000] {
            let p = robust_seal_params(len, 1000);
            p.validate().unwrap();
            assert_eq!(p.parity_shards, 1);
            let env = envelope_len(len);
            assert!(env < 36 + 2 * (len + 16) + 40, "len {len}: {env}");
        }
    }
}
