//! The embedder: one frame at a time, any frame independently of the others.

use crate::code::PayloadCode;
use crate::error::{Result, RobustError};
use crate::grid::{texture_mask, GridMap};
use crate::keys::RobustKeys;
use crate::layout::{
    data_dither, header_dither, whitening, Header, Layout, SlotMap, HEADER_CODED_BITS, MAX_PAYLOAD_BYTES,
    MAX_PERIOD,
};
use crate::params::{capacity, RobustParams};
use vidstega_core::PlacementKey;

/// The video being embedded into: the frame size and timing the embedder plans for.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VideoInfo {
    /// Luma width in pixels.
    pub width: u32,
    /// Luma height in pixels.
    pub height: u32,
    /// Frames per second (constant frame rate; frame `n` is at `n / fps` seconds).
    pub fps: f64,
    /// Frames in the video.
    pub frames: u64,
}

/// What embedding did so far.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EmbedStats {
    /// Frames embedded.
    pub frames: u64,
    /// Mean absolute change of a cell statistic, in luma levels.
    pub mean_abs_move: f64,
    /// Cells whose statistic was still more than a quarter level off its
    /// target after the correction pass (clipped at black or white).
    pub missed_cells: u64,
}

/// The targets every frame of one period gets.
struct PeriodTargets {
    p: u64,
    /// Per cell: the bit.
    bit: Vec<u8>,
    /// Per cell: the dither.
    dither: Vec<f32>,
}

/// Embeds a sealed payload into the luma planes of a video, frame by frame.
///
/// Memory is bounded by the payload and one frame's cells; frames may come in
/// any order and from any number of embedders (each needs the same payload,
/// key, parameters and [`VideoInfo`]), so segments embed in parallel.
pub struct Embedder {
    params: RobustParams,
    info: VideoInfo,
    keys: RobustKeys,
    grid: GridMap,
    layout: Layout,
    payload_len: usize,
    coded: Vec<u8>,
    slots: SlotMap,
    current: Option<PeriodTargets>,
    stats: EmbedStats,
    moved: f64,
    moved_cells: u64,
}

impl Embedder {
    /// Plans the embedding of `payload` (a sealed envelope's bytes) with `key`.
    ///
    /// Errors: invalid parameters or frame size, or a payload beyond the
    /// video's [`capacity`](crate::capacity).
    pub fn new(
        payload: &[u8],
        key: &PlacementKey,
        params: &RobustParams,
        info: VideoInfo,
    ) -> Result<Embedder> {
        params.validate()?;
        if !(info.fps > 0.0 && info.fps.is_finite()) {
            return Err(RobustError::InvalidInput(format!(
                "frame rate {} is not positive",
                info.fps
            )));
        }
        if payload.is_empty() || payload.len() > MAX_PAYLOAD_BYTES {
            return Err(RobustError::InvalidInput(format!(
                "payload of {} bytes: robust mode carries 1 to {MAX_PAYLOAD_BYTES} bytes",
                payload.len()
            )));
        }
        let cols = params.cols_for(info.width, info.height);
        let grid = GridMap::new(info.width, info.height, params.rows, cols)?;
        let keys = RobustKeys::derive(key);
        let layout = Layout::new(&keys, grid.cells(), params.header_copies);
        if layout.data_cells.is_empty() || layout.header_cells.len() < HEADER_CODED_BITS {
            return Err(RobustError::InvalidInput(format!(
                "a {}x{} grid is too small for the period header",
                params.rows, cols
            )));
        }
        let cap = capacity(info.width, info.height, info.frames, info.fps, params);
        if payload.len() as u64 > cap.payload_bytes {
            return Err(RobustError::OverCapacity {
                payload_bytes: payload.len() as u64,
                max_payload_bytes: cap.payload_bytes,
                slots: cap.slots,
                min_repeat: params.min_repeat,
                preset: params.preset.name(),
            });
        }
        if params.periods(info.frames, info.fps) > MAX_PERIOD + 1 {
            return Err(RobustError::InvalidInput(
                "the video is too long for robust mode".into(),
            ));
        }
        let code = PayloadCode::new(payload.len());
        let coded = code.encode(payload);
        let slots = SlotMap::new(&keys, coded.len(), layout.data_cells.len());
        Ok(Embedder {
            params: params.clone(),
            info,
            keys,
            grid,
            layout,
            payload_len: payload.len(),
            coded,
            slots,
            current: None,
            stats: EmbedStats::default(),
            moved: 0.0,
            moved_cells: 0,
        })
    }

    /// The grid, rows × columns.
    pub fn grid(&self) -> (u32, u32) {
        (self.grid.rows as u32, self.grid.cols as u32)
    }

    /// Coded bits of the payload (`M`).
    pub fn coded_bits(&self) -> usize {
        self.coded.len()
    }

    /// What embedding did so far.
    pub fn stats(&self) -> EmbedStats {
        let mut s = self.stats.clone();
        s.mean_abs_move = if self.moved_cells > 0 {
            self.moved / self.moved_cells as f64
        } else {
            0.0
        };
        s
    }

    fn targets(&mut self, p: u64) -> &PeriodTargets {
        if self.current.as_ref().map(|t| t.p) != Some(p) {
            let cells = self.layout.cells;
            let step = self.params.step;
            let mut bit = vec![0u8; cells];
            let mut dither = data_dither(&self.keys, p, cells, step);
            let hdr = Header {
                preset: self.params.preset.id(),
                period: p,
                payload_len: self.payload_len,
            }
            .coded(&self.keys);
            let hd = header_dither(&self.keys, p % 4, cells, step);
            for (h, &c) in self.layout.header_cells.iter().enumerate() {
                bit[c as usize] = hdr[h % HEADER_CODED_BITS];
                dither[c as usize] = hd[c as usize];
            }
            let white = whitening(&self.keys, p, self.layout.data_cells.len());
            for (k, &c) in self.layout.data_cells.iter().enumerate() {
                let m = self.slots.coded_index(p, k);
                bit[c as usize] = self.coded[m] ^ white[k];
            }
            self.current = Some(PeriodTargets { p, bit, dither });
        }
        self.current.as_ref().expect("just set")
    }

    /// Embeds into frame `index` (0-based, presentation order) whose luma plane
    /// is `luma` (`width × height` bytes, row-major, no padding).
    pub fn embed_frame(&mut self, index: u64, luma: &mut [u8]) -> Result<()> {
        let (w, h) = (self.info.width as usize, self.info.height as usize);
        if luma.len() != w * h {
            return Err(RobustError::InvalidInput(format!(
                "luma plane of {} bytes, expected {w}x{h}",
                luma.len()
            )));
        }
        let p = self.params.period_of(index, self.info.fps);
        if p > MAX_PERIOD {
            return Err(RobustError::InvalidInput(format!(
                "frame {index} is beyond the last period"
            )));
        }
        let cells = self.grid.cells();
        let (step, alpha_min, flat) = (
            self.params.step,
            self.params.flat_strength,
            self.params.flat_activity,
        );
        let beta = self.params.texture_masking;
        let mut s = vec![0f32; cells];
        self.grid.stats(luma, &mut s);
        let mut act = vec![flat; cells];
        if alpha_min < 1.0 {
            self.grid.activity(luma, &mut act);
        }
        let t = self.targets(p);
        let mut goal = vec![0f32; cells];
        let mut delta = vec![0f32; cells];
        let mut moved = 0f64;
        for c in 0..cells {
            let off = t.dither[c] + t.bit[c] as f32 * step * 0.5;
            let mut target = off + step * ((s[c] - off) / step).round();
            // Keep the target inside the representable range.
            while target < 1.0 {
                target += step;
            }
            while target > 254.0 {
                target -= step;
            }
            let alpha = alpha_min + (1.0 - alpha_min) * (act[c] / flat).min(1.0);
            delta[c] = alpha * (target - s[c]);
            goal[c] = s[c] + delta[c];
            moved += delta[c].abs() as f64;
        }
        let mask = (beta > 0.0).then(|| texture_mask(&self.grid, luma, beta));
        let apply = |grid: &GridMap, luma: &mut [u8], d: &[f32], clipped: &mut [bool]| match &mask {
            Some(m) => grid.apply_masked(luma, d, m, clipped),
            None => grid.apply(luma, d, clipped),
        };
        let mut clipped = vec![false; cells];
        apply(&self.grid, luma, &delta, &mut clipped);
        // Rounding moves a cell's statistic by ~0.01 level (the R2 dither makes
        // the per-pixel errors cancel); clipping at black or white can leave it
        // far off. A second pass corrects the clipped cells only.
        let mut missed = 0;
        let redo: Vec<usize> = (0..cells).filter(|&c| clipped[c]).collect();
        if !redo.is_empty() {
            delta.iter_mut().for_each(|d| *d = 0.0);
            for &c in &redo {
                let off = goal[c] - self.grid.cell_stat(luma, c);
                delta[c] = if off.abs() < 0.05 { 0.0 } else { off };
            }
            apply(&self.grid, luma, &delta, &mut clipped);
            for &c in &redo {
                if (goal[c] - self.grid.cell_stat(luma, c)).abs() > 0.25 {
                    missed += 1;
                }
            }
        }
        self.moved += moved;
        self.moved_cells += cells as u64;
        self.stats.frames += 1;
        self.stats.missed_cells += missed;
        Ok(())
    }
}
