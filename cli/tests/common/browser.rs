//! A second, independent player for the stego videos: headless Chromium.
//!
//! Compact mode rewrites a few "carrier" pictures as I_PCM slices and copies
//! every other packet. These helpers prove that a browser plays the result
//! and shows, for the carriers, exactly the pixels FFmpeg decodes:
//!
//! * [`browser_frames`] / [`browser_grab`] run `tests/browser/grab_frames.py`
//!   (selenium + Debian's `chromium` and `chromium-driver`): Chromium loads
//!   the MP4 from a 127.0.0.1 HTTP server into a `<video>`, seeks to each
//!   time, waits for the frame to be presented, draws it to a canvas at its
//!   natural size and reads the pixels back;
//! * [`ffmpeg_rgb_frame`] decodes the same picture with FFmpeg (to its native
//!   8-bit 4:2:0 samples, exactly) and converts it to RGB **the way Chromium
//!   does** — see [`ChromiumYuv`];
//! * [`compare`] measures the difference;
//! * [`check_carriers_play_in_chromium`] is the whole check, and
//!   [`broken_carrier_is_caught`] (corrupt slice) and
//!   [`altered_carrier_is_caught`] (valid slice, wrong pixels) are its
//!   negative controls.
//!
//! How independent is it? Chromium demuxes and decodes H.264 in software
//! with its own bundled copy of FFmpeg's `mov` demuxer and `h264` decoder
//! (Debian's build links no system libavcodec), so the bitstream parser is
//! a relative of the one the FFmpeg CLI uses, not a separate
//! implementation. What is independent: the player (Chromium's media
//! pipeline, byte-range loading over HTTP, seeking, frame scheduling), the
//! error policy (Chromium stops with `MEDIA_ERR_DECODE` on a slice the
//! FFmpeg CLI merely conceals), the colour conversion and the canvas.
//!
//! ## How Chromium converts (measured with Chromium 156, `--disable-gpu`)
//!
//! Without a GPU, Chromium converts a decoded I420 frame with libyuv's
//! `I420ToARGB` family: nearest-neighbour chroma (each chroma sample serves
//! a 2x2 block of pixels) and libyuv's 6-bit fixed-point tables, which
//! *cap the blue coefficient of limited-range BT.709 and BT.601 at 2.0*
//! (`UB 128`). No ffmpeg `scale` setting reproduces that cap: the closest,
//! `scale=in_color_matrix=bt709:in_range=tv` (default flags), is off by up
//! to 14 (mean 0.93) on a 720p `testsrc2` frame; `flags=accurate_rnd+
//! full_chroma_int` is worse (up to 143: bilinear chroma). So
//! [`ffmpeg_rgb_frame`] lets ffmpeg decode to YUV and does libyuv's integer
//! arithmetic here; the result equals Chromium's canvas **bit for bit** on
//! every frame measured (tolerance 0, see [`TOLERANCE`]).
//!
//! Which table Chromium picks (measured): the stream's matrix and range only
//! when primaries, transfer *and* matrix are all tagged; otherwise full range
//! with no matrix tag means BT.601 full ("JPEG"), and anything else is a
//! guess from the height: BT.709 limited from 720 lines up, BT.601 limited
//! below (so an untagged 1280x718 clip is BT.601 and 960x720 is BT.709).
//!
//! ## Example (what a `tests/browser_playback.rs` declared in `tests/tests.rs` can hold)
//!
//! ```text
//! use crate::common::{browser, embed_ok, random_bytes, tempdir, tone, picture, make_video};
//!
//! #[test]
//! fn compact_carriers_play_in_chromium() {
//!     let dir = tempdir();
//!     let cover = make_video(dir.path(), "in.mp4", &[&picture("322x242", 25, 2.0), &tone(440, 2.0)],
//!         &["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-g", "25", "-c:a", "aac"]);
//!     let stego = dir.path().join("out.mp4");
//!     let summary = embed_ok(&cover, &stego, &random_bytes(4000, "browser"), &["--mode", "compact"]);
//!     assert!(summary["carriers"].as_u64().unwrap() >= 1);
//!     let report = browser::check_carriers_play_in_chromium(&cover, &stego);
//!     eprintln!("{report}");
//!     eprintln!("corrupt carrier caught: {}", browser::broken_carrier_is_caught(&cover, &stego));
//!     eprintln!("altered carrier caught: {}", browser::altered_carrier_is_caught(&cover, &stego));
//! }
//! ```
//!
//! That runs in about 9 s (three Chromium runs of about 2 s each, the
//! rest FFmpeg). A 1280x720 clip takes about 7 s per check.
//!
//! Tools: `scripts/ensure-tools.sh` installs `chromium`, `chromium-driver`
//! (Debian) and a venv with a pinned selenium at
//! `$HOME/.cache/vidstega-tools/browser-venv`. When any is missing these
//! helpers panic saying what to install; they never skip.

use super::{ffmpeg, ffprobe, ffprobe_json, rotation, tempdir, video_facts};
use serde_json::Value;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

/// Largest per-channel difference allowed between Chromium's canvas and
/// [`ffmpeg_rgb_frame`] for the same picture of the same file. Measured: 0
/// on ordinary and carrier frames alike, at 1280x720 (BT.709), 322x242,
/// 640x480 and 1280x718 (BT.601), tagged and untagged, limited and full
/// range. libyuv's SIMD rows are bit-exact with its C rows, so this does not
/// depend on the CPU; a Chromium update that changes its conversion shows up
/// as *ordinary* frames failing too.
pub const TOLERANCE: u8 = 0;

/// Largest per-channel difference allowed between a carrier as Chromium
/// shows it and the *cover's* picture: compact mode moves each sample by at
/// most ±1, and through libyuv's tables (worst case +-1 in Y, Cb and Cr at
/// once: 75 + 128 = 203 sixty-fourths in blue) that moves a channel by at
/// most 4.
pub const COVER_LIMIT: u8 = 4;

/// [`compare`] counts the samples that differ by more than this.
pub const OVER_N: u8 = 1;

// ---------------------------------------------------------------------------
// Frames and differences

/// A picture as packed RGB24, row by row, no padding.
#[derive(Clone, PartialEq, Eq)]
pub struct RgbFrame {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height * 3` bytes, R G B.
    pub rgb: Vec<u8>,
}

impl fmt::Debug for RgbFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RgbFrame({}x{}, {} bytes)",
            self.width,
            self.height,
            self.rgb.len()
        )
    }
}

/// How two [`RgbFrame`]s of the same size differ, per channel sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    /// Largest absolute difference.
    pub max_abs: u8,
    /// Mean absolute difference over all samples.
    pub mean_abs: f64,
    /// Fraction of samples that differ by more than [`OVER_N`].
    pub fraction_over_n: f64,
    /// Fraction of samples that differ at all.
    pub fraction_differing: f64,
    /// Pixel (x, y) of the first largest difference.
    pub worst_at: (usize, usize),
}

impl fmt::Display for Diff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "max {} mean {:.4} over{} {:.5} differing {:.5} worst at {:?}",
            self.max_abs, self.mean_abs, OVER_N, self.fraction_over_n, self.fraction_differing, self.worst_at
        )
    }
}

/// Compares two frames sample by sample; panics if their sizes differ.
pub fn compare(a: &RgbFrame, b: &RgbFrame) -> Diff {
    assert_eq!(
        (a.width, a.height),
        (b.width, b.height),
        "comparing frames of different sizes"
    );
    assert_eq!(a.rgb.len(), a.width * a.height * 3);
    assert_eq!(b.rgb.len(), b.width * b.height * 3);
    let (mut max, mut worst, mut sum, mut over, mut differing) = (0u8, 0usize, 0u64, 0u64, 0u64);
    for (i, (x, y)) in a.rgb.iter().zip(&b.rgb).enumerate() {
        let d = x.abs_diff(*y);
        sum += u64::from(d);
        over += u64::from(d > OVER_N);
        differing += u64::from(d != 0);
        if d > max {
            max = d;
            worst = i / 3;
        }
    }
    let n = a.rgb.len().max(1) as f64;
    Diff {
        max_abs: max,
        mean_abs: sum as f64 / n,
        fraction_over_n: over as f64 / n,
        fraction_differing: differing as f64 / n,
        worst_at: (worst % a.width.max(1), worst / a.width.max(1)),
    }
}

// ---------------------------------------------------------------------------
// Chromium's YUV -> RGB conversion

/// The libyuv table Chromium converts a frame with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChromiumYuv {
    /// BT.601 limited range (libyuv `kYuvI601Constants`).
    Bt601,
    /// BT.709 limited range (libyuv `kYuvH709Constants`, blue capped at 2.0).
    Bt709,
    /// BT.601 full range (libyuv `kYuvJPEGConstants`).
    Jpeg,
    /// BT.709 full range (libyuv `kYuvF709Constants`).
    Bt709Full,
}

impl ChromiumYuv {
    /// libyuv's (UB, UG, VG, VR, YG, YB): U/V contributions in 1/64ths and
    /// the luma scale (x 257 / 65536) and bias.
    fn constants(self) -> (i32, i32, i32, i32, u32, i32) {
        match self {
            ChromiumYuv::Bt601 => (128, 25, 52, 102, 18997, -1160),
            ChromiumYuv::Bt709 => (128, 14, 34, 115, 18997, -1160),
            ChromiumYuv::Jpeg => (113, 22, 46, 90, 16320, 32),
            ChromiumYuv::Bt709Full => (119, 12, 30, 101, 16320, 32),
        }
    }

    /// The table Chromium 156 uses for a stream with these ffprobe colour
    /// fields (see the module comment for how this was measured).
    pub fn for_stream(c: &ColorFacts) -> ChromiumYuv {
        let specified = |s: &str| !matches!(s, "" | "unknown" | "unspecified" | "reserved");
        let full = c.color_range == "pc" || c.pix_fmt.starts_with("yuvj");
        if specified(&c.color_primaries) && specified(&c.color_transfer) && specified(&c.color_space) {
            match (c.color_space.as_str(), full) {
                ("bt709", false) => ChromiumYuv::Bt709,
                ("bt709", true) => ChromiumYuv::Bt709Full,
                ("smpte170m" | "bt470bg", false) => ChromiumYuv::Bt601,
                ("smpte170m" | "bt470bg", true) => ChromiumYuv::Jpeg,
                (other, _) => {
                    panic!("colour matrix {other:?}: only BT.601 and BT.709 were measured against Chromium")
                }
            }
        } else if !specified(&c.color_space) && full {
            ChromiumYuv::Jpeg
        } else if c.height >= 720 {
            ChromiumYuv::Bt709
        } else {
            ChromiumYuv::Bt601
        }
    }
}

/// Converts 8-bit I420 planes to RGB24 exactly as libyuv's `I420ToARGB`
/// C rows do (nearest chroma, fixed point, clamped).
pub fn i420_to_rgb(
    y: &[u8],
    u: &[u8],
    v: &[u8],
    width: usize,
    height: usize,
    table: ChromiumYuv,
) -> RgbFrame {
    let cw = width.div_ceil(2);
    assert_eq!(y.len(), width * height, "luma plane size");
    assert_eq!(u.len(), cw * height.div_ceil(2), "Cb plane size");
    assert_eq!(v.len(), u.len(), "Cr plane size");
    let (ub, ug, vg, vr, yg, yb) = table.constants();
    let clamp = |x: i32| (x >> 6).clamp(0, 255) as u8;
    let mut rgb = vec![0u8; width * height * 3];
    for row in 0..height {
        for col in 0..width {
            let p = row * width + col;
            let c = (row / 2) * cw + col / 2;
            // libyuv: y1 = ((y * 0x0101 * yg) >> 16) + yb, in 1/64ths.
            let y1 = ((u32::from(y[p]) * 0x0101).wrapping_mul(yg) >> 16) as i32 + yb;
            let ui = i32::from(u[c]) - 128;
            let vi = i32::from(v[c]) - 128;
            rgb[p * 3] = clamp(y1 + vi * vr);
            rgb[p * 3 + 1] = clamp(y1 - (ui * ug + vi * vg));
            rgb[p * 3 + 2] = clamp(y1 + ui * ub);
        }
    }
    RgbFrame { width, height, rgb }
}

/// The colour fields ffprobe reports for the first video stream.
#[derive(Debug, Clone, Default)]
pub struct ColorFacts {
    /// `width`.
    pub width: usize,
    /// `height`.
    pub height: usize,
    /// `pix_fmt`.
    pub pix_fmt: String,
    /// `color_range` (`tv`, `pc`, `unknown`).
    pub color_range: String,
    /// `color_space` (the matrix).
    pub color_space: String,
    /// `color_primaries`.
    pub color_primaries: String,
    /// `color_transfer`.
    pub color_transfer: String,
}

/// What ffprobe says about the first video stream's size and colour.
pub fn color_facts(mp4: &Path) -> ColorFacts {
    let v = ffprobe_json(
        mp4,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height,pix_fmt,color_range,color_space,color_primaries,color_transfer",
        ],
    );
    let s = &v["streams"][0];
    let text = |k: &str| s[k].as_str().unwrap_or("").to_string();
    ColorFacts {
        width: s["width"].as_u64().expect("width") as usize,
        height: s["height"].as_u64().expect("height") as usize,
        pix_fmt: text("pix_fmt"),
        color_range: text("color_range"),
        color_space: text("color_space"),
        color_primaries: text("color_primaries"),
        color_transfer: text("color_transfer"),
    }
}

/// Decodes picture `index` (display order, from 0) with FFmpeg and converts
/// it to RGB the way Chromium does.
pub fn ffmpeg_rgb_frame(mp4: &Path, index: usize) -> RgbFrame {
    ffmpeg_rgb_frames(mp4, &[index]).pop().unwrap()
}

/// [`ffmpeg_rgb_frame`] for several pictures with one decode, in the order
/// of `indices`.
pub fn ffmpeg_rgb_frames(mp4: &Path, indices: &[usize]) -> Vec<RgbFrame> {
    let (c, frames) = ffmpeg_yuv_frames(mp4, indices);
    let table = ChromiumYuv::for_stream(&c);
    let (w, h) = (c.width, c.height);
    let (ylen, clen) = (w * h, w.div_ceil(2) * h.div_ceil(2));
    frames
        .iter()
        .map(|f| i420_to_rgb(&f[..ylen], &f[ylen..ylen + clen], &f[ylen + clen..], w, h, table))
        .collect()
}

/// Pictures `indices` (display order) as FFmpeg decodes them: the stream's
/// own 8-bit 4:2:0 samples (Y, Cb, Cr planes, no padding), untouched, in
/// the order of `indices`; with the stream's colour facts.
pub fn ffmpeg_yuv_frames(mp4: &Path, indices: &[usize]) -> (ColorFacts, Vec<Vec<u8>>) {
    let c = color_facts(mp4);
    assert!(
        c.pix_fmt == "yuv420p" || c.pix_fmt == "yuvj420p",
        "{}: pixel format {}: only 8-bit 4:2:0 was measured against Chromium",
        mp4.display(),
        c.pix_fmt
    );
    let mut wanted: Vec<usize> = indices.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    let select = wanted
        .iter()
        .map(|i| format!("eq(n\\,{i})"))
        .collect::<Vec<_>>()
        .join("+");
    // The native pixel format, so ffmpeg hands over the decoded samples
    // untouched (no range or matrix conversion).
    let raw = ffmpeg(&[
        "-noautorotate",
        "-i",
        mp4.to_str().unwrap(),
        "-map",
        "0:v:0",
        "-fps_mode",
        "passthrough",
        "-vf",
        &format!("select={select}"),
        "-f",
        "rawvideo",
        "-pix_fmt",
        &c.pix_fmt,
        "-",
    ]);
    let (w, h) = (c.width, c.height);
    let flen = w * h + 2 * w.div_ceil(2) * h.div_ceil(2);
    assert_eq!(
        raw.len(),
        flen * wanted.len(),
        "{}: expected {} decoded pictures (indices {wanted:?}), got {} bytes",
        mp4.display(),
        wanted.len(),
        raw.len()
    );
    let frames = indices
        .iter()
        .map(|i| {
            let k = wanted.binary_search(i).unwrap();
            raw[k * flen..(k + 1) * flen].to_vec()
        })
        .collect();
    (c, frames)
}

// ---------------------------------------------------------------------------
// Chromium

/// The `grab_frames.py` script.
pub fn grab_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/grab_frames.py")
}

/// The venv with selenium (`VIDSTEGA_BROWSER_VENV`, or
/// `$HOME/.cache/vidstega-tools/browser-venv`).
pub fn browser_venv() -> PathBuf {
    match std::env::var_os("VIDSTEGA_BROWSER_VENV") {
        Some(v) => PathBuf::from(v),
        None => {
            let home = std::env::var_os("HOME").expect("HOME is not set");
            Path::new(&home).join(".cache/vidstega-tools/browser-venv")
        }
    }
}

const INSTALL: &str = "run `scripts/ensure-tools.sh` (it installs the Debian packages chromium and \
     chromium-driver with apt, and creates the selenium venv), or by hand: \
     `sudo apt-get install chromium chromium-driver && python3 -m venv ~/.cache/vidstega-tools/browser-venv \
     && ~/.cache/vidstega-tools/browser-venv/bin/pip install selenium==4.51.0`";

/// The venv's python, after checking that it, Chromium and chromedriver
/// exist; panics with install instructions otherwise.
pub fn browser_python() -> PathBuf {
    for (var, default, what) in [
        ("CHROMIUM", "/usr/bin/chromium", "Chromium"),
        ("CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver"),
    ] {
        let path = std::env::var(var).unwrap_or_else(|_| default.to_string());
        assert!(
            Path::new(&path).is_file(),
            "the browser playback tests need {what} at {path} (set {var} to use another); {INSTALL}"
        );
    }
    let python = browser_venv().join("bin/python");
    assert!(
        python.is_file(),
        "the browser playback tests need the selenium venv at {}; {INSTALL}",
        browser_venv().display()
    );
    python
}

/// What `<video>` reported through `getVideoPlaybackQuality()`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Quality {
    /// `totalVideoFrames` (frames decoded, seeking included).
    pub total: u64,
    /// `droppedVideoFrames`.
    pub dropped: u64,
    /// `corruptedVideoFrames`.
    pub corrupted: u64,
}

/// Everything one Chromium run reported.
#[derive(Debug, Clone)]
pub struct BrowserGrab {
    /// One frame per requested time.
    pub frames: Vec<RgbFrame>,
    /// The `mediaTime` (pts, seconds) `requestVideoFrameCallback` reported
    /// for each frame.
    pub media_times: Vec<f64>,
    /// `video.videoWidth`.
    pub video_width: usize,
    /// `video.videoHeight`.
    pub video_height: usize,
    /// `video.duration`.
    pub duration: f64,
    /// `video.error` at the end (`None`: no error).
    pub error: Option<String>,
    /// `getVideoPlaybackQuality()` at the end.
    pub quality: Quality,
    /// Chromium's version.
    pub browser_version: String,
    /// chromedriver's version.
    pub driver_version: String,
    /// Wall-clock seconds of the whole script run.
    pub seconds: f64,
}

/// Grabs the frames shown at `times` (seconds; pick the middle of each
/// frame's display interval, one frame per time, no frame twice in a row).
/// `Err` when Chromium could not play the video (media error, readyState
/// stuck, seek never completing, renderer crash); panics on anything else
/// (tools missing, webdriver trouble).
pub fn try_browser_grab(mp4: &Path, times: &[f64]) -> Result<BrowserGrab, String> {
    let python = browser_python();
    let out = tempdir();
    let started = Instant::now();
    let mut cmd = Command::new(&python);
    cmd.arg(grab_script())
        .arg(mp4)
        .arg(out.path())
        .args(times.iter().map(|t| format!("{t:.6}")))
        .env("GRAB_FRAMES_DEADLINE", "90")
        .stdin(Stdio::null());
    let run = cmd
        .output()
        .unwrap_or_else(|e| panic!("could not run {}: {e}; {INSTALL}", python.display()));
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    match run.status.code() {
        Some(0) => {}
        Some(2) => return Err(stderr.trim().to_string()),
        _ => panic!(
            "{} failed ({}): {stderr}\n(if a tool is missing: {INSTALL})",
            grab_script().display(),
            run.status
        ),
    }
    let report: Value = serde_json::from_slice(
        &std::fs::read(out.path().join("report.json")).expect("grab_frames wrote report.json"),
    )
    .expect("report.json is JSON");
    let num = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    let mut frames = Vec::new();
    let mut media_times = Vec::new();
    for f in report["frames"].as_array().expect("frames") {
        let (w, h) = (num(&f["width"]) as usize, num(&f["height"]) as usize);
        let rgb = std::fs::read(out.path().join(f["file"].as_str().expect("file"))).unwrap();
        assert_eq!(rgb.len(), w * h * 3, "grab_frames wrote a short frame");
        frames.push(RgbFrame {
            width: w,
            height: h,
            rgb,
        });
        media_times.push(num(&f["mediaTime"]));
    }
    assert_eq!(
        frames.len(),
        times.len(),
        "grab_frames returned the wrong number of frames"
    );
    let q = &report["quality"];
    Ok(BrowserGrab {
        frames,
        media_times,
        video_width: num(&report["videoWidth"]) as usize,
        video_height: num(&report["videoHeight"]) as usize,
        duration: num(&report["duration"]),
        error: (!report["error"].is_null()).then(|| report["error"].to_string()),
        quality: Quality {
            total: q["totalVideoFrames"].as_u64().unwrap_or(0),
            dropped: q["droppedVideoFrames"].as_u64().unwrap_or(0),
            corrupted: q["corruptedVideoFrames"].as_u64().unwrap_or(0),
        },
        browser_version: report["browser"]["browserVersion"]
            .as_str()
            .unwrap_or("?")
            .to_string(),
        driver_version: report["browser"]["chromedriverVersion"]
            .as_str()
            .unwrap_or("?")
            .to_string(),
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// [`try_browser_grab`] that panics when Chromium cannot play the video.
pub fn browser_grab(mp4: &Path, times: &[f64]) -> BrowserGrab {
    try_browser_grab(mp4, times).unwrap_or_else(|e| panic!("Chromium could not play {}: {e}", mp4.display()))
}

/// The frames Chromium shows at `times` (see [`try_browser_grab`]).
pub fn browser_frames(mp4: &Path, times: &[f64]) -> Vec<RgbFrame> {
    browser_grab(mp4, times).frames
}

// ---------------------------------------------------------------------------
// The check

/// Presentation time (seconds) of every picture of the first video stream,
/// in display order.
pub fn frame_times(mp4: &Path) -> Vec<f64> {
    let out = ffprobe(&[
        "-select_streams",
        "v:0",
        "-show_entries",
        "frame=best_effort_timestamp_time",
        "-of",
        "csv=p=0",
        mp4.to_str().unwrap(),
    ]);
    out.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.trim_end_matches(',')
                .parse()
                .unwrap_or_else(|_| panic!("{}: a frame without a timestamp: {l:?}", mp4.display()))
        })
        .collect()
}

/// MD5 of every decoded picture, display order.
fn frame_hashes(mp4: &Path) -> Vec<String> {
    let out = ffmpeg(&[
        "-noautorotate",
        "-i",
        mp4.to_str().unwrap(),
        "-map",
        "0:v:0",
        "-fps_mode",
        "passthrough",
        "-f",
        "framemd5",
        "-",
    ]);
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.rsplit(',').next().unwrap().trim().to_string())
        .collect()
}

/// Display-order indices of the pictures whose FFmpeg decode differs between
/// `source` and `stego` (in compact mode: exactly the carriers).
pub fn carrier_frames(source: &Path, stego: &Path) -> Vec<usize> {
    let (a, b) = (frame_hashes(source), frame_hashes(stego));
    assert_eq!(
        a.len(),
        b.len(),
        "source and stego decode to different frame counts"
    );
    (0..a.len()).filter(|&i| a[i] != b[i]).collect()
}

/// How one grabbed picture compared.
#[derive(Debug, Clone)]
pub struct FrameCheck {
    /// Display-order index.
    pub index: usize,
    /// A carrier (differs from the cover in FFmpeg's decode)?
    pub carrier: bool,
    /// Its pts per ffprobe, seconds.
    pub pts: f64,
    /// The pts Chromium presented (`requestVideoFrameCallback` mediaTime).
    pub media_time: f64,
    /// Chromium vs FFmpeg's decode of the same file (must be <= [`TOLERANCE`]).
    pub vs_ffmpeg: Diff,
    /// Chromium vs FFmpeg's decode of the cover (ordinary: <= [`TOLERANCE`];
    /// carrier: <= [`COVER_LIMIT`]).
    pub vs_cover: Diff,
}

/// The outcome of [`check_carriers_play_in_chromium`].
#[derive(Debug, Clone)]
pub struct CarrierCheck {
    /// Display-order indices of all carriers.
    pub carriers: Vec<usize>,
    /// The grabbed pictures: every carrier and two ordinary ones.
    pub frames: Vec<FrameCheck>,
    /// What Chromium reported (the frames themselves dropped).
    pub browser: BrowserGrab,
    /// Seconds for the whole check.
    pub seconds: f64,
}

impl fmt::Display for CarrierCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.browser;
        writeln!(
            f,
            "Chromium {} (chromedriver {}): {}x{}, error {:?}, quality {:?}; carriers {:?}; \
             browser run {:.1} s, whole check {:.1} s",
            b.browser_version,
            b.driver_version,
            b.video_width,
            b.video_height,
            b.error,
            b.quality,
            self.carriers,
            b.seconds,
            self.seconds
        )?;
        for c in &self.frames {
            writeln!(
                f,
                "  frame {:4} {:8} pts {:.6} shown {:.6} | vs ffmpeg: {} | vs cover: {}",
                c.index,
                if c.carrier { "carrier" } else { "ordinary" },
                c.pts,
                c.media_time,
                c.vs_ffmpeg,
                c.vs_cover
            )?;
        }
        Ok(())
    }
}

/// [`check_carriers_play_in_chromium`] returning what failed instead of
/// panicking. `Err` is the verdict "Chromium does not show what FFmpeg
/// shows" (or could not play it at all); a missing tool still panics.
pub fn try_check_carriers_play_in_chromium(source: &Path, stego: &Path) -> Result<CarrierCheck, String> {
    let started = Instant::now();
    let facts = video_facts(stego);
    if rotation(stego) != 0 {
        return Err("rotated video: Chromium draws it rotated; not supported by this check".into());
    }
    let carriers = carrier_frames(source, stego);
    if carriers.is_empty() {
        return Err("no carrier pictures: source and stego decode identically".into());
    }
    let pts = frame_times(stego);
    let n = pts.len();
    if n < 3 || n != facts.frames as usize {
        return Err(format!("{n} frame timestamps for {} frames", facts.frames));
    }
    // Two ordinary pictures, near a quarter and three quarters in.
    let mut ordinary = Vec::new();
    for target in [n / 4, 3 * n / 4] {
        let pick = (0..n)
            .filter(|i| !carriers.contains(i) && !ordinary.contains(i))
            .min_by_key(|&i| i.abs_diff(target))
            .ok_or("no ordinary picture left to compare")?;
        ordinary.push(pick);
    }
    let mut wanted: Vec<usize> = carriers.iter().chain(&ordinary).copied().collect();
    wanted.sort_unstable();
    // Seek to the middle of each picture's display interval.
    let interval = |i: usize| {
        if i + 1 < n {
            pts[i + 1] - pts[i]
        } else {
            pts[i] - pts[i - 1]
        }
    };
    let times: Vec<f64> = wanted.iter().map(|&i| pts[i] + interval(i) / 2.0).collect();

    let mut browser = try_browser_grab(stego, &times)?;
    let ours = ffmpeg_rgb_frames(stego, &wanted);
    let cover = ffmpeg_rgb_frames(source, &wanted);
    let mut problems = Vec::new();
    if let Some(e) = &browser.error {
        problems.push(format!("the <video> reported an error: {e}"));
    }
    if (browser.video_width, browser.video_height) != (facts.width as usize, facts.height as usize) {
        problems.push(format!(
            "the <video> is {}x{}, the stream {}x{}",
            browser.video_width, browser.video_height, facts.width, facts.height
        ));
    }
    if browser.quality.corrupted != 0 {
        problems.push(format!(
            "Chromium counted corrupted frames: {:?}",
            browser.quality
        ));
    }
    let mut frames = Vec::new();
    for (k, &i) in wanted.iter().enumerate() {
        let shown = &browser.frames[k];
        let carrier = carriers.contains(&i);
        if (shown.width, shown.height) != (ours[k].width, ours[k].height) {
            problems.push(format!(
                "frame {i}: Chromium drew {}x{}, FFmpeg decodes {}x{}",
                shown.width, shown.height, ours[k].width, ours[k].height
            ));
            continue;
        }
        let check = FrameCheck {
            index: i,
            carrier,
            pts: pts[i],
            media_time: browser.media_times[k],
            vs_ffmpeg: compare(shown, &ours[k]),
            vs_cover: compare(shown, &cover[k]),
        };
        if (check.media_time - check.pts).abs() >= interval(i) / 2.0 {
            problems.push(format!(
                "frame {i}: Chromium presented the picture at {:.6} s, expected {:.6} s",
                check.media_time, check.pts
            ));
        }
        if check.vs_ffmpeg.max_abs > TOLERANCE {
            problems.push(format!(
                "frame {i} ({}): Chromium differs from FFmpeg by up to {} (tolerance {TOLERANCE})",
                if carrier { "carrier" } else { "ordinary" },
                check.vs_ffmpeg.max_abs
            ));
        }
        if carrier && check.vs_cover.max_abs == 0 {
            problems.push(format!(
                "frame {i} (carrier): identical to the cover's picture in RGB, so this check could not \
                 tell the carrier from the cover; embed a longer message"
            ));
        }
        let limit = if carrier { COVER_LIMIT } else { TOLERANCE };
        if check.vs_cover.max_abs > limit {
            problems.push(format!(
                "frame {i} ({}): Chromium's picture differs from the cover's by up to {} (limit {limit})",
                if carrier { "carrier" } else { "ordinary" },
                check.vs_cover.max_abs
            ));
        }
        frames.push(check);
    }
    // Carriers no worse than ordinary pictures.
    let worst = |carrier: bool| {
        frames
            .iter()
            .filter(|c| c.carrier == carrier)
            .map(|c| c.vs_ffmpeg.max_abs)
            .max()
    };
    if let (Some(c), Some(o)) = (worst(true), worst(false)) {
        if c > o {
            problems.push(format!(
                "carriers differ from FFmpeg by up to {c}, ordinary pictures by {o}"
            ));
        }
    }
    browser.frames.clear();
    let report = CarrierCheck {
        carriers,
        frames,
        browser,
        seconds: started.elapsed().as_secs_f64(),
    };
    if problems.is_empty() {
        Ok(report)
    } else {
        Err(format!("{}\n{report}", problems.join("\n")))
    }
}

/// Proves that Chromium plays `stego` (a compact-mode embed of `source`)
/// and shows every carrier picture exactly as FFmpeg decodes it: finds the
/// carriers (the pictures whose FFmpeg decode differs from the source's),
/// grabs them and two ordinary pictures in Chromium, and asserts for each
/// one that Chromium's canvas equals FFmpeg's decode converted the way
/// Chromium converts (within [`TOLERANCE`], carriers no worse than ordinary
/// pictures), that it is the picture with the expected pts, that it is
/// within [`COVER_LIMIT`] of the cover's picture (ordinary ones: identical),
/// and that the `<video>` reported no error, no corrupted frame and the
/// stream's size. Panics with a per-frame table otherwise.
pub fn check_carriers_play_in_chromium(source: &Path, stego: &Path) -> CarrierCheck {
    try_check_carriers_play_in_chromium(source, stego)
        .unwrap_or_else(|e| panic!("{} does not play right in Chromium:\n{e}", stego.display()))
}

/// Byte range (offset, length) in the file of the video packet with pts
/// `pts` seconds.
fn packet_range(mp4: &Path, pts: f64) -> (u64, u64) {
    let v = ffprobe_json(
        mp4,
        &[
            "-select_streams",
            "v:0",
            "-show_entries",
            "packet=pts_time,pos,size",
        ],
    );
    let field = |p: &Value, k: &str| p[k].as_str().and_then(|s| s.parse::<f64>().ok());
    v["packets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| field(p, "pts_time").is_some_and(|t| (t - pts).abs() < 1e-6))
        .map(|p| (field(p, "pos").unwrap() as u64, field(p, "size").unwrap() as u64))
        .unwrap_or_else(|| panic!("{}: no video packet with pts {pts}", mp4.display()))
}

/// Negative control 1, a corrupt carrier: zeroes 1 KiB in the middle of
/// the first carrier's packet, inside its I_PCM slice (to a decoder the
/// zeros end the slice like a start code; FFmpeg conceals the rest of the
/// picture, Chromium 156 stops with `MEDIA_ERR_DECODE`). Panics unless
/// [`try_check_carriers_play_in_chromium`] fails on that copy; returns why
/// it failed.
pub fn broken_carrier_is_caught(source: &Path, stego: &Path) -> String {
    let (carrier, pos, size) = first_carrier_packet(source, stego);
    let mut bytes = std::fs::read(stego).unwrap();
    let start = (pos + size / 2 - 512) as usize;
    bytes[start..start + 1024].fill(0);
    expect_check_fails(
        source,
        &bytes,
        &format!("carrier frame {carrier} has 1 KiB zeroed"),
    )
}

/// Negative control 2, a valid carrier with wrong pixels: finds one
/// macroblock's 256 luma samples verbatim in the first carrier's I_PCM
/// slice (using FFmpeg's decode of that picture) and overwrites them with
/// flat white or black. The stream stays valid and both decoders agree on
/// the new picture, so only the comparison with the cover can notice.
/// Panics unless [`try_check_carriers_play_in_chromium`] fails on that copy
/// *because of the pixels*; returns why it failed.
pub fn altered_carrier_is_caught(source: &Path, stego: &Path) -> String {
    let (carrier, pos, size) = first_carrier_packet(source, stego);
    let (c, frames) = ffmpeg_yuv_frames(stego, &[carrier]);
    let luma = &frames[0][..c.width * c.height];
    let mut bytes = std::fs::read(stego).unwrap();
    let packet = &bytes[pos as usize..(pos + size) as usize];
    // Macroblocks wholly inside the picture, from the centre outwards.
    let (mbw, mbh) = (c.width / 16, c.height / 16);
    let mut mbs: Vec<(usize, usize)> = (0..mbh).flat_map(|y| (0..mbw).map(move |x| (x, y))).collect();
    mbs.sort_by_key(|&(x, y)| x.abs_diff(mbw / 2) + y.abs_diff(mbh / 2));
    for (mx, my) in mbs {
        let block: Vec<u8> = (0..16)
            .flat_map(|r| {
                let at = (my * 16 + r) * c.width + mx * 16;
                luma[at..at + 16].iter().copied()
            })
            .collect();
        let mut hits = packet
            .windows(256)
            .enumerate()
            .filter(|(_, w)| *w == block.as_slice());
        let (Some((offset, _)), None) = (hits.next(), hits.next()) else {
            continue; // absent (escaped bytes) or not unique: try another
        };
        let mean = block.iter().map(|&b| u32::from(b)).sum::<u32>() / 256;
        // 16 and 235 can never form a start code or need escaping.
        let fill = if mean < 128 { 235 } else { 16 };
        let at = pos as usize + offset;
        bytes[at..at + 256].fill(fill);
        let why = expect_check_fails(
            source,
            &bytes,
            &format!("carrier frame {carrier} has macroblock ({mx}, {my}) painted {fill}"),
        );
        assert!(
            why.contains("differs from the cover"),
            "the altered carrier failed the check, but not on its pixels:\n{why}"
        );
        return why;
    }
    panic!("no macroblock's luma samples found verbatim in the carrier's packet: is it I_PCM?");
}

/// Display index, file offset and size of the first carrier's packet.
fn first_carrier_packet(source: &Path, stego: &Path) -> (usize, u64, u64) {
    let carriers = carrier_frames(source, stego);
    assert!(!carriers.is_empty(), "{}: no carriers to break", stego.display());
    let (pos, size) = packet_range(stego, frame_times(stego)[carriers[0]]);
    assert!(
        size > 8192,
        "carrier packet of {size} bytes is too small to be an I_PCM picture"
    );
    (carriers[0], pos, size)
}

/// Writes `bytes` as a stego file and runs the check on it; panics if the
/// check passes.
fn expect_check_fails(source: &Path, bytes: &[u8], what: &str) -> String {
    let dir = tempdir();
    let modified = dir.path().join("modified-carrier.mp4");
    std::fs::write(&modified, bytes).unwrap();
    match try_check_carriers_play_in_chromium(source, &modified) {
        Ok(report) => panic!(
            "the browser check passed a stego file whose {what}; it cannot catch a bad carrier:\n{report}"
        ),
        Err(why) => why,
    }
}
