//! Running the system ffmpeg and ffprobe, and the lavfi sources the tests
//! make their videos from.

use serde_json::Value;
use std::fmt::Display;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs `name pre… args…` with stdin closed; panics with its stderr when it
/// fails, and with how to install FFmpeg when it cannot be run.
fn tool(name: &str, pre: &[&str], args: &[&str]) -> Output {
    let out = Command::new(name)
        .args(pre)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "these tests need {name} (FFmpeg 5.1 or newer) on PATH, and could not run it: {e}. \
                 Install FFmpeg: `sudo apt-get install ffmpeg` (Debian/Ubuntu; scripts/ensure-tools.sh \
                 does) or `brew install ffmpeg` (macOS)"
            )
        });
    assert!(
        out.status.success(),
        "{name} {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs the system ffmpeg quietly (errors only, overwriting outputs, never
/// reading stdin); returns its stdout. Panics with its stderr on failure.
pub fn ffmpeg(args: &[&str]) -> Vec<u8> {
    tool(
        "ffmpeg",
        &["-hide_banner", "-nostdin", "-loglevel", "error", "-y"],
        args,
    )
    .stdout
}

/// Runs the system ffprobe (errors only); returns its stdout.
pub fn ffprobe(args: &[&str]) -> String {
    String::from_utf8(tool("ffprobe", &["-v", "error"], args).stdout).expect("ffprobe prints UTF-8")
}

/// ffprobe's JSON report of `path` with `args` (e.g. `-show_streams`).
pub fn ffprobe_json(path: &Path, args: &[&str]) -> Value {
    let mut all = vec!["-of", "json"];
    all.extend_from_slice(args);
    all.push(path.to_str().expect("a UTF-8 path"));
    serde_json::from_str(&ffprobe(&all)).expect("ffprobe JSON")
}

/// A noisy moving test picture: `testsrc2` plus temporal noise, so every
/// frame differs and the LSBs are busy like real footage. `rate` is
/// anything lavfi reads as a frame rate (`25`, `"30000/1001"`).
pub fn picture(size: &str, rate: impl Display, seconds: f64) -> String {
    format!("testsrc2=s={size}:r={rate}:d={seconds},noise=alls=12:allf=t+u")
}

/// A sine tone as a lavfi source.
pub fn tone(freq: u32, seconds: f64) -> String {
    format!("sine=f={freq}:d={seconds}")
}

/// Writes `dir/name` from lavfi `sources` (each one `-f lavfi -i`) with the
/// output `options` (codecs, maps, ...); returns its path.
pub fn make_video(dir: &Path, name: &str, sources: &[&str], options: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = Vec::new();
    for s in sources {
        args.extend_from_slice(&["-f", "lavfi", "-i", s]);
    }
    args.extend_from_slice(options);
    args.push(path.to_str().expect("a UTF-8 path"));
    ffmpeg(&args);
    path
}

/// MD5 of each audio stream's packets, stream-copied (never decoded), in
/// order: equal lists mean the audio was copied bit-exact.
pub fn audio_hashes(path: &Path) -> Vec<String> {
    let streams = ffprobe_json(path, &["-select_streams", "a", "-show_entries", "stream=index"]);
    let count = streams["streams"].as_array().map_or(0, Vec::len);
    (0..count)
        .map(|i| {
            let map = format!("0:a:{i}");
            let out = ffmpeg(&[
                "-i",
                path.to_str().expect("a UTF-8 path"),
                "-map",
                &map,
                "-c",
                "copy",
                "-f",
                "md5",
                "-",
            ]);
            String::from_utf8(out).expect("an MD5 line").trim().to_string()
        })
        .collect()
}
