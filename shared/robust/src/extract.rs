//! The extractor: decoded frames of any size in, the payload (or a clear
//! error) out.
//!
//! 1. **Acquisition.** For every candidate grid (each preset's rows, and the
//!    columns `C0 − 1`, `C0`, `C0 + 1` around the frame's aspect ratio) every
//!    buffered frame becomes one unit phasor per cell, `z = e^{2πi·s/Δ}`. For
//!    every candidate time offset `τ` (half-frame steps over one hold period)
//!    the frames are grouped into windows `j = floor((t + τ)/T)`, and the
//!    *coherence* `κ` — the mean over windows and cells of
//!    `(|Σ z|² − n) / (n(n − 1))`, the average cosine between two frames of
//!    one window — is computed. Frames of one period share a lattice phase, so
//!    `κ` peaks when windows coincide with periods; it needs no key.
//! 2. **Header.** On the best candidates, each window's header cells are
//!    demodulated under the four header dithers (`p mod 4`), the copies added,
//!    and the TC128 codeword decoded; an authenticated header gives the period
//!    `p` of that window (hence `p0 = p − j` for all) and the payload length.
//! 3. **Streaming.** Every later frame is read on the locked grid only; each
//!    completed window's data cells are demodulated with that period's dither,
//!    calibrated to LLRs and added to the coded bit they carry.
//! 4. **Decoding** at [`Extractor::finish`]: LDPC per codeword.

use crate::code::{header_decode, PayloadCode};
use crate::error::{Result, RobustError};
use crate::grid::GridMap;
use crate::keys::RobustKeys;
use crate::layout::{data_dither, header_dither, whitening, Header, Layout, SlotMap, HEADER_CODED_BITS};
use crate::params::{Preset, RobustParams};
use std::collections::VecDeque;
use vidstega_core::{unseal, CoreError, Envelope, PlacementKey};

/// A unit phasor (or a sum of them).
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct C32 {
    re: f32,
    im: f32,
}

impl C32 {
    fn add(&mut self, o: C32, w: f32) {
        self.re += o.re * w;
        self.im += o.im * w;
    }
    fn norm2(self) -> f32 {
        self.re * self.re + self.im * self.im
    }
}

/// How an [`Extractor`] searches.
#[derive(Clone, Debug)]
pub struct ExtractorConfig {
    /// Parameter sets to try (by default every preset).
    pub candidates: Vec<RobustParams>,
    /// Frame rate of the frames pushed with [`Extractor::push_frame`].
    pub fps: f64,
    /// Seconds of frames buffered before the first attempt to lock.
    pub acquisition_seconds: f64,
    /// Most seconds of frames kept while no header is found (older frames are dropped).
    pub max_acquisition_seconds: f64,
}

impl ExtractorConfig {
    /// Every preset, at `fps`.
    pub fn new(fps: f64) -> Self {
        ExtractorConfig {
            candidates: Preset::ALL.iter().map(|p| p.params()).collect(),
            fps,
            acquisition_seconds: 4.0,
            max_acquisition_seconds: 8.0,
        }
    }

    /// Only `params`, at `fps`.
    pub fn with_params(params: RobustParams, fps: f64) -> Self {
        ExtractorConfig {
            candidates: vec![params],
            ..Self::new(fps)
        }
    }
}

/// What extraction found and measured.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtractReport {
    /// The preset the message was embedded with.
    pub preset: Preset,
    /// The grid it was read on (rows, columns).
    pub grid: (u32, u32),
    /// Where the first frame read lies in the original video, in seconds.
    pub offset_seconds: f64,
    /// The acquisition's coherence at the chosen grid and offset.
    pub sync_coherence: f64,
    /// Frames pushed.
    pub frames_read: u64,
    /// Frames that contributed (the rest were guard frames or before the lock).
    pub frames_used: u64,
    /// Hold periods read.
    pub windows: u64,
    /// Hold periods whose header decoded and agreed.
    pub windows_with_header: u64,
    /// Payload bytes the header declared.
    pub payload_bytes: usize,
    /// LDPC codewords.
    pub codewords: usize,
    /// Codewords that failed to decode.
    pub failed_codewords: usize,
    /// Bit error rate of single-frame decisions (before temporal combining).
    pub frame_ber: f64,
    /// Bit error rate of slot decisions after temporal combining, before decoding.
    pub slot_ber: f64,
    /// The error rates are against a reference payload (exact), not the decoded one.
    pub ber_vs_reference: bool,
    /// Fraction of coded bits carried by at least one slot read.
    pub coverage: f64,
    /// Average slots read per coded bit.
    pub mean_repeat: f64,
    /// Hold periods one full copy of the coded bits (one interleaver lap) spans.
    pub periods_per_copy: u64,
}

/// A located and decoded payload.
#[derive(Clone, Debug)]
pub struct Extracted {
    /// The payload bytes (the sealed envelope; failed codewords hold best guesses).
    pub payload: Vec<u8>,
    /// What extraction found and measured.
    pub report: ExtractReport,
}

impl Extracted {
    /// The envelope, if every codeword decoded and it parses.
    pub fn envelope(&self) -> Result<Envelope> {
        if self.report.failed_codewords > 0 {
            return Err(self.damaged(format!(
                "{} codeword(s) did not decode",
                self.report.failed_codewords
            )));
        }
        Envelope::parse(&self.payload).map_err(|e| self.damaged(e.to_string()))
    }

    /// Opens the message with the password: the envelope's Reed–Solomon layer
    /// mends what the LDPC code left, and AES-GCM's tag has the last word, so a
    /// wrong message is never returned.
    pub fn open(&self, password: &[u8]) -> Result<Vec<u8>> {
        let env = Envelope::parse(&self.payload).map_err(|e| self.damaged(e.to_string()))?;
        match unseal(&env, password) {
            Ok(m) => Ok(m),
            Err(e @ CoreError::Damaged { .. }) => Err(self.damaged(e.to_string())),
            Err(e) => Err(e.into()),
        }
    }

    fn damaged(&self, detail: String) -> RobustError {
        let r = &self.report;
        RobustError::Damaged {
            failed_codewords: r.failed_codewords,
            codewords: r.codewords,
            slot_ber: r.slot_ber * 100.0,
            coverage: r.coverage * 100.0,
            periods_read: r.windows,
            periods_per_copy: r.periods_per_copy,
            detail,
        }
    }
}

/// A candidate grid during acquisition.
struct Cand {
    params: usize,
    grid: GridMap,
    frames: VecDeque<Vec<C32>>,
}

/// A window being filled on the locked grid.
struct Window {
    j: i64,
    frames: Vec<Vec<C32>>,
}

struct Locked {
    params: RobustParams,
    grid: GridMap,
    layout: Layout,
    tau: f64,
    p0: i64,
    coherence: f64,
    code: PayloadCode,
    slots: SlotMap,
    window: Option<Window>,
    acc: Vec<f32>,
    /// Per coded bit: slot decisions for 0 and for 1, frame decisions for 0 and for 1.
    votes: Vec<[u32; 4]>,
    windows: u64,
    windows_with_header: u64,
    frames_used: u64,
}

enum State {
    Acquiring {
        cands: Vec<Cand>,
        times: VecDeque<f64>,
        next_try: f64,
    },
    Locked(Box<Locked>),
}

/// Reads a robust-mode payload from decoded frames, streaming.
pub struct Extractor {
    keys: RobustKeys,
    cfg: ExtractorConfig,
    state: Option<State>,
    dims: Option<(u32, u32)>,
    frames: u64,
    windows_seen: u64,
    reference: Option<Vec<u8>>,
    scratch: Vec<f32>,
}

/// Phasors of every cell of `grid` on `luma`.
pub(crate) fn phasors(grid: &GridMap, luma: &[u8], step: f32, scratch: &mut Vec<f32>) -> Vec<C32> {
    scratch.resize(grid.cells(), 0.0);
    grid.stats(luma, scratch);
    let k = std::f32::consts::TAU / step;
    scratch
        .iter()
        .map(|&s| {
            let (im, re) = (s * k).sin_cos();
            C32 { re, im }
        })
        .collect()
}

/// Coherence `κ` of `frames` (at `times`) grouped into windows of offset `tau`:
/// the mean cosine between two frames' phasors of one cell in one window.
pub(crate) fn coherence(
    frames: &VecDeque<Vec<C32>>,
    times: &VecDeque<f64>,
    tau: f64,
    p: &RobustParams,
) -> f64 {
    let cells = frames[0].len();
    let mut z = vec![C32::default(); cells];
    let (mut num, mut den) = (0f64, 0f64);
    let mut cur: Option<i64> = None;
    let mut n = 0usize;
    let mut flush = |z: &mut Vec<C32>, n: usize| {
        if n >= 2 {
            let s: f64 = z.iter().map(|a| a.norm2() as f64).sum();
            num += s - (n * cells) as f64;
            den += (n * (n - 1) * cells) as f64;
        }
        z.iter_mut().for_each(|a| *a = C32::default());
    };
    for (f, &t) in frames.iter().zip(times) {
        let Some(j) = window_of(t, tau, p.hold_seconds, p.guard_seconds) else {
            continue;
        };
        if cur != Some(j) {
            flush(&mut z, n);
            n = 0;
            cur = Some(j);
        }
        for (a, &b) in z.iter_mut().zip(f) {
            a.add(b, 1.0);
        }
        n += 1;
    }
    flush(&mut z, n);
    if den > 0.0 {
        num / den
    } else {
        0.0
    }
}

/// The window index of time `t` under offset `tau`, or `None` in a guard band.
fn window_of(t: f64, tau: f64, hold: f64, guard: f64) -> Option<i64> {
    let x = (t + tau) / hold;
    let j = (x + 1e-9).floor();
    let frac = (x - j) * hold;
    (frac >= guard && hold - frac >= guard).then_some(j as i64)
}

/// Sums a window's frames per cell, weighting each frame by its agreement
/// with the others when `weighted`.
fn combine(frames: &[Vec<C32>], weighted: bool) -> (Vec<C32>, Vec<f32>) {
    let cells = frames[0].len();
    let mut z = vec![C32::default(); cells];
    for f in frames {
        for (a, &b) in z.iter_mut().zip(f) {
            a.add(b, 1.0);
        }
    }
    let mut weights = vec![1f32; frames.len()];
    if !weighted || frames.len() < 3 {
        return (z, weights);
    }
    for (f, w) in frames.iter().zip(weights.iter_mut()) {
        // Leave-one-out agreement: mean cosine to the others' resultant.
        let mut rho = 0f32;
        for (a, b) in z.iter().zip(f) {
            let (re, im) = (a.re - b.re, a.im - b.im);
            let n = (re * re + im * im).sqrt();
            if n > 1e-6 {
                rho += (b.re * re + b.im * im) / n;
            }
        }
        let rho = (rho / cells as f32).clamp(0.0, 0.999);
        let var = ((1.0 + rho.powi(4)) * 0.5 - rho * rho).max(0.02);
        *w = rho / var;
    }
    let mut zw = vec![C32::default(); cells];
    for (f, &w) in frames.iter().zip(&weights) {
        for (a, &b) in zw.iter_mut().zip(f) {
            a.add(b, w);
        }
    }
    (zw, weights)
}

/// Projection of a combined phasor on the bit-0 axis of dither `d`.
#[inline]
fn project(z: C32, d: f32, step: f32) -> f32 {
    let (s, c) = (std::f32::consts::TAU * d / step).sin_cos();
    z.re * c + z.im * s
}

/// Scales soft values to LLRs under a two-Gaussian model: `2·m·y / v`.
fn calibrate(y: &mut [f32]) {
    let n = y.len().max(1) as f32;
    let m = y.iter().map(|v| v.abs()).sum::<f32>() / n;
    let v = (y.iter().map(|v| v * v).sum::<f32>() / n - m * m).max(1e-6 * m * m + 1e-12);
    let k = 2.0 * m / v;
    y.iter_mut().for_each(|x| *x *= k);
}

/// Tries to decode window phasors' header under hypothesis `h`.
fn decode_header(
    keys: &RobustKeys,
    layout: &Layout,
    z: &[C32],
    step: f32,
    h: u64,
    dither_cache: &mut [Option<Vec<f32>>],
) -> Option<Header> {
    let d = dither_cache[h as usize].get_or_insert_with(|| header_dither(keys, h, layout.cells, step));
    let mut llr = vec![0f32; HEADER_CODED_BITS];
    for (i, &c) in layout.header_cells.iter().enumerate() {
        llr[i % HEADER_CODED_BITS] += project(z[c as usize], d[c as usize], step);
    }
    calibrate(&mut llr);
    let info = header_decode(&llr)?;
    let hdr = Header::from_info(info, keys)?;
    (hdr.period % 4 == h).then_some(hdr)
}

impl Extractor {
    /// An extractor for `key` searching as `cfg` says.
    pub fn new(key: &PlacementKey, cfg: ExtractorConfig) -> Result<Extractor> {
        if cfg.candidates.is_empty() {
            return Err(RobustError::InvalidInput("no parameter set to try".into()));
        }
        for c in &cfg.candidates {
            c.validate()?;
        }
        if !(cfg.fps > 0.0 && cfg.fps.is_finite()) {
            return Err(RobustError::InvalidInput(format!(
                "frame rate {} is not positive",
                cfg.fps
            )));
        }
        Ok(Extractor {
            keys: RobustKeys::derive(key),
            cfg,
            state: None,
            dims: None,
            frames: 0,
            windows_seen: 0,
            reference: None,
            scratch: Vec::new(),
        })
    }

    /// Whether an authenticated period header has locked the grid, offset and
    /// payload length. A caller that only wants to know whether a video holds
    /// a robust-mode message for this key can stop feeding frames once this is
    /// true, or give up after some seconds while it stays false (a message
    /// repeats its header every hold period, so it locks within the first
    /// few seconds of any stretch of the video that still carries it).
    pub fn locked(&self) -> bool {
        matches!(self.state, Some(State::Locked(_)))
    }

    /// Frames pushed so far.
    pub fn frames_read(&self) -> u64 {
        self.frames
    }

    /// Measures bit error rates against this payload (what was embedded)
    /// instead of against the decoded one. For benchmarks.
    pub fn set_reference(&mut self, payload: &[u8]) {
        self.reference = Some(payload.to_vec());
    }

    /// Pushes the next frame (`width × height` luma, row-major, no padding),
    /// at time `frames_pushed / fps`.
    pub fn push_frame(&mut self, luma: &[u8], width: u32, height: u32) -> Result<()> {
        let t = self.frames as f64 / self.cfg.fps;
        self.push_frame_at(luma, width, height, t)
    }

    /// Pushes the next frame with its presentation time in seconds (increasing).
    pub fn push_frame_at(&mut self, luma: &[u8], width: u32, height: u32, t: f64) -> Result<()> {
        if luma.len() != width as usize * height as usize {
            return Err(RobustError::InvalidInput(format!(
                "luma plane of {} bytes, expected {width}x{height}",
                luma.len()
            )));
        }
        match self.dims {
            None => {
                self.dims = Some((width, height));
                self.state = Some(self.start(width, height)?);
            }
            Some(d) if d != (width, height) => {
                return Err(RobustError::InvalidInput(format!(
                    "frame size changed from {}x{} to {width}x{height}",
                    d.0, d.1
                )))
            }
            Some(_) => {}
        }
        self.frames += 1;
        let state = self.state.take().expect("state");
        let state = match state {
            State::Acquiring {
                mut cands,
                mut times,
                next_try,
            } => {
                for c in cands.iter_mut() {
                    let step = self.cfg.candidates[c.params].step;
                    c.frames
                        .push_back(phasors(&c.grid, luma, step, &mut self.scratch));
                }
                times.push_back(t);
                let span = t - times[0];
                if span >= next_try {
                    match self.try_lock(&mut cands, &times) {
                        Some(l) => State::Locked(l),
                        None => {
                            // Keep at most max_acquisition_seconds; try again once
                            // half an acquisition span of new frames has come, so a
                            // long video without a message costs a bounded number of tries.
                            while t - times[0] > self.cfg.max_acquisition_seconds {
                                times.pop_front();
                                cands.iter_mut().for_each(|c| {
                                    c.frames.pop_front();
                                });
                            }
                            let retry = self.min_hold().max(self.cfg.acquisition_seconds / 2.0);
                            State::Acquiring {
                                cands,
                                next_try: (t - times[0]) + retry,
                                times,
                            }
                        }
                    }
                } else {
                    State::Acquiring {
                        cands,
                        times,
                        next_try,
                    }
                }
            }
            State::Locked(mut l) => {
                let z = phasors(&l.grid, luma, l.params.step, &mut self.scratch);
                self.feed(&mut l, z, t);
                State::Locked(l)
            }
        };
        self.state = Some(state);
        Ok(())
    }

    fn min_hold(&self) -> f64 {
        self.cfg
            .candidates
            .iter()
            .map(|c| c.hold_seconds)
            .fold(f64::INFINITY, f64::min)
    }

    fn start(&self, width: u32, height: u32) -> Result<State> {
        let mut cands = Vec::new();
        for (i, p) in self.cfg.candidates.iter().enumerate() {
            let c0 = p.cols_for(width, height);
            for cols in [c0, c0 + 1, c0.saturating_sub(1)] {
                if cols == 0
                    || cands
                        .iter()
                        .any(|c: &Cand| c.params == i && c.grid.cols == cols as usize)
                {
                    continue;
                }
                if let Ok(grid) = GridMap::new(width, height, p.rows, cols) {
                    cands.push(Cand {
                        params: i,
                        grid,
                        frames: VecDeque::new(),
                    });
                }
            }
        }
        if cands.is_empty() {
            return Err(RobustError::InvalidInput(format!(
                "a {width}x{height} frame is too small for every robust-mode grid"
            )));
        }
        Ok(State::Acquiring {
            cands,
            times: VecDeque::new(),
            next_try: self.cfg.acquisition_seconds,
        })
    }

    fn try_lock(&mut self, cands: &mut [Cand], times: &VecDeque<f64>) -> Option<Box<Locked>> {
        if times.is_empty() {
            return None;
        }
        // Score every (candidate, offset).
        let mut scored: Vec<(f64, usize, f64)> = Vec::new();
        for (ci, c) in cands.iter().enumerate() {
            let p = &self.cfg.candidates[c.params];
            let per = (p.hold_seconds * self.cfg.fps).round().max(1.0);
            let steps = (2.0 * per) as usize;
            let mut best: Vec<(f64, usize, f64)> = (0..steps)
                .map(|k| {
                    let tau = p.hold_seconds * k as f64 / steps as f64;
                    (coherence(&c.frames, times, tau, p), ci, tau)
                })
                .collect();
            best.sort_by(|a, b| b.0.total_cmp(&a.0));
            scored.extend(best.into_iter().take(3));
        }
        // Every candidate's best offsets are tried: coherence is not comparable
        // across presets (a larger step gives a larger κ on the same frames),
        // so a global ranking could leave the embedded preset untried.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0));
        // Of the best-scoring candidates, lock on the one whose windows agree on
        // the most authenticated headers (the earliest, most coherent, on a tie):
        // a misaligned offset can still decode one straddling window's header.
        let mut best: Option<(Locked, u32, usize)> = None;
        for &(kappa, ci, tau) in &scored {
            if let Some((l, votes)) = self.attempt(&cands[ci], times, tau, kappa) {
                if best.as_ref().is_none_or(|b| votes > b.1) {
                    best = Some((l, votes, ci));
                }
            }
        }
        if let Some((l, _, ci)) = best {
            self.windows_seen = 0;
            let mut l = Box::new(l);
            // Replay the buffered frames into the locked state.
            let frames: Vec<Vec<C32>> = cands[ci].frames.drain(..).collect();
            for (z, &t) in frames.into_iter().zip(times.iter()) {
                self.feed(&mut l, z, t);
            }
            return Some(l);
        }
        let span = times.back().copied().unwrap_or(0.0) - times[0];
        self.windows_seen = self.windows_seen.max((span / self.min_hold()).ceil() as u64);
        None
    }

    /// Decodes the headers of the buffered windows of one candidate and offset:
    /// the lock they agree on most, and how many windows agree.
    fn attempt(&self, c: &Cand, times: &VecDeque<f64>, tau: f64, kappa: f64) -> Option<(Locked, u32)> {
        let p = &self.cfg.candidates[c.params];
        let layout = Layout::new(&self.keys, c.grid.cells(), p.header_copies);
        if layout.header_cells.len() < HEADER_CODED_BITS || layout.data_cells.is_empty() {
            return None;
        }
        let mut windows: Vec<(i64, Vec<Vec<C32>>)> = Vec::new();
        for (f, &t) in c.frames.iter().zip(times) {
            let Some(j) = window_of(t, tau, p.hold_seconds, p.guard_seconds) else {
                continue;
            };
            match windows.last_mut() {
                Some((wj, fr)) if *wj == j => fr.push(f.clone()),
                _ => windows.push((j, vec![f.clone()])),
            }
        }
        let mut cache = vec![None; 4];
        let mut votes: Vec<(i64, usize, u32)> = Vec::new();
        for (j, frames) in &windows {
            let (z, _) = combine(frames, p.weight_frames);
            for h in 0..4 {
                if let Some(hdr) = decode_header(&self.keys, &layout, &z, p.step, h, &mut cache) {
                    if hdr.preset != p.preset.id() || hdr.payload_len == 0 {
                        continue;
                    }
                    let key = (hdr.period as i64 - j, hdr.payload_len);
                    match votes.iter_mut().find(|v| (v.0, v.1) == key) {
                        Some(v) => v.2 += 1,
                        None => votes.push((key.0, key.1, 1)),
                    }
                }
            }
        }
        let &(p0, len, agreeing) = votes.iter().max_by_key(|v| v.2)?;
        let code = PayloadCode::new(len);
        let slots = SlotMap::new(&self.keys, code.coded_bits, layout.data_cells.len());
        let locked = Locked {
            params: p.clone(),
            grid: c.grid.clone(),
            layout,
            tau,
            p0,
            coherence: kappa,
            acc: vec![0.0; code.coded_bits],
            votes: vec![[0; 4]; code.coded_bits],
            code,
            slots,
            window: None,
            windows: 0,
            windows_with_header: 0,
            frames_used: 0,
        };
        Some((locked, agreeing))
    }

    fn feed(&self, l: &mut Locked, z: Vec<C32>, t: f64) {
        let Some(j) = window_of(t, l.tau, l.params.hold_seconds, l.params.guard_seconds) else {
            return;
        };
        if l.window.as_ref().is_some_and(|w| w.j != j) {
            let w = l.window.take().expect("window");
            self.finish_window(l, w);
        }
        l.frames_used += 1;
        l.window
            .get_or_insert_with(|| Window {
                j,
                frames: Vec::new(),
            })
            .frames
            .push(z);
    }

    fn finish_window(&self, l: &mut Locked, w: Window) {
        let p = l.p0 + w.j;
        if p < 0 || w.frames.is_empty() {
            return;
        }
        let p = p as u64;
        l.windows += 1;
        let step = l.params.step;
        let (z, _) = combine(&w.frames, l.params.weight_frames);
        let mut cache = vec![None; 4];
        if let Some(h) = decode_header(&self.keys, &l.layout, &z, step, p % 4, &mut cache) {
            if h.period == p && h.payload_len == l.code.bytes {
                l.windows_with_header += 1;
            }
        }
        let dither = data_dither(&self.keys, p, l.layout.cells, step);
        let white = whitening(&self.keys, p, l.layout.data_cells.len());
        let mut y: Vec<f32> = l
            .layout
            .data_cells
            .iter()
            .zip(&white)
            .map(|(&c, &wb)| {
                let v = project(z[c as usize], dither[c as usize], step);
                if wb == 1 {
                    -v
                } else {
                    v
                }
            })
            .collect();
        calibrate(&mut y);
        for (k, &c) in l.layout.data_cells.iter().enumerate() {
            let m = l.slots.coded_index(p, k);
            l.acc[m] += y[k];
            l.votes[m][if y[k] >= 0.0 { 0 } else { 1 }] += 1;
            let sign = if white[k] == 1 { -1.0 } else { 1.0 };
            for f in &w.frames {
                let v = sign * project(f[c as usize], dither[c as usize], step);
                l.votes[m][if v >= 0.0 { 2 } else { 3 }] += 1;
            }
        }
    }

    /// Ends the stream: decodes what was read.
    ///
    /// Errors: [`RobustError::NotFound`] when no header authenticated. A located
    /// payload is returned even if codewords failed (see
    /// [`ExtractReport::failed_codewords`]); [`Extracted::open`] then says
    /// whether the envelope's own repair suffices.
    pub fn finish(mut self) -> Result<Extracted> {
        let state = self.state.take();
        let mut l = match state {
            None => {
                return Err(RobustError::NotFound {
                    frames: 0,
                    windows: 0,
                })
            }
            Some(State::Locked(l)) => l,
            Some(State::Acquiring { mut cands, times, .. }) => match self.try_lock(&mut cands, &times) {
                Some(l) => l,
                None => {
                    let windows = (self.frames as f64 / self.cfg.fps / self.min_hold()).ceil() as u64;
                    return Err(RobustError::NotFound {
                        frames: self.frames,
                        windows: windows.max(self.windows_seen),
                    });
                }
            },
        };
        if let Some(w) = l.window.take() {
            self.finish_window(&mut l, w);
        }
        let decoded = l.code.decode(&l.acc);
        let truth = match &self.reference {
            Some(r) if r.len() == l.code.bytes => l.code.encode(r),
            _ => decoded.coded.clone(),
        };
        let (mut se, mut sn, mut fe, mut fnn, mut covered, mut slots) = (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
        for (v, &b) in l.votes.iter().zip(&truth) {
            let (s0, s1, f0, f1) = (v[0] as u64, v[1] as u64, v[2] as u64, v[3] as u64);
            se += if b == 0 { s1 } else { s0 };
            sn += s0 + s1;
            fe += if b == 0 { f1 } else { f0 };
            fnn += f0 + f1;
            covered += (s0 + s1 > 0) as u64;
            slots += s0 + s1;
        }
        let failed = decoded.ok.iter().filter(|&&o| !o).count();
        let ratio = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { 0.0 };
        let report = ExtractReport {
            preset: l.params.preset,
            grid: (l.grid.rows as u32, l.grid.cols as u32),
            offset_seconds: l.tau + l.p0 as f64 * l.params.hold_seconds,
            sync_coherence: l.coherence,
            frames_read: self.frames,
            frames_used: l.frames_used,
            windows: l.windows,
            windows_with_header: l.windows_with_header,
            payload_bytes: l.code.bytes,
            codewords: l.code.codewords,
            failed_codewords: failed,
            frame_ber: ratio(fe, fnn),
            slot_ber: ratio(se, sn),
            ber_vs_reference: self.reference.is_some(),
            coverage: ratio(covered, truth.len() as u64),
            mean_repeat: ratio(slots, truth.len() as u64),
            periods_per_copy: (l.code.coded_bits as u64).div_ceil(l.layout.data_cells.len() as u64),
        };
        Ok(Extracted {
            payload: decoded.bytes,
            report,
        })
    }
}
