//! Making x264 streams and decoding them with the real ffmpeg.

use std::path::Path;
use std::process::{Command, Stdio};
use vidstega_h264::nal::{split_annex_b, NAL_AUD};

/// Runs ffmpeg with `args`; panics (never skips) if it is missing or fails.
pub fn ffmpeg(args: &[&str]) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-nostdin", "-v", "error"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!("ffmpeg must be installed for these tests (scripts/ensure-tools.sh): {e}")
        });
    assert!(
        out.status.success(),
        "ffmpeg {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "ffmpeg {args:?} reported: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// An x264 Annex B stream of `frames` frames of a moving test pattern, with
/// an access unit delimiter before every picture.
pub fn encode(dir: &Path, name: &str, size: &str, pix_fmt: &str, frames: u32, x264: &str) -> Vec<u8> {
    let path = dir.join(format!("{name}.264"));
    let params = if x264.is_empty() {
        "aud=1".to_string()
    } else {
        format!("aud=1:{x264}")
    };
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        &format!("testsrc2=size={size}:rate=25"),
        "-frames:v",
        &frames.to_string(),
        "-pix_fmt",
        pix_fmt,
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-x264-params",
        &params,
        "-f",
        "h264",
        "-y",
        path.to_str().unwrap(),
    ]);
    std::fs::read(&path).unwrap()
}

/// Access units of an Annex B stream that has a delimiter before each.
pub fn access_units(stream: &[u8]) -> Vec<Vec<&[u8]>> {
    let mut units: Vec<Vec<&[u8]>> = Vec::new();
    for nal in split_annex_b(stream) {
        if nal[0] & 0x1f == NAL_AUD || units.is_empty() {
            units.push(Vec::new());
        }
        units.last_mut().unwrap().push(nal);
    }
    units
}

/// Joins access units back into an Annex B stream.
pub fn annex_b<T: AsRef<[u8]>>(units: &[Vec<T>]) -> Vec<u8> {
    let mut out = Vec::new();
    for unit in units {
        for nal in unit {
            out.extend_from_slice(&[0, 0, 0, 1]);
            out.extend_from_slice(nal.as_ref());
        }
    }
    out
}

/// Decodes an Annex B stream with FFmpeg into raw frames of `pix_fmt`, in
/// display order, treating any decoding error as fatal.
pub fn decode(dir: &Path, stream: &[u8], pix_fmt: &str, frame_len: usize) -> Vec<Vec<u8>> {
    let path = dir.join("decode-input.264");
    std::fs::write(&path, stream).unwrap();
    let raw = ffmpeg(&[
        "-err_detect",
        "explode",
        "-f",
        "h264",
        "-i",
        path.to_str().unwrap(),
        "-fps_mode",
        "passthrough",
        "-f",
        "rawvideo",
        "-pix_fmt",
        pix_fmt,
        "-",
    ]);
    assert_eq!(raw.len() % frame_len, 0, "a whole number of frames");
    raw.chunks(frame_len).map(|c| c.to_vec()).collect()
}

/// Splits a raw frame into its planes.
pub fn planes<'a>(frame: &'a [u8], dims: &[(u32, u32)]) -> Vec<&'a [u8]> {
    let mut at = 0;
    dims.iter()
        .map(|&(w, h)| {
            let p = &frame[at..at + (w * h) as usize];
            at += (w * h) as usize;
            p
        })
        .collect()
}

/// Deterministic pseudo-random bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            (s >> 24) as u8
        })
        .collect()
}
