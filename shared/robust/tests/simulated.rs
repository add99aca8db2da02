//! Round trips on synthetic frames through a channel simulated here (blur,
//! noise, rescale, trim), with no ffmpeg: the scheme's own arithmetic, and the
//! refusals (wrong key, wrong password, over capacity).

use vidstega_core::{seal, PlacementKey, SealParams};
use vidstega_robust::{
    capacity, robust_seal_params, Embedder, Extractor, ExtractorConfig, Preset, RobustError, RobustParams,
    VideoInfo,
};

const W: u32 = 320;
const H: u32 = 180;
const FPS: f64 = 12.0;

/// Small-frame parameters: 16 rows (cells of ~11 pixels), half-second hold,
/// one header copy.
fn params() -> RobustParams {
    RobustParams {
        rows: 16,
        hold_seconds: 0.5,
        header_copies: 1,
        ..Preset::Normal.params()
    }
}

struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        (vidstega_core::mix64(self.0) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let (a, b) = (self.unit().max(1e-300), self.unit());
        (-2.0 * a.ln()).sqrt() * (std::f64::consts::TAU * b).cos()
    }
}

/// A panning, textured scene with a flat band, a gradient and sensor noise.
fn scene(n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|f| {
            let shift = f as f64 * 1.7;
            let mut out = vec![0u8; (W * H) as usize];
            for y in 0..H as usize {
                for x in 0..W as usize {
                    let xs = x as f64 + shift;
                    let v = if y < 30 {
                        60.0 + y as f64 // sky: nearly flat
                    } else {
                        110.0
                            + 40.0 * (xs * 0.071).sin() * (y as f64 * 0.053).cos()
                            + 25.0 * (xs * 0.31 + y as f64 * 0.17).sin()
                            + 0.2 * x as f64
                    };
                    let v = v + 2.0 * rng.gauss();
                    out[y * W as usize + x] = v.round().clamp(0.0, 255.0) as u8;
                }
            }
            out
        })
        .collect()
}

/// The simulated channel: 3×3 box blur, Gaussian noise, then an area/bilinear
/// rescale to `w2 × h2`, rounded to 8 bits.
fn channel(frame: &[u8], noise: f64, w2: u32, h2: u32, rng: &mut Rng) -> Vec<u8> {
    let (w, h) = (W as usize, H as usize);
    let mut blurred = vec![0f64; w * h];
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0;
            for dy in -1i32..=1 {
                for dx in -1i32..=1 {
                    let xx = (x as i32 + dx).clamp(0, w as i32 - 1) as usize;
                    let yy = (y as i32 + dy).clamp(0, h as i32 - 1) as usize;
                    s += frame[yy * w + xx] as f64;
                }
            }
            blurred[y * w + x] = s / 9.0 + noise * rng.gauss();
        }
    }
    let (w2, h2) = (w2 as usize, h2 as usize);
    let mut out = vec![0u8; w2 * h2];
    for y in 0..h2 {
        for x in 0..w2 {
            // Bilinear sample at the centre-aligned source position.
            let sx = ((x as f64 + 0.5) * w as f64 / w2 as f64 - 0.5).clamp(0.0, (w - 1) as f64);
            let sy = ((y as f64 + 0.5) * h as f64 / h2 as f64 - 0.5).clamp(0.0, (h - 1) as f64);
            let (x0, y0) = (sx.floor() as usize, sy.floor() as usize);
            let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
            let (fx, fy) = (sx - x0 as f64, sy - y0 as f64);
            let v = blurred[y0 * w + x0] * (1.0 - fx) * (1.0 - fy)
                + blurred[y0 * w + x1] * fx * (1.0 - fy)
                + blurred[y1 * w + x0] * (1.0 - fx) * fy
                + blurred[y1 * w + x1] * fx * fy;
            out[y * w2 + x] = v.round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

fn sealed(message: &[u8], password: &[u8]) -> Vec<u8> {
    let p = SealParams {
        kdf_iterations: 1000,
        ..robust_seal_params(message.len() as u64, 1000)
    };
    seal(message, password, &p).unwrap().to_bytes()
}

fn embed(frames: &mut [Vec<u8>], payload: &[u8], key: &PlacementKey) {
    let info = VideoInfo {
        width: W,
        height: H,
        fps: FPS,
        frames: frames.len() as u64,
    };
    let mut e = Embedder::new(payload, key, &params(), info).unwrap();
    for (i, f) in frames.iter_mut().enumerate() {
        e.embed_frame(i as u64, f).unwrap();
    }
}

fn extract(
    frames: &[Vec<u8>],
    w: u32,
    h: u32,
    key: &PlacementKey,
) -> vidstega_robust::Result<vidstega_robust::Extracted> {
    let mut cfg = ExtractorConfig::with_params(params(), FPS);
    cfg.acquisition_seconds = 3.0;
    let mut x = Extractor::new(key, cfg)?;
    for f in frames {
        x.push_frame(f, w, h)?;
    }
    x.finish()
}

fn psnr(a: &[Vec<u8>], b: &[Vec<u8>]) -> f64 {
    let (mut se, mut n) = (0f64, 0f64);
    for (x, y) in a.iter().zip(b) {
        for (&p, &q) in x.iter().zip(y) {
            se += (p as f64 - q as f64).powi(2);
            n += 1.0;
        }
    }
    10.0 * (255.0f64 * 255.0 / (se / n)).log10()
}

#[test]
fn survives_blur_noise_rescale_and_trim() {
    let message = b"robust hello, through blur, noise and a rescale";
    let key = PlacementKey::from_bytes([9; 32]);
    let payload = sealed(message, b"pw");
    let cover = scene(96, 1);
    let mut stego = cover.clone();
    embed(&mut stego, &payload, &key);
    let q = psnr(&cover, &stego);
    assert!(q > 40.0, "PSNR {q:.1} dB");

    // Clean read first.
    let clean = extract(&stego, W, H, &key).unwrap();
    assert_eq!(clean.report.failed_codewords, 0);
    assert_eq!(clean.open(b"pw").unwrap(), message);

    // Channel: blur, noise σ = 3, rescale to 2/3, first second dropped.
    let mut rng = Rng(77);
    let (w2, h2) = (214, 120);
    let received: Vec<Vec<u8>> = stego[12..]
        .iter()
        .map(|f| channel(f, 3.0, w2, h2, &mut rng))
        .collect();
    let got = extract(&received, w2, h2, &key).unwrap();
    assert!((got.report.offset_seconds - 1.0).abs() < 0.05, "{:?}", got.report);
    assert_eq!(got.report.failed_codewords, 0, "{:?}", got.report);
    assert_eq!(got.open(b"pw").unwrap(), message);
}

#[test]
fn wrong_key_finds_nothing() {
    let key = PlacementKey::from_bytes([1; 32]);
    let payload = sealed(b"secret", b"pw");
    let mut stego = scene(60, 2);
    embed(&mut stego, &payload, &key);
    let err = extract(&stego, W, H, &PlacementKey::from_bytes([2; 32])).unwrap_err();
    assert!(matches!(err, RobustError::NotFound { .. }), "{err}");
}

#[test]
fn wrong_password_with_right_key_is_refused() {
    let key = PlacementKey::from_bytes([3; 32]);
    let payload = sealed(b"secret", b"pw");
    let mut stego = scene(60, 3);
    embed(&mut stego, &payload, &key);
    let got = extract(&stego, W, H, &key).unwrap();
    assert!(got.open(b"not the password").is_err());
}

#[test]
fn over_capacity_is_refused() {
    let key = PlacementKey::from_bytes([7; 32]);
    let cap = capacity(W, H, 24, FPS, &params());
    let payload = vec![7u8; cap.payload_bytes as usize + 1];
    let info = VideoInfo {
        width: W,
        height: H,
        fps: FPS,
        frames: 24,
    };
    let err = Embedder::new(&payload, &key, &params(), info)
        .err()
        .expect("refused");
    assert!(matches!(err, RobustError::OverCapacity { .. }), "{err}");
}

#[test]
fn locks_within_the_acquisition_span() {
    let key = PlacementKey::from_bytes([8; 32]);
    let payload = sealed(b"early", b"pw");
    let mut stego = scene(96, 8);
    embed(&mut stego, &payload, &key);
    let mut cfg = ExtractorConfig::with_params(params(), FPS);
    cfg.acquisition_seconds = 3.0;
    let mut x = Extractor::new(&key, cfg).unwrap();
    let mut locked_at = None;
    for (i, f) in stego.iter().enumerate() {
        x.push_frame(f, W, H).unwrap();
        if x.locked() && locked_at.is_none() {
            locked_at = Some(i + 1);
        }
    }
    // The first try comes with the frame at t = 3 s (the 37th at 12 fps).
    assert_eq!(locked_at, Some(37), "locked after {locked_at:?} frames");
    assert_eq!(x.frames_read(), 96);
    assert_eq!(x.finish().unwrap().open(b"pw").unwrap(), b"early");
}

#[test]
fn the_embedded_parameters_are_found_among_others() {
    // Parameter sets on the same grid that differ only in their step: the
    // search tries each one's best offsets and locks on the embedded one.
    let key = PlacementKey::from_bytes([10; 32]);
    let payload = sealed(b"found among decoys", b"pw");
    let mut stego = scene(72, 10);
    embed(&mut stego, &payload, &key);
    let mut cfg = ExtractorConfig::with_params(params(), FPS);
    cfg.candidates = [6.0, 7.0, 8.0]
        .iter()
        .map(|&step| RobustParams { step, ..params() })
        .chain([params()])
        .collect();
    cfg.acquisition_seconds = 3.0;
    let mut x = Extractor::new(&key, cfg).unwrap();
    let mut rng = Rng(11);
    for f in &stego {
        x.push_frame(&channel(f, 3.0, W, H, &mut rng), W, H).unwrap();
    }
    let found = x.finish().unwrap();
    assert_eq!(found.report.failed_codewords, 0, "{:?}", found.report);
    assert_eq!(found.open(b"pw").unwrap(), b"found among decoys");
}
