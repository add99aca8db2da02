//! The grid of cells on one frame size, and the statistic each cell carries.
//!
//! Cell `(i, j)` of an `R × C` grid on a `W × H` luma plane covers the
//! continuous rectangle `[j·W/C, (j+1)·W/C) × [i·H/R, (i+1)·H/R)`; pixel
//! `(x, y)` (centre `(x + ½, y + ½)`) belongs to the cell holding its centre,
//! at relative position `u = ((x + ½) − j·W/C)/(W/C)`,
//! `v = ((y + ½) − i·H/R)/(H/R)` in `[0, 1)`. Its weight is the separable Hann
//! window `w = sin²(πu) · sin²(πv)`, and the cell's statistic is the weighted
//! mean `s = Σ w·Y / Σ w`. Because the grid is a fraction of the frame, a
//! rescaled frame is read on the same cells; the window keeps the statistic
//! away from the cell borders, where rescaling filters and block edges mix
//! neighbouring cells.

use crate::error::{Result, RobustError};

/// Smallest cell, in pixels, in either direction.
pub const MIN_CELL_PIXELS: f64 = 4.0;

/// One axis of a grid: per cell, its pixel range and per pixel its weight.
#[derive(Clone, Debug)]
struct Axis {
    /// Cell `c` spans pixels `start[c]..start[c + 1]`.
    start: Vec<usize>,
    /// Hann weight of each pixel.
    w: Vec<f32>,
    /// Per cell: `Σ w`.
    sum: Vec<f32>,
    /// Per cell: `Σ w²`.
    sq: Vec<f32>,
}

impl Axis {
    fn new(len: usize, cells: usize) -> Axis {
        let size = len as f64 / cells as f64;
        let mut start = Vec::with_capacity(cells + 1);
        let mut w = Vec::with_capacity(len);
        let (mut sum, mut sq) = (vec![0f32; cells], vec![0f32; cells]);
        let mut c = 0usize;
        start.push(0);
        for x in 0..len {
            let centre = x as f64 + 0.5;
            while c + 1 < cells && centre >= (c + 1) as f64 * size {
                c += 1;
                start.push(x);
            }
            let u = (centre - c as f64 * size) / size;
            let s = (std::f64::consts::PI * u).sin();
            let wx = (s * s) as f32;
            w.push(wx);
            sum[c] += wx;
            sq[c] += wx * wx;
        }
        while start.len() < cells + 1 {
            start.push(len);
        }
        start[cells] = len;
        Axis { start, w, sum, sq }
    }

    fn range(&self, c: usize) -> std::ops::Range<usize> {
        self.start[c]..self.start[c + 1]
    }
}

/// A grid laid on one frame size.
#[derive(Clone, Debug)]
pub(crate) struct GridMap {
    /// Frame width in pixels.
    pub width: usize,
    /// Frame height in pixels.
    pub height: usize,
    /// Rows `R`.
    pub rows: usize,
    /// Columns `C`.
    pub cols: usize,
    x: Axis,
    y: Axis,
    /// Per column `x`: `frac(0.7548777 · x)`, the column term of the R2 rounding dither.
    r2_col: Vec<f32>,
}

impl GridMap {
    /// The `rows × cols` grid on a `width × height` plane.
    pub fn new(width: u32, height: u32, rows: u32, cols: u32) -> Result<GridMap> {
        let (w, h) = (width as f64 / cols as f64, height as f64 / rows as f64);
        if w < MIN_CELL_PIXELS || h < MIN_CELL_PIXELS {
            return Err(RobustError::InvalidInput(format!(
                "a {width}x{height} frame is too small for a {rows}x{cols} grid \
                 (cells of {w:.1}x{h:.1} pixels; at least {MIN_CELL_PIXELS} needed)"
            )));
        }
        Ok(GridMap {
            width: width as usize,
            height: height as usize,
            rows: rows as usize,
            cols: cols as usize,
            x: Axis::new(width as usize, cols as usize),
            y: Axis::new(height as usize, rows as usize),
            r2_col: (0..width as usize)
                .map(|x| (x as f64 * R2_X).fract() as f32)
                .collect(),
        })
    }

    /// Cells (`R·C`).
    pub fn cells(&self) -> usize {
        self.rows * self.cols
    }

    fn check(&self, luma: &[u8]) {
        assert!(
            luma.len() >= self.width * self.height,
            "luma plane of {} bytes is smaller than {}x{}",
            luma.len(),
            self.width,
            self.height
        );
    }

    /// The statistic of every cell (row-major), written to `out`.
    pub fn stats(&self, luma: &[u8], out: &mut [f32]) {
        self.check(luma);
        let mut rowacc = vec![0f32; self.cols];
        out.iter_mut().for_each(|v| *v = 0.0);
        for i in 0..self.rows {
            let acc = &mut out[i * self.cols..(i + 1) * self.cols];
            for y in self.y.range(i) {
                let line = &luma[y * self.width..(y + 1) * self.width];
                for (j, r) in rowacc.iter_mut().enumerate() {
                    let range = self.x.range(j);
                    let mut s = 0f32;
                    for (&p, &w) in line[range.clone()].iter().zip(&self.x.w[range]) {
                        s += p as f32 * w;
                    }
                    *r = s;
                }
                let wy = self.y.w[y];
                for (a, &r) in acc.iter_mut().zip(&rowacc) {
                    *a += wy * r;
                }
            }
            for (j, a) in acc.iter_mut().enumerate() {
                *a /= self.x.sum[j] * self.y.sum[i];
            }
        }
    }

    /// Every cell's texture activity: the Hann-weighted mean of
    /// `|Y(x+1,y) − Y(x,y)| + |Y(x,y+1) − Y(x,y)|`.
    pub fn activity(&self, luma: &[u8], out: &mut [f32]) {
        self.check(luma);
        let (w, h) = (self.width, self.height);
        let mut grad = vec![0f32; w];
        let mut rowacc = vec![0f32; self.cols];
        out.iter_mut().for_each(|v| *v = 0.0);
        for i in 0..self.rows {
            for y in self.y.range(i) {
                let line = &luma[y * w..(y + 1) * w];
                let next = if y + 1 < h {
                    &luma[(y + 1) * w..(y + 2) * w]
                } else {
                    line
                };
                for x in 0..w {
                    let dx = if x + 1 < w {
                        (line[x + 1] as i32 - line[x] as i32).abs()
                    } else {
                        0
                    };
                    let dy = (next[x] as i32 - line[x] as i32).abs();
                    grad[x] = (dx + dy) as f32;
                }
                for (j, r) in rowacc.iter_mut().enumerate() {
                    let range = self.x.range(j);
                    *r = grad[range.clone()]
                        .iter()
                        .zip(&self.x.w[range])
                        .map(|(g, w)| g * w)
                        .sum();
                }
                let wy = self.y.w[y];
                for (a, &r) in out[i * self.cols..(i + 1) * self.cols].iter_mut().zip(&rowacc) {
                    *a += wy * r;
                }
            }
        }
        for i in 0..self.rows {
            for j in 0..self.cols {
                out[i * self.cols + j] /= self.x.sum[j] * self.y.sum[i];
            }
        }
    }

    /// The statistic of cell `c` alone.
    pub fn cell_stat(&self, luma: &[u8], c: usize) -> f32 {
        self.check(luma);
        let (i, j) = (c / self.cols, c % self.cols);
        let range = self.x.range(j);
        let mut acc = 0f32;
        for y in self.y.range(i) {
            let line = &luma[y * self.width + range.start..y * self.width + range.end];
            let s: f32 = line
                .iter()
                .zip(&self.x.w[range.clone()])
                .map(|(&p, &w)| p as f32 * w)
                .sum();
            acc += self.y.w[y] * s;
        }
        acc / (self.x.sum[j] * self.y.sum[i])
    }

    /// Adds `delta[c] · w(x, y) / G_c` to every pixel of every cell `c`, where
    /// `G_c = Σ w² / Σ w`, so that each cell's statistic moves by `delta[c]`
    /// (before rounding and clipping). Values are rounded with a fixed
    /// low-discrepancy dither (R2 sequence) so smooth changes do not band.
    /// Cells where a pixel was clipped at 0 or 255 are flagged in `clipped`.
    pub fn apply(&self, luma: &mut [u8], delta: &[f32], clipped: &mut [bool]) {
        self.check(luma);
        let mut coef = vec![0f32; self.cols];
        for i in 0..self.rows {
            for (j, c) in coef.iter_mut().enumerate() {
                let gain = (self.x.sq[j] * self.y.sq[i]) / (self.x.sum[j] * self.y.sum[i]);
                *c = delta[i * self.cols + j] / gain;
            }
            for y in self.y.range(i) {
                let wy = self.y.w[y];
                let line = &mut luma[y * self.width..(y + 1) * self.width];
                let ry = r2_row(y);
                for (j, &c) in coef.iter().enumerate() {
                    let f = c * wy;
                    if f.abs() < 1e-3 {
                        continue;
                    }
                    let range = self.x.range(j);
                    let mut clip = false;
                    for ((p, &wx), &rx) in line[range.clone()]
                        .iter_mut()
                        .zip(&self.x.w[range.clone()])
                        .zip(&self.r2_col[range.clone()])
                    {
                        let v = *p as f32 + f * wx + r2(rx, ry);
                        clip |= !(0.0..256.0).contains(&v);
                        // `as` truncates (the floor of a non-negative value) and saturates at 0 and 255.
                        *p = v as u8;
                    }
                    clipped[i * self.cols + j] |= clip;
                }
            }
        }
    }
}

/// The R2 sequence's column multiplier (`1/ρ`, `ρ` the plastic number).
const R2_X: f64 = 0.754_877_666_246_692_7;
/// The R2 sequence's row multiplier (`1/ρ²`).
const R2_Y: f64 = 0.569_840_290_998_053_3;

/// The row term of the R2 rounding dither: `frac(0.5698403 · y)`.
#[inline]
fn r2_row(y: usize) -> f32 {
    (y as f64 * R2_Y).fract() as f32
}

/// The R2 rounding dither `frac(rx + ry)` of a pixel whose column term is
/// `rx` and row term `ry` (both in `[0, 1)`), in `[0, 1)`.
#[inline]
fn r2(rx: f32, ry: f32) -> f32 {
    let r = rx + ry;
    if r >= 1.0 {
        r - 1.0
    } else {
        r
    }
}

/// A per-pixel texture mask `m = (1 − β) + β · min(a / ā_c, 4)`, where `a` is
/// the local activity (`|∂x Y| + |∂y Y|` box-blurred over 7×7 pixels) and `ā_c`
/// its mean over the pixel's cell: the change of a cell goes preferably where
/// texture hides it. `β = 0` gives 1 everywhere.
pub(crate) fn texture_mask(g: &GridMap, luma: &[u8], beta: f32) -> Vec<f32> {
    let (w, h) = (g.width, g.height);
    let mut a = vec![0f32; w * h];
    for y in 0..h {
        let line = &luma[y * w..(y + 1) * w];
        let next = if y + 1 < h {
            &luma[(y + 1) * w..(y + 2) * w]
        } else {
            line
        };
        for x in 0..w {
            let dx = if x + 1 < w {
                (line[x + 1] as i32 - line[x] as i32).abs()
            } else {
                0
            };
            let dy = (next[x] as i32 - line[x] as i32).abs();
            a[y * w + x] = (dx + dy) as f32;
        }
    }
    box_blur(&mut a, w, h, 3);
    // Cell means of `a` (plain means).
    let mut mean = vec![0f32; g.cells()];
    for i in 0..g.rows {
        for j in 0..g.cols {
            let (xr, yr) = (g.x.range(j), g.y.range(i));
            let n = (xr.len() * yr.len()).max(1) as f32;
            let s: f32 = yr
                .clone()
                .map(|y| a[y * w + xr.start..y * w + xr.end].iter().sum::<f32>())
                .sum();
            mean[i * g.cols + j] = s / n;
        }
    }
    for i in 0..g.rows {
        for j in 0..g.cols {
            let m = mean[i * g.cols + j].max(0.5);
            for y in g.y.range(i) {
                for v in &mut a[y * w + g.x.range(j).start..y * w + g.x.range(j).end] {
                    *v = (1.0 - beta) + beta * (*v / m).min(4.0);
                }
            }
        }
    }
    a
}

/// In-place separable box blur of radius `r` (window `2r + 1`, edges clamped).
fn box_blur(a: &mut [f32], w: usize, h: usize, r: usize) {
    let mut tmp = vec![0f32; w.max(h)];
    let n = (2 * r + 1) as f32;
    for y in 0..h {
        let row = &mut a[y * w..(y + 1) * w];
        for (x, t) in tmp[..w].iter_mut().enumerate() {
            let (lo, hi) = (x.saturating_sub(r), (x + r).min(w - 1));
            *t = row[lo..=hi].iter().sum::<f32>() / n;
        }
        row.copy_from_slice(&tmp[..w]);
    }
    for x in 0..w {
        for (y, t) in tmp[..h].iter_mut().enumerate() {
            let (lo, hi) = (y.saturating_sub(r), (y + r).min(h - 1));
            *t = (lo..=hi).map(|yy| a[yy * w + x]).sum::<f32>() / n;
        }
        for y in 0..h {
            a[y * w + x] = tmp[y];
        }
    }
}

impl GridMap {
    /// Like [`GridMap::apply`], with the change of each pixel scaled by
    /// `mask` and the gain `G_c = Σ w² m / Σ w` recomputed to match.
    pub fn apply_masked(&self, luma: &mut [u8], delta: &[f32], mask: &[f32], clipped: &mut [bool]) {
        self.check(luma);
        let w = self.width;
        for i in 0..self.rows {
            for j in 0..self.cols {
                let c = i * self.cols + j;
                if delta[c].abs() < 1e-4 {
                    continue;
                }
                let (xr, yr) = (self.x.range(j), self.y.range(i));
                let mut num = 0f32;
                for y in yr.clone() {
                    let wy = self.y.w[y];
                    for x in xr.clone() {
                        let wx = self.x.w[x] * wy;
                        num += wx * wx * mask[y * w + x];
                    }
                }
                let gain = num / (self.x.sum[j] * self.y.sum[i]);
                let coef = delta[c] / gain.max(1e-6);
                for y in yr.clone() {
                    let (wy, ry) = (self.y.w[y], r2_row(y));
                    for x in xr.clone() {
                        let change = coef * self.x.w[x] * wy * mask[y * w + x];
                        let v = luma[y * w + x] as f32 + change + r2(self.r2_col[x], ry);
                        clipped[c] |= !(0.0..256.0).contains(&v);
                        luma[y * w + x] = v as u8;
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_partition_the_frame() {
        let g = GridMap::new(1920, 1080, 34, 60).unwrap();
        assert_eq!(g.x.start.len(), 61);
        assert_eq!(g.y.start[34], 1080);
        assert!(g.x.w.iter().all(|&w| (0.0..=1.0).contains(&w)));
    }

    #[test]
    fn stats_of_flat_frame_and_apply_moves_them() {
        let (w, h) = (320u32, 180u32);
        let mut luma = vec![100u8; (w * h) as usize];
        let g = GridMap::new(w, h, 9, 16).unwrap();
        let mut s = vec![0f32; g.cells()];
        g.stats(&luma, &mut s);
        assert!(s.iter().all(|&v| (v - 100.0).abs() < 1e-3));
        let delta: Vec<f32> = (0..g.cells()).map(|c| (c % 5) as f32 - 2.0).collect();
        let mut clipped = vec![false; g.cells()];
        g.apply(&mut luma, &delta, &mut clipped);
        g.stats(&luma, &mut s);
        for (c, &v) in s.iter().enumerate() {
            assert!((v - 100.0 - delta[c]).abs() < 0.1, "cell {c}: {v}");
            assert!((g.cell_stat(&luma, c) - v).abs() < 1e-3, "cell {c}");
        }
        assert!(clipped.iter().all(|&c| !c));
        // A cell pushed past white is flagged.
        let mut bright = vec![250u8; (w * h) as usize];
        let mut up = vec![0f32; g.cells()];
        up[5] = 20.0;
        g.apply(&mut bright, &up, &mut clipped);
        assert!(clipped[5] && clipped.iter().filter(|&&c| c).count() == 1);
    }

    #[test]
    fn too_small_is_refused() {
        assert!(GridMap::new(64, 36, 34, 60).is_err());
    }
}
