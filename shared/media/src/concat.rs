//! Joining encoded segments into the final video, with the source's audio,
//! subtitles, metadata and rotation, all without re-encoding.
//!
//! Why the concat demuxer with explicit durations: segments are NUT files
//! whose video starts at timestamp 0. The concat demuxer shifts each file by
//! the running total of the previous files' durations, and NUT's own
//! duration estimate is not exact, which would leave duplicated or missing
//! timestamps at every joint. Writing `duration` lines computed from the
//! frame counts (cumulative, rounded once to microseconds, so rounding never
//! accumulates) gives perfectly even timestamps: the output has the
//! source's frame count and exact frame rate, and stays in sync with the
//! audio copied from the source.
//!
//! Audio is always stream-copied (bit-identical packets); subtitles are
//! copied when the output container can hold their codec and dropped with a
//! warning otherwise. The output container follows the output file's
//! extension unless [`ConcatOptions::container`] says otherwise.

use ffmpeg_sidecar::command::FfmpegCommand;
use std::fmt;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::encode::{EncodedSegment, SegmentCodec};
use crate::error::MediaError;
use crate::probe::{probe, MediaInfo};
use crate::process::StderrDrain;
use crate::tools::{ffmpeg_command, spawn_ffmpeg, Tool};

/// Containers the stego video can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutputContainer {
    /// Matroska (`.mkv`): holds every codec; the default.
    Matroska,
    /// MP4 (`.mp4`, `.m4v`): lossless H.264 only, and a limited set of audio codecs.
    Mp4,
    /// QuickTime (`.mov`).
    Mov,
}

impl OutputContainer {
    /// The container for an output path's extension (case-insensitive).
    pub fn from_path(path: &Path) -> Result<Self, MediaError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        match ext.as_str() {
            "mkv" => Ok(OutputContainer::Matroska),
            "mp4" | "m4v" => Ok(OutputContainer::Mp4),
            "mov" => Ok(OutputContainer::Mov),
            _ => Err(MediaError::IncompatibleContainer {
                path: path.to_path_buf(),
                detail: format!(
                    "the extension {:?} is not a supported output container; name the output .mkv (recommended), \
                     .mp4 or .mov",
                    if ext.is_empty() { "(none)".to_string() } else { format!(".{ext}") }
                ),
            }),
        }
    }

    /// FFmpeg's muxer name.
    pub fn muxer(self) -> &'static str {
        match self {
            OutputContainer::Matroska => "matroska",
            OutputContainer::Mp4 => "mp4",
            OutputContainer::Mov => "mov",
        }
    }

    /// The usual file extension, without dot.
    pub fn extension(self) -> &'static str {
        match self {
            OutputContainer::Matroska => "mkv",
            OutputContainer::Mp4 => "mp4",
            OutputContainer::Mov => "mov",
        }
    }

    /// Whether stream-copying `codec` (ffprobe's audio codec name) into this
    /// container works with FFmpeg 5.1 (measured; FLAC and TrueHD in MP4
    /// are still "experimental" there and are refused).
    pub fn holds_audio(self, codec: &str) -> bool {
        match self {
            OutputContainer::Matroska => true,
            OutputContainer::Mp4 => MP4_AUDIO.contains(&codec),
            OutputContainer::Mov => MOV_AUDIO.contains(&codec) || codec.starts_with("pcm_"),
        }
    }

    /// Whether this container can hold subtitles of `codec`.
    pub fn holds_subtitle(self, codec: &str) -> bool {
        match self {
            OutputContainer::Matroska => MKV_SUBTITLES.contains(&codec),
            OutputContainer::Mp4 => ["mov_text", "dvd_subtitle"].contains(&codec),
            OutputContainer::Mov => codec == "mov_text",
        }
    }

    /// Whether this container can hold video from `codec`.
    pub fn holds_video(self, codec: &SegmentCodec) -> bool {
        !matches!((self, codec), (OutputContainer::Mp4, SegmentCodec::Ffv1))
    }

    /// Whether FFmpeg 5.1 writes the display rotation into this container.
    /// Its Matroska muxer does not (measured), so rotated sources play
    /// unrotated from `.mkv`.
    pub fn keeps_rotation(self) -> bool {
        !matches!(self, OutputContainer::Matroska)
    }
}

impl fmt::Display for OutputContainer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OutputContainer::Matroska => "Matroska (.mkv)",
            OutputContainer::Mp4 => "MP4 (.mp4)",
            OutputContainer::Mov => "QuickTime (.mov)",
        })
    }
}

const MP4_AUDIO: &[&str] = &[
    "aac", "mp3", "mp2", "ac3", "eac3", "alac", "opus", "vorbis", "dts", "mp4als", "qcelp", "evrc",
];
const MOV_AUDIO: &[&str] = &[
    "aac",
    "mp3",
    "mp2",
    "ac3",
    "eac3",
    "alac",
    "dts",
    "vorbis",
    "adpcm_ima_qt",
    "adpcm_ms",
    "amr_nb",
    "amr_wb",
    "gsm",
    "ilbc",
    "qdm2",
    "qdmc",
    "mace3",
    "mace6",
    "speex",
];
const MKV_SUBTITLES: &[&str] = &[
    "subrip",
    "srt",
    "ass",
    "ssa",
    "webvtt",
    "dvd_subtitle",
    "dvb_subtitle",
    "hdmv_pgs_subtitle",
    "text",
];

/// Options for [`concat()`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcatOptions {
    /// Container to write; `None` picks it from the output's extension
    /// (useful when the caller writes to a temporary name first).
    pub container: Option<OutputContainer>,
    /// Probe the result and check frame count, frame rate and audio streams
    /// (reads the whole output once, without decoding). On by default.
    pub verify: bool,
}

impl Default for ConcatOptions {
    fn default() -> Self {
        ConcatOptions {
            container: None,
            verify: true,
        }
    }
}

/// What [`concat()`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConcatReport {
    /// The container written.
    pub container: OutputContainer,
    /// How many audio streams were copied.
    pub audio_streams: usize,
    /// How many subtitle streams were copied.
    pub subtitle_streams: usize,
    /// Things that were not carried over, for the user.
    pub warnings: Vec<String>,
}

/// Joins `segments` (in order) into `output`, adding every audio stream of
/// `source` (copied, never re-encoded), the subtitles the container can hold,
/// chapters, global and video-stream metadata, and the display rotation.
///
/// The segments must hold exactly `source`'s frames, all at the same rate and
/// from the same encoder. `output` is written at exactly that path
/// (overwritten if present).
pub fn concat(
    segments: &[EncodedSegment],
    source: &MediaInfo,
    output: &Path,
    options: &ConcatOptions,
) -> Result<ConcatReport, MediaError> {
    concat_inner(segments, source, output, options, None).map(|(report, _)| report)
}

/// A consumer of a joined video's bytes (e.g. a multipart upload); returns
/// how many bytes it stored.
pub type StreamSink<'a> = &'a mut dyn FnMut(&mut dyn Read) -> std::io::Result<u64>;

/// Like [`concat`], but streams the joined video into `sink` instead of a
/// file, so it never has to fit on local disk. Matroska is written without a
/// seek index (cues); MP4/MOV are written fragmented. The result is not
/// re-probed (`verify` needs a file); returns the report and the bytes stored.
pub fn concat_to_stream(
    segments: &[EncodedSegment],
    source: &MediaInfo,
    container: OutputContainer,
    sink: StreamSink<'_>,
) -> Result<(ConcatReport, u64), MediaError> {
    let name = PathBuf::from(format!("stream.{}", container.extension()));
    let options = ConcatOptions {
        container: Some(container),
        verify: false,
    };
    let (report, bytes) = concat_inner(segments, source, &name, &options, Some(sink))?;
    Ok((report, bytes.unwrap_or(0)))
}

fn concat_inner(
    segments: &[EncodedSegment],
    source: &MediaInfo,
    output: &Path,
    options: &ConcatOptions,
    mut stream: Option<StreamSink<'_>>,
) -> Result<(ConcatReport, Option<u64>), MediaError> {
    let Some(first) = segments.first() else {
        return Err(MediaError::SegmentFrames {
            segments: 0,
            source_frames: source.video.frame_count,
        });
    };
    let total: u64 = segments.iter().map(|s| s.frames).sum();
    if total != source.video.frame_count {
        return Err(MediaError::SegmentFrames {
            segments: total,
            source_frames: source.video.frame_count,
        });
    }
    if let Some(odd) = segments
        .iter()
        .find(|s| s.frame_rate != first.frame_rate || !s.codec.joins_with(&first.codec))
    {
        return Err(MediaError::UnsupportedFrameFormat {
            detail: format!(
                "segment {} was encoded as {} at {} fps but the first as {} at {} fps; all segments must match \
                 (this is a bug in the caller)",
                odd.path.display(),
                odd.codec,
                odd.frame_rate,
                first.codec,
                first.frame_rate
            ),
        });
    }
    let container = match options.container {
        Some(c) => c,
        None => OutputContainer::from_path(output)?,
    };
    let streams = SourceStreams::plan(source, &first.codec, container, output)?;
    // The concat list, with exact durations.
    let mut list = tempfile::Builder::new()
        .prefix("vidstega-concat-")
        .suffix(".ffconcat")
        .tempfile()
        .map_err(|e| MediaError::io("create a temporary file in", std::env::temp_dir(), e))?;
    let list_text = concat_list(segments)?;
    list.write_all(list_text.as_bytes())
        .and_then(|_| list.flush())
        .map_err(|e| MediaError::io("write", list.path(), e))?;

    let (mut command, ffmpeg_path) = ffmpeg_command()?;
    // -xerror: any read or demux error stops the join with a failure instead
    // of a shorter output (a streamed output cannot be re-probed cheaply).
    command.args(["-nostdin", "-y", "-xerror"]);
    streams.shift_video_input(&mut command);
    command
        .args(["-protocol_whitelist", "file,http,https,tcp,tls,crypto"])
        .args(["-f", "concat", "-safe", "0", "-i"])
        .arg(list.path())
        .args(crate::probe::url_input_options(&source.path))
        .arg("-i")
        .arg(&source.path)
        .args(["-map", "0:v:0"]);
    streams.map_from_input(&mut command, 1);
    command.args(["-c", "copy"]);
    streams.tag_from_input(&mut command, 1);
    command.args(["-f", container.muxer()]);
    if stream.is_some() {
        if container != OutputContainer::Matroska {
            // MP4/MOV need to seek back to write their index unless fragmented.
            command.args(["-movflags", "frag_keyframe+empty_moov+default_base_moof"]);
        }
        command.arg("pipe:1");
    } else {
        command.arg(output);
    }

    let mut child = spawn_ffmpeg(&mut command, &ffmpeg_path)?;
    drop(child.take_stdin());
    let drain = child.take_stderr().map(StderrDrain::plain);
    let mut streamed = None;
    let mut sink_error = None;
    match (stream.as_mut(), child.take_stdout()) {
        (Some(sink), Some(mut stdout)) => match sink(&mut stdout) {
            Ok(n) => streamed = Some(n),
            Err(e) => {
                let _ = child.as_inner_mut().kill();
                sink_error = Some(e);
            }
        },
        (_, stdout) => drop(stdout),
    }
    let status = child.as_inner_mut().wait();
    let stderr = drain.map(StderrDrain::finish).unwrap_or_default();
    let action = format!("joining {} segments into {}", segments.len(), output.display());
    if let Some(source) = sink_error {
        return Err(MediaError::Pipe {
            action: format!("{action} (storing the stream)"),
            source,
            stderr,
        });
    }
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

    let report = streams.report();
    if options.verify && stream.is_none() {
        verify_joined(output, source, &first.codec, first.frame_rate, &report)?;
    }
    Ok((report, streamed))
}

/// Whether [`crate::FrameWriter::create_joined`] can write `source`'s video
/// into `container` in one pass with nothing lost. FFmpeg 5.1 writes a
/// display rotation only when it stream-copies the video, so a rotated
/// source going into a container that keeps rotation (MP4, MOV) must be
/// encoded to segments and joined with [`concat()`] instead.
pub fn joins_in_one_pass(source: &MediaInfo, container: OutputContainer) -> bool {
    source.video.rotation_degrees == 0 || !container.keeps_rotation()
}

/// Which of a source's streams go into a joined output next to the new
/// video, and what could not be carried over. Shared by [`concat()`] and
/// [`crate::FrameWriter::create_joined`], so both write the same streams,
/// tags and offsets.
#[derive(Debug, Clone)]
pub(crate) struct SourceStreams<'a> {
    source: &'a MediaInfo,
    container: OutputContainer,
    subtitle_maps: Vec<usize>,
    attachment_maps: Vec<usize>,
    warnings: Vec<String>,
}

impl<'a> SourceStreams<'a> {
    /// Checks that `container` can hold `codec` video and every audio stream
    /// of `source`; picks the subtitles and attachments it can hold.
    pub(crate) fn plan(
        source: &'a MediaInfo,
        codec: &SegmentCodec,
        container: OutputContainer,
        output: &Path,
    ) -> Result<Self, MediaError> {
        let incompatible = |detail: String| MediaError::IncompatibleContainer {
            path: output.to_path_buf(),
            detail,
        };
        if !container.holds_video(codec) {
            return Err(incompatible(format!(
                "{codec} video cannot be stored in {container}; name the output .mkv (or .mov), or use the H.264 codec"
            )));
        }
        let mut warnings = Vec::new();
        for a in &source.audio {
            if !container.holds_audio(&a.codec_name) {
                return Err(incompatible(format!(
                    "the source's audio stream #{} is {}, which FFmpeg cannot copy into {container} without \
                     re-encoding; name the output .mkv instead",
                    a.index, a.codec_name
                )));
            }
        }
        let mut subtitle_maps = Vec::new();
        for s in &source.subtitles {
            if container.holds_subtitle(&s.codec_name) {
                subtitle_maps.push(s.index);
            } else {
                warnings.push(format!(
                    "subtitle stream #{} ({}) was dropped: {container} cannot hold it; use .mkv to keep \
                     text subtitles such as SubRip/ASS",
                    s.index, s.codec_name
                ));
            }
        }
        let mut attachment_maps = Vec::new();
        for o in &source.other_streams {
            if o.codec_type == "attachment" && container == OutputContainer::Matroska {
                attachment_maps.push(o.index);
            } else {
                warnings.push(format!(
                    "stream #{} ({}{}) was not copied",
                    o.index,
                    o.note,
                    o.codec_name
                        .as_deref()
                        .map(|c| format!(", {c}"))
                        .unwrap_or_default()
                ));
            }
        }
        let rotation = source.video.rotation_degrees;
        if rotation != 0 && !container.keeps_rotation() {
            warnings.push(format!(
                "the source is rotated {rotation}°, but FFmpeg 5.1 cannot store rotation in {container}: the output \
                 will play unrotated; name it .mp4 or .mov to keep the rotation"
            ));
        }
        Ok(SourceStreams {
            source,
            container,
            subtitle_maps,
            attachment_maps,
            warnings,
        })
    }

    /// Where the source is read from.
    pub(crate) fn source_path(&self) -> &Path {
        &self.source.path
    }

    /// The container written.
    pub(crate) fn container(&self) -> OutputContainer {
        self.container
    }

    /// Input option for the new video (put before its `-i`): keeps the
    /// source's offset between the video and the other streams. The source
    /// input is shifted by its container start time and the new video starts
    /// at 0, so shift the video by its own lead.
    pub(crate) fn shift_video_input(&self, command: &mut FfmpegCommand) {
        let lead = self.video_lead();
        if lead > 0.000_001 {
            command.arg("-itsoffset").arg(format!("{lead:.6}"));
        }
    }

    /// The same offset for a video input whose time base is too coarse to
    /// shift exactly (raw frames are timed in whole frames): this input
    /// option (put before the *source's* `-i`) moves the source's streams
    /// back by the lead instead, and the muxer shifts everything forward.
    pub(crate) fn shift_source_input(&self, command: &mut FfmpegCommand) {
        let lead = self.video_lead();
        if lead > 0.000_001 {
            command.arg("-itsoffset").arg(format!("-{lead:.6}"));
        }
    }

    /// How much later than the source's earliest stream its video starts.
    fn video_lead(&self) -> f64 {
        self.source
            .video
            .start_time_seconds
            .map(|v| v - self.source.start_time_seconds)
            .unwrap_or(0.0)
    }

    /// `-map`s for the copied streams of the source, read as input `input`.
    pub(crate) fn map_from_input(&self, command: &mut FfmpegCommand, input: usize) {
        for a in &self.source.audio {
            command.arg("-map").arg(format!("{input}:{}", a.index));
        }
        for index in self.subtitle_maps.iter().chain(&self.attachment_maps) {
            command.arg("-map").arg(format!("{input}:{index}"));
        }
    }

    /// Global, chapter and per-stream tags and the rotation, from input `input`.
    pub(crate) fn tag_from_input(&self, command: &mut FfmpegCommand, input: usize) {
        let source = self.source;
        command
            .arg("-map_metadata")
            .arg(input.to_string())
            .arg("-map_chapters")
            .arg(input.to_string());
        // Any per-stream -map_metadata turns off FFmpeg's automatic copying of
        // stream tags (language, title, attachment file names), so map every
        // output stream's tags from its source stream explicitly.
        let mut stream_tags = vec![("v:0".to_string(), source.video.index)];
        stream_tags.extend(
            source
                .audio
                .iter()
                .enumerate()
                .map(|(n, a)| (format!("a:{n}"), a.index)),
        );
        stream_tags.extend(
            self.subtitle_maps
                .iter()
                .enumerate()
                .map(|(n, &i)| (format!("s:{n}"), i)),
        );
        stream_tags.extend(
            self.attachment_maps
                .iter()
                .enumerate()
                .map(|(n, &i)| (format!("t:{n}"), i)),
        );
        for (out_spec, in_index) in stream_tags {
            command
                .arg(format!("-map_metadata:s:{out_spec}"))
                .arg(format!("{input}:s:{in_index}"));
        }
        let rotation = source.video.rotation_degrees;
        if rotation != 0 {
            command.arg("-metadata:s:v:0").arg(format!("rotate={rotation}"));
        }
    }

    /// What was written, for the caller.
    pub(crate) fn report(&self) -> ConcatReport {
        ConcatReport {
            container: self.container,
            audio_streams: self.source.audio.len(),
            subtitle_streams: self.subtitle_maps.len(),
            warnings: self.warnings.clone(),
        }
    }
}

/// The ffconcat script: each segment with its exact duration.
fn concat_list(segments: &[EncodedSegment]) -> Result<String, MediaError> {
    let mut text = String::from("ffconcat version 1.0\n");
    let rate = segments[0].frame_rate;
    // Start of frame `n` in whole microseconds, rounded to nearest.
    let micros = |n: u64| -> i128 {
        let num = n as i128 * rate.den as i128 * 1_000_000;
        (2 * num + rate.num as i128) / (2 * rate.num as i128)
    };
    let mut frames_before = 0u64;
    for s in segments {
        // Segments may be files or http(s) URLs (presigned S3 GETs).
        let path = if crate::probe::is_url(&s.path) {
            s.path.clone()
        } else {
            std::fs::canonicalize(&s.path).map_err(|e| MediaError::io("read", &s.path, e))?
        };
        let path = path.to_str().ok_or_else(|| MediaError::Io {
            action: "use",
            path: path.clone(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the segment path is not valid UTF-8; use a temporary directory with a plain name",
            ),
        })?;
        let duration = micros(frames_before + s.frames) - micros(frames_before);
        frames_before += s.frames;
        text.push_str(&format!(
            "file '{}'\nduration {}.{:06}\n",
            path.replace('\'', r"'\''"),
            duration / 1_000_000,
            duration % 1_000_000
        ));
    }
    Ok(text)
}

/// Checks a joined video against its source: frame count, video codec and
/// frame rate, the number of audio streams, and the rotation where the
/// container keeps it. Probes the whole file once, without decoding.
pub fn verify_joined(
    output: &Path,
    source: &MediaInfo,
    codec: &SegmentCodec,
    frame_rate: crate::rational::Rational,
    report: &ConcatReport,
) -> Result<(), MediaError> {
    let out = probe(output)?;
    let fail = |detail: String| MediaError::OutputCheck {
        path: output.to_path_buf(),
        detail,
    };
    if out.video.frame_count != source.video.frame_count {
        return Err(fail(format!(
            "it has {} frames, the source {}",
            out.video.frame_count, source.video.frame_count
        )));
    }
    if out.video.codec_name != codec.ffprobe_codec_name() {
        return Err(fail(format!(
            "its video codec is {}, expected {}",
            out.video.codec_name,
            codec.ffprobe_codec_name()
        )));
    }
    if out.video.frame_rate() != frame_rate {
        return Err(fail(format!(
            "its frame rate is {}, expected {frame_rate}",
            out.video.frame_rate(),
        )));
    }
    if out.audio.len() != report.audio_streams {
        return Err(fail(format!(
            "it has {} audio streams, expected {}",
            out.audio.len(),
            report.audio_streams
        )));
    }
    if report.container.keeps_rotation() && out.video.rotation_degrees != source.video.rotation_degrees {
        return Err(fail(format!(
            "its rotation is {}°, the source's {}°",
            out.video.rotation_degrees, source.video.rotation_degrees
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rational::Rational;

    #[test]
    fn containers_from_extensions() {
        assert_eq!(
            OutputContainer::from_path("a.MKV".as_ref()).unwrap(),
            OutputContainer::Matroska
        );
        assert_eq!(
            OutputContainer::from_path("a.mp4".as_ref()).unwrap(),
            OutputContainer::Mp4
        );
        assert_eq!(
            OutputContainer::from_path("a.mov".as_ref()).unwrap(),
            OutputContainer::Mov
        );
        let err = OutputContainer::from_path("a.avi".as_ref())
            .unwrap_err()
            .to_string();
        assert!(err.contains(".mkv"), "{err}");
        assert!(!OutputContainer::Mp4.holds_video(&SegmentCodec::Ffv1));
        assert!(OutputContainer::Mp4.holds_audio("aac"));
        assert!(!OutputContainer::Mp4.holds_audio("flac"));
        assert!(!OutputContainer::Mp4.holds_audio("pcm_s16le"));
        assert!(OutputContainer::Mov.holds_audio("pcm_s16le"));
        assert!(!OutputContainer::Mov.holds_audio("opus"));
        assert!(OutputContainer::Matroska.holds_subtitle("subrip"));
        assert!(!OutputContainer::Matroska.holds_subtitle("mov_text"));
        assert!(OutputContainer::Mp4.holds_subtitle("mov_text"));
    }

    #[test]
    fn concat_durations_do_not_accumulate_rounding() {
        let dir = tempfile::tempdir().unwrap();
        let rate = Rational::new(30000, 1001);
        let segments: Vec<EncodedSegment> = (0..3)
            .map(|i| {
                let path = dir.path().join(format!("s'{i}.nut"));
                std::fs::write(&path, b"x").unwrap();
                EncodedSegment {
                    path,
                    frames: 17,
                    frame_rate: rate,
                    codec: SegmentCodec::default(),
                }
            })
            .collect();
        let text = concat_list(&segments).unwrap();
        let durations: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("duration ")).collect();
        // 17 frames = 0.5672333.. s; 34 = 1.1344666.. s; 51 = 1.7017 s.
        assert_eq!(durations, vec!["0.567233", "0.567234", "0.567233"]);
        assert!(text.contains(r"s'\''0.nut'"), "{text}");
    }
}
