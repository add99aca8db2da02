//! Lossless encoding of raw frames into segment files.
//!
//! Why lossless: the hidden data lives in the least significant bits of the
//! pixels, which any lossy encoder destroys. Both supported encoders are
//! bit-exact when fed and read back in the same 8-bit planar layout (see
//! `docs/codec.md` for the measurements behind the default).
//!
//! Why `.nut` segments: NUT stores each stream's exact rational time base,
//! holds both H.264 and FFV1, and the concat demuxer joins NUT files with
//! `-c copy`; combined with exact per-segment durations in the concat list
//! (see [`crate::concat()`]), the joined video gets perfectly even timestamps.
//! Matroska segments would round every timestamp to a millisecond, and raw
//! `.h264` cannot hold FFV1.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use ffmpeg_sidecar::child::FfmpegChild;

use crate::concat::{joins_in_one_pass, ConcatReport, OutputContainer, SourceStreams};
use crate::error::MediaError;
use crate::pixel::RawFormat;
use crate::probe::{ColorInfo, MediaInfo, VideoStreamInfo};
use crate::process::{kill_and_reap, StderrDrain};
use crate::rational::Rational;
use crate::tools::{ffmpeg_command, spawn_ffmpeg, Tool};

/// File extension (and container) of the segment files [`FrameWriter`] writes.
pub const SEGMENT_EXTENSION: &str = "nut";

/// FFV1 slice count. FFV1 level 3 encodes and decodes slices in parallel;
/// 16 slices keep 2- to 16-core machines busy and, on noisy content, cost
/// almost nothing in size (see `docs/codec.md`).
const FFV1_SLICES: u32 = 16;

/// libx264 speed/size trade-off. Slower presets compress lossless video a
/// little better and encode and decode much more slowly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum X264Preset {
    /// Fastest; no B-frames, CAVLC.
    #[default]
    Ultrafast,
    /// Adds CABAC and B-frames.
    Superfast,
    /// Better motion search.
    Veryfast,
    /// Slower still.
    Faster,
    /// Slower still.
    Fast,
    /// libx264's own default.
    Medium,
}

impl X264Preset {
    /// The name libx264 uses.
    pub fn as_str(self) -> &'static str {
        match self {
            X264Preset::Ultrafast => "ultrafast",
            X264Preset::Superfast => "superfast",
            X264Preset::Veryfast => "veryfast",
            X264Preset::Faster => "faster",
            X264Preset::Fast => "fast",
            X264Preset::Medium => "medium",
        }
    }
}

impl fmt::Display for X264Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for X264Preset {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "ultrafast" => X264Preset::Ultrafast,
            "superfast" => X264Preset::Superfast,
            "veryfast" => X264Preset::Veryfast,
            "faster" => X264Preset::Faster,
            "fast" => X264Preset::Fast,
            "medium" => X264Preset::Medium,
            other => {
                return Err(format!(
                "unknown x264 preset {other:?}; use ultrafast, superfast, veryfast, faster, fast or medium"
            ))
            }
        })
    }
}

/// Which encoder writes a stego video's segments: a lossless one (lossless
/// mode) or libx264 at a constant rate factor (robust mode).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SegmentCodec {
    /// libx264 with `-qp 0` (lossless, High 4:4:4 Predictive profile).
    /// Smaller files than FFV1 and MP4/MOV/MKV output; needs even sizes for
    /// 4:2:0 (see [`crate::choose_raw_format`]).
    H264Lossless {
        /// Speed/size trade-off.
        preset: X264Preset,
    },
    /// FFV1 version 3 (intra-only, slices, CRCs). Any size and layout;
    /// Matroska or MOV output only.
    Ffv1,
    /// libx264 at constant rate factor `crf` (lossy; High profile for
    /// 4:2:0): a normal, widely playable stream. Segments are encoded
    /// *stitchable* (their picture parameter sets do not depend on the rate
    /// factor), so segments encoded at different factors join by stream copy.
    H264Crf {
        /// Speed/size trade-off.
        preset: X264Preset,
        /// Constant rate factor, 0 (best) to 51.
        crf: u8,
    },
}

impl Default for SegmentCodec {
    /// Lossless H.264, ultrafast preset: the fastest to encode and decode of
    /// the measured options, and playable in far more players than FFV1
    /// (see `docs/codec.md`).
    fn default() -> Self {
        SegmentCodec::H264Lossless {
            preset: X264Preset::Ultrafast,
        }
    }
}

impl SegmentCodec {
    /// The codec name ffprobe reports for streams this encoder writes.
    pub fn ffprobe_codec_name(&self) -> &'static str {
        match self {
            SegmentCodec::H264Lossless { .. } | SegmentCodec::H264Crf { .. } => "h264",
            SegmentCodec::Ffv1 => "ffv1",
        }
    }

    /// Whether segments this codec wrote join by stream copy with segments
    /// `other` wrote: the same encoder and settings, or libx264 at any two
    /// rate factors (see [`SegmentCodec::H264Crf`]).
    pub fn joins_with(&self, other: &SegmentCodec) -> bool {
        match (self, other) {
            (SegmentCodec::H264Crf { preset: a, .. }, SegmentCodec::H264Crf { preset: b, .. }) => a == b,
            _ => self == other,
        }
    }

    /// Whether the codec keeps every sample exactly.
    pub fn is_lossless(&self) -> bool {
        !matches!(self, SegmentCodec::H264Crf { .. })
    }

    fn encoder_args(&self) -> Vec<String> {
        match self {
            SegmentCodec::H264Lossless { preset } => vec![
                "-c:v".into(),
                "libx264".into(),
                "-preset".into(),
                preset.as_str().into(),
                "-qp".into(),
                "0".into(),
            ],
            SegmentCodec::Ffv1 => vec![
                "-c:v".into(),
                "ffv1".into(),
                "-level".into(),
                "3".into(),
                "-slices".into(),
                FFV1_SLICES.to_string(),
                "-slicecrc".into(),
                "1".into(),
                "-g".into(),
                "1".into(),
            ],
            SegmentCodec::H264Crf { preset, crf } => vec![
                "-c:v".into(),
                "libx264".into(),
                "-preset".into(),
                preset.as_str().into(),
                "-crf".into(),
                crf.to_string(),
                "-x264-params".into(),
                "stitchable=1".into(),
            ],
        }
    }
}

impl fmt::Display for SegmentCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SegmentCodec::H264Lossless { preset } => write!(f, "lossless H.264 ({preset})"),
            SegmentCodec::Ffv1 => f.write_str("FFV1"),
            SegmentCodec::H264Crf { preset, crf } => write!(f, "H.264 CRF {crf} ({preset})"),
        }
    }
}

/// How segments are encoded. Build it with [`EncodeSettings::for_source`] so
/// the frame rate, colour tags and pixel aspect ratio match the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeSettings {
    /// The encoder.
    pub codec: SegmentCodec,
    /// Exact constant frame rate of the segments.
    pub frame_rate: Rational,
    /// Colour tags written into the stream (metadata only; range comes from
    /// [`RawFormat::full_range`]).
    pub color: ColorInfo,
    /// Pixel aspect ratio to tag, when not square.
    pub sample_aspect_ratio: Option<Rational>,
}

impl EncodeSettings {
    /// Settings that reproduce the source's rate, colour tags and pixel
    /// aspect ratio. Colour tags are dropped for RGB sources, whose frames
    /// are converted with FFmpeg's default matrix.
    pub fn for_source(video: &VideoStreamInfo, codec: SegmentCodec) -> Self {
        let rgb_source = video.color.space.as_deref() == Some("gbr")
            || video.pix_fmt.as_deref().is_some_and(|p| {
                ["rgb", "bgr", "gbr", "argb", "abgr", "0rgb", "0bgr", "pal8"]
                    .iter()
                    .any(|x| p.starts_with(x))
            });
        EncodeSettings {
            codec,
            frame_rate: video.frame_rate(),
            color: if rgb_source {
                ColorInfo::default()
            } else {
                video.color.clone()
            },
            sample_aspect_ratio: video.sample_aspect_ratio,
        }
    }
}

/// A finished segment file, ready for [`crate::concat()`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedSegment {
    /// Where it was written.
    pub path: PathBuf,
    /// How many frames it holds.
    pub frames: u64,
    /// Its exact frame rate.
    pub frame_rate: Rational,
    /// The encoder used.
    pub codec: SegmentCodec,
}

/// Feeds raw frames to a lossless encoder writing one segment file.
///
/// ```no_run
/// # use vidstega_media::*;
/// # fn demo(info: &MediaInfo) -> Result<(), MediaError> {
/// let codec = SegmentCodec::default();
/// let choice = choose_raw_format(&info.video, Some(&codec));
/// let settings = EncodeSettings::for_source(&info.video, codec);
/// let mut writer = FrameWriter::create("seg0.nut".as_ref(), choice.format, &settings)?;
/// let frame = vec![0u8; choice.format.frame_len()];
/// writer.write_frame(&frame)?;
/// let segment = writer.finish()?;
/// # Ok(()) }
/// ```
pub struct FrameWriter {
    path: PathBuf,
    format: RawFormat,
    settings: EncodeSettings,
    child: Option<FfmpegChild>,
    stdin: Option<ChildStdin>,
    drain: Option<StderrDrain>,
    encoded_frames: Arc<Mutex<Option<u64>>>,
    frames: u64,
}

impl FrameWriter {
    /// Starts ffmpeg encoding frames of `format` into `path` (overwritten if
    /// it exists; always NUT, whatever the extension).
    pub fn create(path: &Path, format: RawFormat, settings: &EncodeSettings) -> Result<Self, MediaError> {
        Self::start(path, format, settings, None)
    }

    /// Starts ffmpeg encoding frames of `format` straight into the finished
    /// video at `path` (`container`, overwritten if it exists): the new video
    /// stream plus every audio stream of `source` copied, the subtitles the
    /// container holds, chapters, tags and rotation — what [`crate::concat()`]
    /// makes of segments, in one pass, for a video embedded as one piece.
    /// The frames written must be all of `source`'s; check the result with
    /// [`crate::verify_joined`] after [`FrameWriter::finish`]. Refused when
    /// [`crate::joins_in_one_pass`] says something would be lost.
    pub fn create_joined(
        path: &Path,
        format: RawFormat,
        settings: &EncodeSettings,
        source: &MediaInfo,
        container: OutputContainer,
    ) -> Result<(Self, ConcatReport), MediaError> {
        if !joins_in_one_pass(source, container) {
            return Err(MediaError::IncompatibleContainer {
                path: path.to_path_buf(),
                detail: format!(
                    "FFmpeg 5.1 cannot write the source's {}° rotation while encoding into {container}; \
                     encode segments and join them with concat()",
                    source.video.rotation_degrees
                ),
            });
        }
        let streams = SourceStreams::plan(source, &settings.codec, container, path)?;
        let writer = Self::start(path, format, settings, Some(&streams))?;
        Ok((writer, streams.report()))
    }

    fn start(
        path: &Path,
        format: RawFormat,
        settings: &EncodeSettings,
        joined: Option<&SourceStreams<'_>>,
    ) -> Result<Self, MediaError> {
        if !settings.frame_rate.is_valid() {
            return Err(MediaError::UnsupportedFrameFormat {
                detail: format!(
                    "cannot encode at frame rate {}: the source has no usable frame rate; convert it to a constant \
                     rate first (`ffmpeg -i in.mp4 -fps_mode cfr -r 30 out.mp4`)",
                    settings.frame_rate
                ),
            });
        }
        if format.width == 0 || format.height == 0 {
            return Err(MediaError::UnsupportedFrameFormat {
                detail: format!("cannot encode frames of size {}x{}", format.width, format.height),
            });
        }
        if let SegmentCodec::H264Lossless { .. } | SegmentCodec::H264Crf { .. } = settings.codec {
            use crate::pixel::PlanarFormat::*;
            let odd_w = format.width % 2 == 1;
            let odd_h = format.height % 2 == 1;
            let refused = match format.pixel {
                Yuv420p => odd_w || odd_h,
                Yuv422p => odd_w,
                _ => false,
            };
            if refused {
                return Err(MediaError::UnsupportedFrameFormat {
                    detail: format!(
                        "libx264 cannot encode {} at odd size {}x{}; use yuv444p frames (choose_raw_format does \
                         this) or the FFV1 codec",
                        format.pixel, format.width, format.height
                    ),
                });
            }
        }

        let plain_pix_fmt = format.pixel.ffmpeg_name();
        let range = if format.full_range { "pc" } else { "tv" };
        let (mut command, ffmpeg_path) = ffmpeg_command()?;
        command.arg("-y");
        command
            .args(["-f", "rawvideo", "-pix_fmt", plain_pix_fmt])
            .arg("-s")
            .arg(format!("{}x{}", format.width, format.height))
            .arg("-framerate")
            .arg(settings.frame_rate.to_string())
            .args(["-color_range", range])
            .args(["-i", "pipe:0"]);
        if let Some(streams) = joined {
            streams.shift_source_input(&mut command);
            command
                .args(crate::probe::url_input_options(streams.source_path()))
                .arg("-i")
                .arg(streams.source_path());
        }
        command.args(["-map", "0:v:0"]);
        if let Some(streams) = joined {
            streams.map_from_input(&mut command, 1);
            // Everything from the source is copied; the video is encoded below.
            command.args(["-c", "copy"]);
            streams.tag_from_input(&mut command, 1);
        }
        if let Some(sar) = settings.sample_aspect_ratio {
            command.arg("-vf").arg(format!("setsar={}/{}", sar.num, sar.den));
        }
        command.args(settings.codec.encoder_args()).args([
            "-pix_fmt:v:0",
            plain_pix_fmt,
            "-color_range:v:0",
            range,
        ]);
        for (option, value, allowed) in [
            ("-colorspace", &settings.color.space, COLORSPACES),
            ("-color_primaries", &settings.color.primaries, PRIMARIES),
            ("-color_trc", &settings.color.transfer, TRANSFERS),
        ] {
            if let Some(v) = value.as_deref().filter(|v| allowed.contains(v)) {
                command.arg(format!("{option}:v:0")).arg(v);
            }
        }
        if joined.is_some() {
            // The source's streams may start before 0 (see
            // `shift_source_input`); shift the whole file so nothing does,
            // in every container alike.
            command.args(["-avoid_negative_ts", "make_non_negative"]);
        }
        let muxer = joined.map_or("nut", |streams| streams.container().muxer());
        command.args(["-f", muxer]).arg(path);

        let mut child = spawn_ffmpeg(&mut command, &ffmpeg_path)?;
        let stdin = child.take_stdin();
        let encoded_frames = Arc::new(Mutex::new(None));
        let seen = Arc::clone(&encoded_frames);
        let drain = child.take_stderr().map(|stderr| {
            StderrDrain::start(stderr, move |line| {
                // The final report ("frame=  100 fps=...") tells how many
                // frames the encoder really wrote.
                if let Some(n) = final_frame_count(line) {
                    *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(n);
                }
                true
            })
        });
        // Nothing is read from stdout; close it so ffmpeg can never block on it.
        drop(child.take_stdout());
        Ok(FrameWriter {
            path: path.to_path_buf(),
            format,
            settings: settings.clone(),
            child: Some(child),
            stdin,
            drain,
            encoded_frames,
            frames: 0,
        })
    }

    /// The layout [`FrameWriter::write_frame`] expects.
    pub fn format(&self) -> &RawFormat {
        &self.format
    }

    /// Frames written so far.
    pub fn frames_written(&self) -> u64 {
        self.frames
    }

    /// Sends one frame (exactly [`RawFormat::frame_len`] bytes) to the encoder.
    pub fn write_frame(&mut self, frame: &[u8]) -> Result<(), MediaError> {
        self.format.check_len(frame.len())?;
        let Some(stdin) = self.stdin.as_mut() else {
            return Err(self.fail_pipe(std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the encoder was already closed",
            )));
        };
        if let Err(e) = stdin.write_all(frame) {
            return Err(self.fail_pipe(e));
        }
        self.frames += 1;
        Ok(())
    }

    /// Closes the encoder's input, waits for it to finish writing the file
    /// and checks that it succeeded and encoded every frame.
    pub fn finish(mut self) -> Result<EncodedSegment, MediaError> {
        drop(self.stdin.take());
        let mut child = self.child.take().expect("child present until finish");
        let status = child.as_inner_mut().wait();
        let stderr = self.drain.take().map(StderrDrain::finish).unwrap_or_default();
        let action = format!("encoding {} with {}", self.path.display(), self.settings.codec);
        let status = status.map_err(|source| MediaError::Pipe {
            action: action.clone(),
            source,
            stderr: stderr.clone(),
        })?;
        if !status.success() {
            return Err(MediaError::ProcessFailed {
                tool: Tool::Ffmpeg,
                action,
                status: status.to_string(),
                stderr,
            });
        }
        let encoded = *self.encoded_frames.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(encoded) = encoded {
            if encoded != self.frames {
                return Err(MediaError::ProcessFailed {
                    tool: Tool::Ffmpeg,
                    action: format!("{action}: {} frames were sent but {encoded} encoded", self.frames),
                    status: status.to_string(),
                    stderr,
                });
            }
        }
        Ok(EncodedSegment {
            path: self.path.clone(),
            frames: self.frames,
            frame_rate: self.settings.frame_rate,
            codec: self.settings.codec,
        })
    }

    /// ffmpeg stopped reading: collect why, and report it.
    fn fail_pipe(&mut self, source: std::io::Error) -> MediaError {
        drop(self.stdin.take());
        let mut status = String::from("still running");
        if let Some(mut child) = self.child.take() {
            // It most likely exited already (bad option, encoder refused the
            // size, disk full); give it the chance to finish its log.
            match child.as_inner_mut().wait() {
                Ok(s) => status = s.to_string(),
                Err(_) => kill_and_reap(&mut child),
            }
        }
        let stderr = self.drain.take().map(StderrDrain::finish).unwrap_or_default();
        if source.kind() == std::io::ErrorKind::BrokenPipe {
            MediaError::ProcessFailed {
                tool: Tool::Ffmpeg,
                action: format!(
                    "encoding {} with {} (it stopped accepting frames after {})",
                    self.path.display(),
                    self.settings.codec,
                    self.frames
                ),
                status,
                stderr,
            }
        } else {
            MediaError::Pipe {
                action: format!(
                    "sending frame {} to the encoder for {}",
                    self.frames,
                    self.path.display()
                ),
                source,
                stderr,
            }
        }
    }
}

impl Drop for FrameWriter {
    fn drop(&mut self) {
        drop(self.stdin.take());
        if let Some(mut child) = self.child.take() {
            // Dropped without finish(): abandon the segment.
            kill_and_reap(&mut child);
        }
    }
}

impl fmt::Debug for FrameWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameWriter")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("codec", &self.settings.codec)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

/// Parses ffmpeg's last report line, `frame=  100 fps=...`.
fn final_frame_count(line: &str) -> Option<u64> {
    let mut line = line.trim_start();
    // `-loglevel level+info` (set by ffmpeg-sidecar) prefixes "[info] ".
    while let Some(rest) = line.strip_prefix('[') {
        line = rest.split_once("] ")?.1.trim_start();
    }
    let rest = line.strip_prefix("frame=")?;
    rest.split_whitespace().next()?.parse().ok()
}

/// Colour names ffprobe prints that ffmpeg's options also accept.
const COLORSPACES: &[&str] = &[
    "bt709",
    "fcc",
    "bt470bg",
    "smpte170m",
    "smpte240m",
    "ycgco",
    "bt2020nc",
    "bt2020c",
    "smpte2085",
    "chroma-derived-nc",
    "chroma-derived-c",
    "ictcp",
];
const PRIMARIES: &[&str] = &[
    "bt709",
    "bt470m",
    "bt470bg",
    "smpte170m",
    "smpte240m",
    "film",
    "bt2020",
    "smpte428",
    "smpte431",
    "smpte432",
];
const TRANSFERS: &[&str] = &[
    "bt709",
    "gamma22",
    "gamma28",
    "smpte170m",
    "smpte240m",
    "linear",
    "log100",
    "log316",
    "iec61966-2-4",
    "bt1361e",
    "iec61966-2-1",
    "bt2020-10",
    "bt2020-12",
    "smpte2084",
    "smpte428",
    "arib-std-b67",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_final_report() {
        assert_eq!(
            final_frame_count("frame=  100 fps= 13 q=-0.0 Lsize=  380680kB time=00:00:03.30"),
            Some(100)
        );
        assert_eq!(final_frame_count("[info] frame=  12 fps=0.0"), Some(12));
        assert_eq!(final_frame_count("[info] video:1kB"), None);
        assert_eq!(final_frame_count("frame=7 fps=0.0"), Some(7));
    }

    #[test]
    fn presets_round_trip() {
        for p in ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"] {
            assert_eq!(p.parse::<X264Preset>().unwrap().as_str(), p);
        }
        assert!("placebo".parse::<X264Preset>().is_err());
    }
}
