//! Transcoding a video that cannot hold carrier pictures into one that can.
//!
//! Compact mode needs 8-bit progressive H.264. A source in HEVC, VP9, AV1,
//! MPEG-2, 10-bit or interlaced H.264 is encoded once with x264 — at the
//! source's frame size, with its timestamps (`-fps_mode passthrough`) and
//! chroma sampling, B-frames so that many pictures can carry — while every
//! other stream is copied. Quality is matched to the source by a constant
//! quality (CRF 18) capped at the bitrate H.264 needs for what the source
//! spent in its own codec (newer codecs need less for the same picture).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::concat::OutputContainer;
use crate::error::{MediaError, StderrTail};
use crate::probe::MediaInfo;
use crate::process::tail_of;
use crate::tools::{locate, Tool};

/// x264's constant-quality setting for transcodes (visually transparent for
/// most footage).
pub const TRANSCODE_CRF: u32 = 18;

/// What a transcode did.
#[derive(Clone, Debug, PartialEq)]
pub struct TranscodeReport {
    /// The cap on the video bitrate, in bits per second.
    pub max_bitrate: u64,
    /// The pixel format encoded.
    pub pix_fmt: &'static str,
    /// Wall time, in seconds.
    pub seconds: f64,
}

/// How many bits H.264 needs for what `codec` spends one bit on, roughly.
fn efficiency(codec: &str) -> f64 {
    match codec {
        "hevc" | "vp9" => 1.5,
        "av1" | "vvc" => 1.7,
        "mpeg2video" | "mpeg1video" => 0.7,
        "mpeg4" | "msmpeg4v3" | "h263" => 0.8,
        _ => 1.0,
    }
}

/// The 8-bit layout x264 writes for a source layout: its chroma sampling kept.
fn target_pix_fmt(source: &str) -> &'static str {
    match source {
        "yuvj420p" => "yuvj420p",
        "yuvj422p" => "yuvj422p",
        "yuvj444p" => "yuvj444p",
        s if s.starts_with("yuv444") || s.starts_with("gbr") || s.starts_with("rgb") => "yuv444p",
        s if s.starts_with("yuv422") => "yuv422p",
        _ => "yuv420p",
    }
}

/// The video bitrate the transcode may use at most: the source's video
/// bitrate (estimated from the file size, less 15% for other streams and
/// the container) scaled by the codecs' efficiency, at least 1 Mbit/s.
pub fn transcode_bitrate(info: &MediaInfo) -> u64 {
    let seconds = info.duration_seconds.filter(|d| *d > 0.0).unwrap_or(1.0);
    let total = info.size_bytes as f64 * 8.0 / seconds;
    let video = total * 0.85 * efficiency(&info.video.codec_name);
    (video as u64).max(1_000_000)
}

/// Transcodes `info`'s main video stream to H.264 (every other stream
/// copied) into `output`, a new `container` file.
pub fn transcode_to_h264(
    info: &MediaInfo,
    output: &Path,
    container: OutputContainer,
) -> Result<TranscodeReport, MediaError> {
    let started = Instant::now();
    let ffmpeg = locate(Tool::Ffmpeg)?;
    let index = info.video.index;
    let pix_fmt = target_pix_fmt(info.video.pix_fmt.as_deref().unwrap_or("yuv420p"));
    let max_bitrate = transcode_bitrate(info);
    let mut command = Command::new(&ffmpeg);
    command
        .args(["-hide_banner", "-nostdin", "-nostats", "-v", "error", "-y"])
        .args(crate::probe::url_input_options(&info.path))
        .arg("-i")
        .arg(&info.path)
        .args([
            "-map",
            "0",
            "-c",
            "copy",
            "-map_metadata",
            "0",
            "-map_chapters",
            "0",
        ])
        .arg(format!("-c:{index}"))
        .arg("libx264")
        .arg(format!("-preset:{index}"))
        .arg("veryfast")
        .arg(format!("-crf:{index}"))
        .arg(TRANSCODE_CRF.to_string())
        .arg(format!("-maxrate:{index}"))
        .arg(max_bitrate.to_string())
        .arg(format!("-bufsize:{index}"))
        .arg((2 * max_bitrate).to_string())
        .arg(format!("-pix_fmt:{index}"))
        .arg(pix_fmt)
        // Only frames flagged interlaced are deinterlaced, one frame per frame.
        .arg(format!("-filter:{index}"))
        .arg("bwdif=mode=send_frame:deint=interlaced")
        // B-frames that nothing references: most pictures can carry.
        .arg(format!("-x264-params:{index}"))
        .arg("bframes=3:b-pyramid=none")
        .args(["-fps_mode", "passthrough"]);
    if container != OutputContainer::Matroska {
        command.args(["-movflags", "+faststart"]);
    }
    command.args(["-f", container.muxer()]).arg(output);
    let out = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| MediaError::Spawn {
            tool: Tool::Ffmpeg,
            path: ffmpeg.clone(),
            env_var: Tool::Ffmpeg.env_var(),
            source,
        })?;
    if !out.status.success() {
        return Err(MediaError::ProcessFailed {
            tool: Tool::Ffmpeg,
            action: format!("transcoding {} to H.264 for compact mode", info.path.display()),
            status: out.status.to_string(),
            stderr: StderrTail(tail_of(&String::from_utf8_lossy(&out.stderr))),
        });
    }
    Ok(TranscodeReport {
        max_bitrate,
        pix_fmt,
        seconds: started.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eight_bit_layouts_keep_the_chroma_sampling() {
        assert_eq!(target_pix_fmt("yuv420p10le"), "yuv420p");
        assert_eq!(target_pix_fmt("yuv422p10le"), "yuv422p");
        assert_eq!(target_pix_fmt("yuv444p12le"), "yuv444p");
        assert_eq!(target_pix_fmt("yuvj420p"), "yuvj420p");
        assert_eq!(target_pix_fmt("yuvj422p"), "yuvj422p");
        assert_eq!(target_pix_fmt("yuvj444p"), "yuvj444p");
        assert_eq!(target_pix_fmt("nv12"), "yuv420p");
        assert!(efficiency("hevc") > efficiency("h264"));
    }
}
