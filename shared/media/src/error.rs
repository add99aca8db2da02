//! The one error type of this crate.
//!
//! Why one enum: every failure here ends up in front of a person running the
//! command-line tool, so each variant carries what happened, the file or
//! program involved, what to do about it and, when FFmpeg itself failed, the
//! last lines FFmpeg printed. Callers can still match on the variant (for
//! example [`MediaError::NoVideoStream`]) to react differently.

use std::fmt;
use std::path::PathBuf;

use crate::tools::Tool;

/// The last lines an FFmpeg process wrote to stderr, kept for error messages.
///
/// FFmpeg explains almost every failure in its log, so errors about a failed
/// or misbehaving process carry this tail instead of a bare exit code.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StderrTail(pub String);

impl fmt::Display for StderrTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.trim().is_empty() {
            f.write_str("(it printed nothing)")
        } else {
            write!(f, "\n{}", self.0.trim_end())
        }
    }
}

/// Everything that can go wrong while probing, decoding, encoding or joining.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MediaError {
    /// `ffmpeg` or `ffprobe` could not be found.
    #[error(
        "{tool} was not found: {detail}. Install FFmpeg (Debian/Ubuntu: `sudo apt-get install ffmpeg`; \
         macOS: `brew install ffmpeg`), or set {env_var} to the full path of the {tool} program"
    )]
    ToolMissing {
        /// Which program.
        tool: Tool,
        /// The environment variable that overrides its location.
        env_var: &'static str,
        /// Where we looked.
        detail: String,
    },

    /// The FFmpeg found is too old for the options this crate relies on.
    #[error(
        "{tool} at {path} is version {version}, but VidStega needs FFmpeg 5.1 or newer \
         (it uses `-fps_mode`). Install a newer FFmpeg, or set {env_var} to a newer {tool}"
    )]
    ToolTooOld {
        /// Which program.
        tool: Tool,
        /// Where it is.
        path: PathBuf,
        /// The version it reported.
        version: String,
        /// The environment variable that overrides its location.
        env_var: &'static str,
    },

    /// A program was found but could not be started.
    #[error(
        "could not start {tool} ({path}): {source}. Check that the file is an executable FFmpeg \
         program (or fix {env_var})"
    )]
    Spawn {
        /// Which program.
        tool: Tool,
        /// Where it is.
        path: PathBuf,
        /// The environment variable that overrides its location.
        env_var: &'static str,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// A file could not be read or written.
    #[error("cannot {action} {path}: {source}. Check that the path exists and that you have permission")]
    Io {
        /// What we tried to do ("read", "create", ...).
        action: &'static str,
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// The input file has zero bytes.
    #[error("{path} is empty (0 bytes), so it holds no video. Pass the real video file (was a copy or download interrupted?)")]
    EmptyFile {
        /// The file.
        path: PathBuf,
    },

    /// ffprobe could not recognise the file at all.
    #[error(
        "{path} is not a media file FFmpeg can read. Check that it is a video (for example .mp4, .mkv, .mov); \
         ffprobe said: {stderr}"
    )]
    NotMedia {
        /// The file.
        path: PathBuf,
        /// ffprobe's stderr tail.
        stderr: StderrTail,
    },

    /// A video read by URL could not be fetched: the network or the server
    /// behind the URL failed, not the video.
    #[error(
        "the video could not be read over the network ({detail}); this says nothing about the video itself. \
         ffmpeg said: {stderr}"
    )]
    Unreachable {
        /// What failed (e.g. "the server answered 503").
        detail: String,
        /// Whether trying again can help (a 403 or 404 will not).
        transient: bool,
        /// ffmpeg's or ffprobe's stderr tail.
        stderr: StderrTail,
    },

    /// The file is media, but has no video stream (an audio file, say).
    #[error(
        "{path} has no video stream (found: {found}). VidStega hides data in video frames, so pass a file \
         that contains video"
    )]
    NoVideoStream {
        /// The file.
        path: PathBuf,
        /// A short list of the streams that are there.
        found: String,
    },

    /// The file looks cut short or damaged.
    #[error(
        "{path} looks truncated or damaged ({detail}). Re-copy or re-export the file (a Matroska or \
         fast-start MP4 file that was cut short can often be rescued with \
         `ffmpeg -i in.mkv -c copy repaired.mkv`); ffprobe said: {stderr}"
    )]
    Truncated {
        /// The file.
        path: PathBuf,
        /// What gave it away.
        detail: String,
        /// ffprobe's stderr tail.
        stderr: StderrTail,
    },

    /// ffprobe printed something this crate could not understand.
    #[error(
        "could not understand ffprobe's report on {path}: {detail}. This may be an unsupported FFmpeg \
         version; try FFmpeg 5.1 or newer"
    )]
    ProbeOutput {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        detail: String,
        /// The JSON error, when that was the cause.
        #[source]
        source: Option<serde_json::Error>,
    },

    /// An FFmpeg process exited with an error.
    #[error("{tool} failed while {action} ({status}). Its last lines: {stderr}")]
    ProcessFailed {
        /// Which program.
        tool: Tool,
        /// What it was doing.
        action: String,
        /// Its exit status.
        status: String,
        /// Its stderr tail.
        stderr: StderrTail,
    },

    /// Reading from or writing to an FFmpeg pipe failed.
    #[error("the pipe to ffmpeg broke while {action}: {source}. ffmpeg's last lines: {stderr}")]
    Pipe {
        /// What we were doing.
        action: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
        /// ffmpeg's stderr tail.
        stderr: StderrTail,
    },

    /// The decoder delivered a different number of frames than probed.
    #[error(
        "decoding frames {start}..{end} of {path} gave {got} frames instead of {expected}. The file may be \
         damaged, or its timestamps are unusual; re-mux it (`ffmpeg -i in -c copy fixed.mkv`) and retry. \
         ffmpeg's last lines: {stderr}"
    )]
    FrameCount {
        /// The file.
        path: PathBuf,
        /// First requested frame.
        start: u64,
        /// One past the last requested frame.
        end: u64,
        /// Frames expected.
        expected: u64,
        /// Frames received.
        got: u64,
        /// ffmpeg's stderr tail.
        stderr: StderrTail,
    },

    /// The decoder delivered a frame other than the one expected.
    #[error(
        "decoding {path}: display frame {index} should have timestamp {expected} but the decoder produced \
         {got} (after {attempts} seek attempt(s)). The file's timestamps are irregular; re-mux it \
         (`ffmpeg -i in -c copy fixed.mkv`) and retry. ffmpeg's last lines: {stderr}"
    )]
    FrameTimestamp {
        /// The file.
        path: PathBuf,
        /// Display-order index of the frame.
        index: u64,
        /// Expected pts (stream time base units).
        expected: i64,
        /// Pts actually decoded, if any.
        got: String,
        /// How many ways of positioning the decoder were tried.
        attempts: usize,
        /// ffmpeg's stderr tail.
        stderr: StderrTail,
    },

    /// A frame range outside the video was requested.
    #[error("frame range {start}..{end} is not inside the video's {frame_count} frames; this is a bug in the caller")]
    InvalidRange {
        /// First requested frame.
        start: u64,
        /// One past the last requested frame.
        end: u64,
        /// Frames in the video.
        frame_count: u64,
    },

    /// A frame buffer of the wrong size was passed.
    #[error("frame buffer holds {got} bytes but a {format} frame needs {expected}; allocate it with RawFormat::frame_len()")]
    FrameSize {
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        got: usize,
        /// The frame format, for the message.
        format: String,
    },

    /// The requested encoder cannot store these frames.
    #[error("{detail}")]
    UnsupportedFrameFormat {
        /// What is wrong and what to do.
        detail: String,
    },

    /// The output extension/container is not supported or cannot hold the streams.
    #[error("cannot write {path}: {detail}")]
    IncompatibleContainer {
        /// The output file.
        path: PathBuf,
        /// What cannot be stored and which extension to use instead.
        detail: String,
    },

    /// The segments do not add up to the source's frames.
    #[error(
        "the encoded segments hold {segments} frames but the source has {source_frames}; every frame must be \
         re-encoded exactly once (this is a bug in the caller)"
    )]
    SegmentFrames {
        /// Frames in all segments.
        segments: u64,
        /// Frames in the source.
        source_frames: u64,
    },

    /// The video's frame rate varies, which the pipeline cannot keep in sync.
    #[error(
        "{path} has a variable frame rate ({detail}). VidStega re-encodes at a constant rate and would \
         drift out of sync with the audio. Convert it first, for example: \
         `ffmpeg -i in.mp4 -fps_mode cfr -r {suggested_rate} -c:a copy out.mp4`"
    )]
    VariableFrameRate {
        /// The file.
        path: PathBuf,
        /// What was measured.
        detail: String,
        /// A frame rate to suggest (the stream's average, rounded).
        suggested_rate: String,
    },

    /// The joined output does not look like the source.
    #[error("the joined video {path} failed its check: {detail}. This is a bug; please report it with the source file's ffprobe output")]
    OutputCheck {
        /// The output file.
        path: PathBuf,
        /// What did not match.
        detail: String,
    },
}

impl MediaError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        MediaError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}
