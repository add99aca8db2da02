//! Two keyless steganalysis detectors for robust mode, to measure what an
//! adversary who knows the scheme and its parameters (but not the key) can see.
//!
//! ## Hold rhythm ([`PeriodicityDetector`])
//!
//! Robust mode holds every cell's statistic on a keyed lattice for a whole
//! hold period and moves it to another lattice point at the next period, so
//! the frame-to-frame change of cell means has a rhythm: a little more change
//! at every period boundary (every `T` seconds) than between frames inside a
//! period. The detector measures that rhythm: for every transition `g → g+1`
//! it takes `e_g`, the mean over cells of `|s_{g+1} − s_g|`, and compares the
//! magnitude of the series' Fourier component at the hold frequency `1/T`
//! with the median magnitude at nearby frequencies that are not harmonics of
//! it. Natural video has no reason to change at exactly that rhythm, so the
//! ratio stays near 1 for a cover and grows for a stego video.
//!
//! ## Hold coherence ([`HoldCoherenceDetector`])
//!
//! The extractor's own keyless sync statistic. Within a period every frame's
//! cell statistic sits on the same (unknown) lattice `d + b·Δ/2 + Δℤ`, so the
//! phasors `e^{2πi·s/Δ}` of one cell agree across the frames of a period; a
//! window that straddles two periods mixes two lattices. The detector
//! computes the coherence `κ(τ)` (the mean cosine between two frames' phasors
//! of one cell within a window of offset `τ`) for every offset over one hold
//! and reports `max κ / min κ`. Motion lowers `κ` at every offset alike, so a
//! cover stays near 1; a stego video peaks at the period-aligned offset.

use crate::extract::{coherence, phasors, C32};
use crate::grid::GridMap;
use crate::params::RobustParams;
use std::collections::VecDeque;

/// The detector's verdict on one video.
#[derive(Clone, Debug, PartialEq)]
pub struct PeriodicityScore {
    /// Magnitude at the hold frequency over the median magnitude at reference frequencies.
    pub ratio: f64,
    /// Transitions measured.
    pub transitions: u64,
}

/// Streams frames and measures the hold-period rhythm of their cell means.
pub struct PeriodicityDetector {
    params: RobustParams,
    fps: f64,
    grid: Option<GridMap>,
    prev: Vec<f32>,
    cur: Vec<f32>,
    series: Vec<f32>,
}

/// Reference frequencies, as multiples of the hold frequency (no harmonics).
const REFERENCE: [f64; 10] = [0.55, 0.62, 0.7, 0.77, 0.85, 1.18, 1.27, 1.36, 1.45, 1.6];

impl PeriodicityDetector {
    /// A detector for the rhythm of `params`' hold at `fps`.
    pub fn new(params: &RobustParams, fps: f64) -> Self {
        PeriodicityDetector {
            params: params.clone(),
            fps,
            grid: None,
            prev: Vec::new(),
            cur: Vec::new(),
            series: Vec::new(),
        }
    }

    /// Pushes the next frame's luma plane.
    pub fn push_frame(&mut self, luma: &[u8], width: u32, height: u32) -> crate::Result<()> {
        if self.grid.is_none() {
            let cols = self.params.cols_for(width, height);
            self.grid = Some(GridMap::new(width, height, self.params.rows, cols)?);
        }
        let grid = self.grid.as_ref().expect("grid");
        self.cur.resize(grid.cells(), 0.0);
        grid.stats(luma, &mut self.cur);
        if self.prev.len() == self.cur.len() {
            let e = self
                .cur
                .iter()
                .zip(&self.prev)
                .map(|(a, b)| (a - b).abs())
                .sum::<f32>()
                / self.cur.len() as f32;
            self.series.push(e);
        }
        std::mem::swap(&mut self.prev, &mut self.cur);
        Ok(())
    }

    /// The score of the frames pushed so far.
    pub fn score(&self) -> PeriodicityScore {
        let n = self.series.len();
        let mean = self.series.iter().sum::<f32>() as f64 / n.max(1) as f64;
        let mag = |cycles_per_frame: f64| {
            let (mut re, mut im) = (0f64, 0f64);
            for (g, &e) in self.series.iter().enumerate() {
                let ph = std::f64::consts::TAU * cycles_per_frame * g as f64;
                re += (e as f64 - mean) * ph.cos();
                im += (e as f64 - mean) * ph.sin();
            }
            (re * re + im * im).sqrt()
        };
        let f0 = 1.0 / (self.params.hold_seconds * self.fps);
        let mut refs: Vec<f64> = REFERENCE.iter().map(|&m| mag(f0 * m)).collect();
        refs.sort_by(f64::total_cmp);
        let median = (refs[refs.len() / 2 - 1] + refs[refs.len() / 2]) / 2.0;
        PeriodicityScore {
            ratio: if median > 0.0 { mag(f0) / median } else { 0.0 },
            transitions: n as u64,
        }
    }
}

/// The hold-coherence detector's verdict on one video.
#[derive(Clone, Debug, PartialEq)]
pub struct HoldCoherenceScore {
    /// The largest coherence over the offsets tried.
    pub max_coherence: f64,
    /// The smallest coherence over the offsets tried.
    pub min_coherence: f64,
    /// `max_coherence / min_coherence` (near 1 for a cover).
    pub ratio: f64,
}

/// Streams frames and measures how much the coherence of cell phasors within
/// hold windows depends on where the windows start.
pub struct HoldCoherenceDetector {
    params: RobustParams,
    fps: f64,
    grid: Option<GridMap>,
    frames: VecDeque<Vec<C32>>,
    times: VecDeque<f64>,
    scratch: Vec<f32>,
}

impl HoldCoherenceDetector {
    /// A detector for `params`' grid, step and hold at `fps`.
    pub fn new(params: &RobustParams, fps: f64) -> Self {
        HoldCoherenceDetector {
            params: params.clone(),
            fps,
            grid: None,
            frames: VecDeque::new(),
            times: VecDeque::new(),
            scratch: Vec::new(),
        }
    }

    /// Pushes the next frame's luma plane.
    pub fn push_frame(&mut self, luma: &[u8], width: u32, height: u32) -> crate::Result<()> {
        if self.grid.is_none() {
            let cols = self.params.cols_for(width, height);
            self.grid = Some(GridMap::new(width, height, self.params.rows, cols)?);
        }
        let grid = self.grid.as_ref().expect("grid");
        self.times.push_back(self.frames.len() as f64 / self.fps);
        self.frames
            .push_back(phasors(grid, luma, self.params.step, &mut self.scratch));
        Ok(())
    }

    /// The score of the frames pushed so far (offsets in half-frame steps over one hold).
    pub fn score(&self) -> HoldCoherenceScore {
        if self.frames.len() < 2 {
            return HoldCoherenceScore {
                max_coherence: 0.0,
                min_coherence: 0.0,
                ratio: 0.0,
            };
        }
        let steps = (2.0 * (self.params.hold_seconds * self.fps).round()).max(2.0) as usize;
        let kappas: Vec<f64> = (0..steps)
            .map(|k| {
                let tau = self.params.hold_seconds * k as f64 / steps as f64;
                coherence(&self.frames, &self.times, tau, &self.params)
            })
            .collect();
        let max = kappas.iter().copied().fold(f64::MIN, f64::max);
        let min = kappas.iter().copied().fold(f64::MAX, f64::min);
        HoldCoherenceScore {
            max_coherence: max,
            min_coherence: min,
            ratio: if min > 0.0 { max / min } else { f64::INFINITY },
        }
    }
}
