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

/// How a frame of the encoded output reads back ([`Embedder::check_frame`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameCheck {
    /// Cells read.
    pub cells: u64,
    /// Cells whose statistic decides the other bit than the one embedded.
    pub wrong: u64,
}

impl FrameCheck {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: FrameCheck) {
        self.cells += other.cells;
        self.wrong += other.wrong;
    }

    /// Wrong cells per cell read (0 when none was read).
    pub fn error_rate(&self) -> f64 {
        if self.cells == 0 {
            0.0
        } else {
            self.wrong as f64 / self.cells as f64
        }
    }
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

    /// The hold period of frame `index`, after checking that its luma plane
    /// (`len` bytes) is `width × height` and the period is one the header
    /// can name.
    fn period_of_frame(&self, index: u64, len: usize) -> Result<u64> {
        let (w, h) = (self.info.width as usize, self.info.height as usize);
        if len != w * h {
            return Err(RobustError::InvalidInput(format!(
                "luma plane of {len} bytes, expected {w}x{h}"
            )));
        }
        let p = self.params.period_of(index, self.info.fps);
        if p > MAX_PERIOD {
            return Err(RobustError::InvalidInput(format!(
                "frame {index} is beyond the last period"
            )));
        }
        Ok(p)
    }

    /// Embeds into frame `index` (0-based, presentation order) whose luma plane
    /// is `luma` (`width × height` bytes, row-major, no padding).
    pub fn embed_frame(&mut self, index: u64, luma: &mut [u8]) -> Result<()> {
        let p = self.period_of_frame(index, luma.len())?;
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

    /// Per cell of frame `index` of the *encoded* output (its decoded luma
    /// plane, `width × height`): whether the cell's statistic decides the
    /// other bit than the one embedded there. Returns the frame's period too.
    fn cell_errors(&mut self, index: u64, luma: &[u8]) -> Result<(u64, Vec<bool>)> {
        let p = self.period_of_frame(index, luma.len())?;
        let cells = self.grid.cells();
        let step = self.params.step;
        let mut s = vec![0f32; cells];
        self.grid.stats(luma, &mut s);
        let t = self.targets(p);
        // Distance from `x` to the nearest point of the lattice `off + step·Z`.
        let dist = |x: f32, off: f32| (x - off - step * ((x - off) / step).round()).abs();
        let wrong = (0..cells)
            .map(|c| {
                let d0 = dist(s[c], t.dither[c]);
                let d1 = dist(s[c], t.dither[c] + step * 0.5);
                u8::from(d1 < d0) != t.bit[c]
            })
            .collect();
        Ok((p, wrong))
    }

    /// Reads frame `index` of the *encoded* output and counts the cells whose
    /// single-frame decision differs from the bit embedded there. Every cell
    /// counts, header cells included; nothing is combined or decoded.
    pub fn check_frame(&mut self, index: u64, luma: &[u8]) -> Result<FrameCheck> {
        let (_, wrong) = self.cell_errors(index, luma)?;
        Ok(FrameCheck {
            cells: wrong.len() as u64,
            wrong: wrong.iter().filter(|&&x| x).count() as u64,
        })
    }

    /// Adds frame `index` of the *encoded* output to `read_back`: the closed
    /// loop's measure of how much of the embedding the encoder kept.
    pub fn read_back(&mut self, index: u64, luma: &[u8], read_back: &mut ReadBack) -> Result<()> {
        let (p, wrong) = self.cell_errors(index, luma)?;
        read_back.add(p, &wrong);
        Ok(())
    }
}

/// What reading an encoded stretch of frames back found
/// ([`Embedder::read_back`]), per frame and per *slot* — a cell over one
/// hold period, its frames' decisions combined by a majority vote, as the
/// extractor combines them (a tie counts as wrong). Push frames in order.
#[derive(Clone, Debug, Default)]
pub struct ReadBack {
    period: Option<u64>,
    /// Per cell of the current period: right decisions minus wrong ones.
    votes: Vec<i32>,
    /// Single-frame decisions.
    pub frames: FrameCheck,
    /// Slots of the periods finished so far.
    pub slots: u64,
    /// Of those, the slots whose majority was wrong.
    pub wrong_slots: u64,
}

impl ReadBack {
    fn add(&mut self, period: u64, wrong: &[bool]) {
        if self.period != Some(period) {
            self.close_period();
            self.period = Some(period);
            self.votes = vec![0; wrong.len()];
        }
        for (v, &w) in self.votes.iter_mut().zip(wrong) {
            *v += if w { -1 } else { 1 };
        }
        self.frames.add(FrameCheck {
            cells: wrong.len() as u64,
            wrong: wrong.iter().filter(|&&x| x).count() as u64,
        });
    }

    fn close_period(&mut self) {
        if self.period.take().is_some() {
            self.slots += self.votes.len() as u64;
            self.wrong_slots += self.votes.iter().filter(|&&v| v <= 0).count() as u64;
        }
    }

    /// Ends the last period; the counts are final after this.
    pub fn finish(&mut self) {
        self.close_period();
    }

    /// Wrong slots per slot (0 when none was read).
    pub fn slot_error_rate(&self) -> f64 {
        if self.slots == 0 {
            0.0
        } else {
            self.wrong_slots as f64 / self.slots as f64
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::{robust_seal_params, Preset};

    #[test]
    fn read_back_finds_every_cell_of_an_embedded_frame_and_about_half_of_a_clean_one() {
        let (w, h) = (640u32, 360u32);
        let info = VideoInfo {
            width: w,
            height: h,
            fps: 30.0,
            frames: 300,
        };
        let params = Preset::Normal.params();
        let message = b"check the closed loop";
        let sp = robust_seal_params(message.len() as u64, vidstega_core::MIN_KDF_ITERATIONS);
        let payload = vidstega_core::seal(message, b"pw", &sp).unwrap().to_bytes();
        let key = PlacementKey::from_bytes([9; 32]);
        let mut embedder = Embedder::new(&payload, &key, &params, info).unwrap();
        // A smooth gradient with some texture, away from black and white.
        let clean: Vec<u8> = (0..h)
            .flat_map(|y| (0..w).map(move |x| (60 + (x / 5 + y / 3) % 120 + (x * 7 + y * 13) % 9) as u8))
            .collect();
        let mut frame = clean.clone();
        embedder.embed_frame(40, &mut frame).unwrap();
        let embedded = embedder.check_frame(40, &frame).unwrap();
        assert!(embedded.cells > 1000, "{embedded:?}");
        assert_eq!(embedded.wrong, 0, "{embedded:?}");
        let unembedded = embedder.check_frame(40, &clean).unwrap();
        let rate = unembedded.error_rate();
        assert!(
            (0.35..0.65).contains(&rate),
            "a clean frame reads at chance: {rate}"
        );
        assert!(embedder.check_frame(40, &clean[1..]).is_err());
        // Three frames of one period: two embedded, one clean. The majority
        // holds every slot; a clean majority loses about half of them.
        let mut good = ReadBack::default();
        for i in [40, 41, 42] {
            let f = if i == 42 { &clean } else { &frame };
            embedder.read_back(i, f, &mut good).unwrap();
        }
        good.finish();
        assert_eq!((good.slots, good.wrong_slots), (embedded.cells, 0));
        let mut bad = ReadBack::default();
        for i in [40, 41, 42] {
            let f = if i == 42 { &frame } else { &clean };
            embedder.read_back(i, f, &mut bad).unwrap();
        }
        bad.finish();
        assert!((0.35..0.65).contains(&bad.slot_error_rate()), "{bad:?}");
    }
}
