//! Helpers for the CLI's integration tests: running the built `vidstega`
//! binary, what ffprobe says about a video, decoding frames to raw bytes.
//! Temporary folders, videos made with FFmpeg's lavfi sources and audio
//! packet hashes come from `vidstega-test-support`.
//!
//! Every test needs the system ffmpeg/ffprobe. When they are missing the
//! tests fail loudly instead of skipping, so a green run always means the
//! whole pipeline ran.

#![allow(dead_code)]

use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
pub use vidstega_test_support::{
    audio_hashes, ffmpeg, ffprobe, ffprobe_json, make_video, picture, tempdir, tone,
};

#[cfg(feature = "cloud")]
pub mod aws;
pub mod browser;

/// The environment variable the tests pass the password in.
pub const PW_VAR: &str = "VIDSTEGA_TEST_PASSWORD";
/// The password used unless a test says otherwise.
pub const PASSWORD: &str = "correct horse battery staple";
/// Cheap PBKDF2 for the encryption key (the placement key is fixed-cost).
pub const KDF: &[&str] = &["--kdf-iterations", "1000"];

// ---------------------------------------------------------------------------
// FFmpeg

/// A small H.264 clip (160x120, 25 fps, keyframe every 25 frames) without audio.
pub fn small_clip(dir: &Path, name: &str, seconds: f64) -> PathBuf {
    make_video(
        dir,
        name,
        &[&picture("160x120", 25, seconds)],
        &[
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv420p",
            "-g",
            "25",
        ],
    )
}

/// What ffprobe says about the first video stream, after decoding every frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFacts {
    /// Frames decoded.
    pub frames: u64,
    /// `r_frame_rate`.
    pub r_frame_rate: String,
    /// `avg_frame_rate`.
    pub avg_frame_rate: String,
    /// Width.
    pub width: u64,
    /// Height.
    pub height: u64,
}

/// Frame count (decoded), rates and size of the first video stream.
pub fn video_facts(path: &Path) -> VideoFacts {
    let v = ffprobe_json(
        path,
        &[
            "-select_streams",
            "v:0",
            "-count_frames",
            "-show_entries",
            "stream=nb_read_frames,r_frame_rate,avg_frame_rate,width,height",
        ],
    );
    let s = &v["streams"][0];
    VideoFacts {
        frames: s["nb_read_frames"].as_str().unwrap().parse().unwrap(),
        r_frame_rate: s["r_frame_rate"].as_str().unwrap().to_string(),
        avg_frame_rate: s["avg_frame_rate"].as_str().unwrap().to_string(),
        width: s["width"].as_u64().unwrap(),
        height: s["height"].as_u64().unwrap(),
    }
}

/// Pixel format of the first video stream.
pub fn pix_fmt(path: &Path) -> String {
    let v = ffprobe_json(
        path,
        &["-select_streams", "v:0", "-show_entries", "stream=pix_fmt"],
    );
    v["streams"][0]["pix_fmt"].as_str().unwrap().to_string()
}

/// Codec names of the audio streams, in order.
pub fn audio_codecs(path: &Path) -> Vec<String> {
    let v = ffprobe_json(
        path,
        &["-select_streams", "a", "-show_entries", "stream=codec_name"],
    );
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["codec_name"].as_str().unwrap().to_string())
        .collect()
}

/// Display rotation of the first video stream (display matrix, or the legacy
/// `rotate` tag), 0 if none.
pub fn rotation(path: &Path) -> i64 {
    let v = ffprobe_json(
        path,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream_side_data=rotation:stream_tags=rotate",
        ],
    );
    let s = &v["streams"][0];
    if let Some(list) = s["side_data_list"].as_array() {
        if let Some(r) = list.iter().find_map(|d| d["rotation"].as_i64()) {
            return r;
        }
    }
    s["tags"]["rotate"]
        .as_str()
        .map(|r| r.parse().unwrap())
        .unwrap_or(0)
}

/// Display-order indices of the keyframes of the first video stream.
pub fn keyframes(path: &Path) -> Vec<u64> {
    let out = ffprobe(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "packet=pts,flags",
        "-of",
        "csv=p=0",
        path.to_str().unwrap(),
    ]);
    let mut packets: Vec<(i64, bool)> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.split(',');
            let pts = f.next().unwrap().parse().unwrap();
            let key = f.next().unwrap().contains('K');
            (pts, key)
        })
        .collect();
    packets.sort();
    packets
        .iter()
        .enumerate()
        .filter(|(_, p)| p.1)
        .map(|(i, _)| i as u64)
        .collect()
}

/// Every frame of the first video stream as raw `pix_fmt` bytes, in display
/// order, unrotated.
pub fn decode_raw(path: &Path, pix_fmt: &str) -> Vec<u8> {
    ffmpeg(&[
        "-noautorotate",
        "-i",
        path.to_str().unwrap(),
        "-map",
        "0:v:0",
        "-fps_mode",
        "passthrough",
        "-f",
        "rawvideo",
        "-pix_fmt",
        pix_fmt,
        "-",
    ])
}

/// Bytes per plane of a `width`x`height` frame in one of the pipeline's
/// 8-bit planar layouts, luma first.
pub fn plane_lens(width: usize, height: usize, pix_fmt: &str) -> Vec<usize> {
    let (sx, sy) = match pix_fmt {
        "yuv420p" | "yuvj420p" => (1, 1),
        "yuv422p" | "yuvj422p" => (1, 0),
        "yuv444p" | "yuvj444p" => (0, 0),
        "gray" => return vec![width * height],
        other => panic!("unexpected pixel format {other}"),
    };
    let cw = (width + (1 << sx) - 1) >> sx;
    let ch = (height + (1 << sy) - 1) >> sy;
    vec![width * height, cw * ch, cw * ch]
}

/// How a stego video's pixels differ from its cover's.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PixelDiff {
    /// Frames compared.
    pub frames: usize,
    /// Differing samples per plane (luma first).
    pub changed_per_plane: Vec<u64>,
    /// Largest absolute difference seen.
    pub max_abs: u8,
}

/// Decodes cover and stego in the same layout and compares every sample.
pub fn pixel_diff(cover: &Path, stego: &Path, pix_fmt: &str) -> PixelDiff {
    let facts = video_facts(stego);
    let planes = plane_lens(facts.width as usize, facts.height as usize, pix_fmt);
    let frame_len: usize = planes.iter().sum();
    let a = decode_raw(cover, pix_fmt);
    let b = decode_raw(stego, pix_fmt);
    assert_eq!(a.len(), b.len(), "cover and stego decode to different lengths");
    assert_eq!(a.len() % frame_len, 0, "not a whole number of {pix_fmt} frames");
    let mut diff = PixelDiff {
        frames: a.len() / frame_len,
        changed_per_plane: vec![0; planes.len()],
        max_abs: 0,
    };
    for (fa, fb) in a.chunks_exact(frame_len).zip(b.chunks_exact(frame_len)) {
        let mut at = 0;
        for (p, &len) in planes.iter().enumerate() {
            for (x, y) in fa[at..at + len].iter().zip(&fb[at..at + len]) {
                let d = x.abs_diff(*y);
                if d != 0 {
                    diff.changed_per_plane[p] += 1;
                    diff.max_abs = diff.max_abs.max(d);
                }
            }
            at += len;
        }
    }
    diff
}

// ---------------------------------------------------------------------------
// Running the CLI

/// What a `vidstega` run did.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with the whole output unless the exit code is `code`.
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "expected exit code {code}; stderr:\n{}\nstdout:\n{}",
            self.stderr,
            String::from_utf8_lossy(&self.stdout)
        );
        self
    }

    /// Panics unless the run succeeded.
    pub fn ok(&self) -> &Self {
        self.expect_code(0)
    }

    /// Standard output parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&self.stdout),
                self.stderr
            )
        })
    }

    /// Panics unless stderr contains every one of `needles` (case-insensitive).
    pub fn stderr_mentions(&self, needles: &[&str]) -> &Self {
        let lower = self.stderr.to_lowercase();
        for n in needles {
            assert!(
                lower.contains(&n.to_lowercase()),
                "stderr does not mention {n:?}:\n{}",
                self.stderr
            );
        }
        self
    }
}

/// A `vidstega` command with the test password in the environment, stdin
/// closed (so never a terminal) and no ffmpeg override inherited.
pub fn command(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vidstega"));
    c.args(args)
        .env(PW_VAR, PASSWORD)
        .env_remove("VIDSTEGA_FFMPEG")
        .env_remove("VIDSTEGA_FFPROBE")
        .env_remove("VIDSTEGA_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs a prepared command to completion, feeding it `stdin` if given.
pub fn run_command(mut c: Command, stdin: Option<&[u8]>) -> Run {
    if stdin.is_some() {
        c.stdin(Stdio::piped());
    }
    let mut child = c.spawn().expect("run the vidstega binary");
    if let Some(bytes) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(bytes).expect("write stdin");
    }
    let out = child.wait_with_output().expect("wait for vidstega");
    Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs `vidstega args…` with the test password.
pub fn vidstega(args: &[&str]) -> Run {
    run_command(command(args), None)
}

/// `vidstega embed INPUT -o OUTPUT --password-env … --kdf-iterations 1000 --json EXTRA…`,
/// in lossless mode unless `extra` names a `--mode` (the tests in `cli.rs`
/// are about lossless mode; `compact.rs` tests compact mode).
pub fn embed_args<'a>(input: &'a Path, output: &'a Path, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec![
        "embed",
        input.to_str().unwrap(),
        "-o",
        output.to_str().unwrap(),
        "--password-env",
        PW_VAR,
        "--json",
    ];
    args.extend_from_slice(KDF);
    if !extra.contains(&"--mode") {
        args.extend_from_slice(&["--mode", "lossless"]);
    }
    args.extend_from_slice(extra);
    args
}

/// Embeds `message` (written to a file beside the output) and returns the
/// JSON summary; panics unless it succeeded.
pub fn embed_ok(input: &Path, output: &Path, message: &[u8], extra: &[&str]) -> Value {
    let file = output.with_extension("message");
    std::fs::write(&file, message).unwrap();
    let mut args = embed_args(input, output, extra);
    args.extend_from_slice(&["--message-file", file.to_str().unwrap()]);
    let run = vidstega(&args);
    std::fs::remove_file(&file).unwrap();
    run.ok().json()
}

/// Extracts to standard output; panics unless it succeeded.
pub fn extract_ok(stego: &Path) -> Vec<u8> {
    let run = vidstega(&["extract", stego.to_str().unwrap(), "--password-env", PW_VAR]);
    run.ok();
    run.stdout
}

/// `extract` with the test password, whatever the outcome.
pub fn extract(stego: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["extract", stego.to_str().unwrap(), "--password-env", PW_VAR];
    args.extend_from_slice(extra);
    vidstega(&args)
}

// ---------------------------------------------------------------------------
// Files

/// Names in `dir`, hidden ones included.
pub fn entries(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// Panics unless `dir` holds exactly `names` (so no output, no hidden
/// `.NAME.partial.EXT`, no work folder, no write-check file was left).
pub fn assert_only(dir: &Path, names: &[&str]) {
    let want: BTreeSet<String> = names.iter().map(|s| s.to_string()).collect();
    assert_eq!(entries(dir), want, "unexpected files left in {}", dir.display());
}

/// Deterministic incompressible bytes (SHA-256 in counter mode).
pub fn random_bytes(len: usize, seed: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut counter = 0u64;
    while out.len() < len {
        let mut h = Sha256::new();
        h.update(seed.as_bytes());
        h.update(counter.to_le_bytes());
        out.extend_from_slice(&h.finalize());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// The file name of `path`.
pub fn name(path: &Path) -> &str {
    path.file_name().unwrap().to_str().unwrap()
}
