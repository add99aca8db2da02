//! Clips made with the real ffmpeg, embedding and extraction over whole clips,
//! and the re-encodes a shared video goes through.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use vidstega_core::{seal, PlacementKey, SealParams};
use vidstega_robust::{
    robust_seal_params, Embedder, Extracted, Extractor, ExtractorConfig, RobustParams, VideoInfo,
};

pub use vidstega_test_support::ffmpeg;

/// A fresh, empty folder for one test under Cargo's temporary directory.
pub fn work_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("robust").join(test);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Decoded 8-bit yuv420p video held in memory.
pub struct Clip {
    /// Luma width.
    pub width: u32,
    /// Luma height.
    pub height: u32,
    /// Frames per second.
    pub fps: f64,
    /// Every frame, yuv420p (luma plane first).
    pub frames: Vec<Vec<u8>>,
}

impl Clip {
    /// Bytes of the luma plane.
    pub fn luma_len(&self) -> usize {
        self.width as usize * self.height as usize
    }

    /// The luma plane of frame `i`.
    pub fn luma(&self, i: usize) -> &[u8] {
        &self.frames[i][..self.luma_len()]
    }

    /// What the embedder plans for.
    pub fn info(&self) -> VideoInfo {
        VideoInfo {
            width: self.width,
            height: self.height,
            fps: self.fps,
            frames: self.frames.len() as u64,
        }
    }
}

/// Which lavfi content a clip shows. Both are textured and noisy, like
/// camera footage: noise-free synthetic clips flatter every scheme.
#[derive(Clone, Copy)]
pub enum Content {
    /// ffmpeg's moving `testsrc2` pattern (flat fields, sharp edges, text) with temporal noise.
    NoisyPattern,
    /// A zooming Mandelbrot render (fine detail, smooth shading) with temporal noise.
    NoisyMandelbrot,
}

/// Generates `seconds` of `content` at `width × height` and `fps` with ffmpeg
/// and decodes it into memory.
pub fn generate(content: Content, width: u32, height: u32, fps: u32, seconds: u32) -> Clip {
    let size = format!("{width}x{height}");
    let source = match content {
        Content::NoisyPattern => format!("testsrc2=size={size}:rate={fps},noise=alls=6:allf=t"),
        Content::NoisyMandelbrot => {
            format!("mandelbrot=size={size}:rate={fps}:end_pts=600:end_scale=0.05,noise=alls=5:allf=t")
        }
    };
    let raw = ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &source,
        "-t",
        &seconds.to_string(),
        "-pix_fmt",
        "yuv420p",
        "-f",
        "rawvideo",
        "-",
    ]);
    split_frames(&raw, width, height, fps as f64)
}

fn split_frames(raw: &[u8], width: u32, height: u32, fps: f64) -> Clip {
    let frame = width as usize * height as usize * 3 / 2;
    assert!(
        !raw.is_empty() && raw.len().is_multiple_of(frame),
        "{} bytes of raw video is not whole {width}x{height} frames",
        raw.len()
    );
    Clip {
        width,
        height,
        fps,
        frames: raw.chunks_exact(frame).map(<[u8]>::to_vec).collect(),
    }
}

/// Encodes `clip` with libx264 at `crf` (yuv420p MP4), as robust mode writes its output.
pub fn encode(clip: &Clip, crf: u32, path: &Path) {
    let raw_path = path.with_extension("yuv");
    std::fs::write(&raw_path, clip.frames.concat()).unwrap();
    ffmpeg(&[
        "-f",
        "rawvideo",
        "-pix_fmt",
        "yuv420p",
        "-s",
        &format!("{}x{}", clip.width, clip.height),
        "-framerate",
        &clip.fps.to_string(),
        "-i",
        raw_path.to_str().unwrap(),
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-crf",
        &crf.to_string(),
        "-pix_fmt",
        "yuv420p",
        path.to_str().unwrap(),
    ]);
    std::fs::remove_file(raw_path).unwrap();
}

/// Re-encodes `input` to `output` with `args` between them (a sharing channel).
pub fn reencode(input: &Path, args: &[&str], output: &Path) {
    let mut all = vec!["-i", input.to_str().unwrap()];
    all.extend_from_slice(args);
    all.push(output.to_str().unwrap());
    ffmpeg(&all);
}

/// Decodes every frame of `path` (whatever its size) into memory.
pub fn decode(path: &Path) -> Clip {
    let probe = Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=width,height,r_frame_rate", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .unwrap_or_else(|e| panic!("ffprobe must be installed for these tests: {e}"));
    assert!(probe.status.success(), "ffprobe failed on {}", path.display());
    let text = String::from_utf8(probe.stdout).unwrap();
    let fields: Vec<&str> = text.trim().split(',').collect();
    let (width, height): (u32, u32) = (fields[0].parse().unwrap(), fields[1].parse().unwrap());
    let (num, den) = fields[2].split_once('/').unwrap();
    let fps = num.parse::<f64>().unwrap() / den.parse::<f64>().unwrap();
    let mut child = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error", "-i"])
        .arg(path)
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("ffmpeg must be installed for these tests: {e}"));
    let mut raw = Vec::new();
    child.stdout.take().unwrap().read_to_end(&mut raw).unwrap();
    assert!(
        child.wait().unwrap().success(),
        "ffmpeg could not decode {}",
        path.display()
    );
    split_frames(&raw, width, height, fps)
}

/// Seals `message` for robust mode (with few KDF iterations: tests only).
pub fn sealed(message: &[u8], password: &[u8]) -> Vec<u8> {
    let params = SealParams {
        compress: false,
        ..robust_seal_params(message.len() as u64, 1000)
    };
    seal(message, password, &params).unwrap().to_bytes()
}

/// Embeds `payload` into every frame of `clip` with `params`.
pub fn embed(clip: &mut Clip, payload: &[u8], key: &PlacementKey, params: &RobustParams) {
    let info = clip.info();
    let luma = clip.luma_len();
    let mut embedder = Embedder::new(payload, key, params, info).unwrap();
    for (i, frame) in clip.frames.iter_mut().enumerate() {
        embedder.embed_frame(i as u64, &mut frame[..luma]).unwrap();
    }
}

/// Reads every frame of `clip` with an extractor searching `candidates`.
pub fn extract(
    clip: &Clip,
    key: &PlacementKey,
    candidates: Vec<RobustParams>,
) -> vidstega_robust::Result<Extracted> {
    let mut config = ExtractorConfig::new(clip.fps);
    config.candidates = candidates;
    let mut extractor = Extractor::new(key, config)?;
    for i in 0..clip.frames.len() {
        extractor.push_frame(clip.luma(i), clip.width, clip.height)?;
    }
    extractor.finish()
}

/// PSNR of the luma planes of two clips of the same size, in dB.
pub fn psnr_y(a: &Clip, b: &Clip) -> f64 {
    let (mut squared, mut samples) = (0f64, 0f64);
    for i in 0..a.frames.len().min(b.frames.len()) {
        for (&p, &q) in a.luma(i).iter().zip(b.luma(i)) {
            squared += (p as f64 - q as f64).powi(2);
            samples += 1.0;
        }
    }
    10.0 * (255.0f64 * 255.0 / (squared / samples).max(1e-12)).log10()
}
