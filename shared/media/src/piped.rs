//! Decoding a video stream that the caller writes to ffmpeg's standard
//! input, keeping only the frames whose timestamps it names.
//!
//! Why: compact mode decodes a few frames from each of several GOPs spread
//! over a long video. One ffmpeg per GOP ([`crate::FrameReader`]) costs a
//! process start each (~0.08 s of CPU with a distribution's
//! shared-library build); one ffmpeg fed just those GOPs, one after the
//! other, costs one start and one decoder's memory. The caller writes the
//! stream (e.g. a Matroska stream of the GOPs' packets, labelled with
//! their own timestamps) to the [`ChildStdin`] it gets back, on its own
//! thread, while it reads the frames here; each frame's timestamp comes
//! from `showinfo` and must be the next one asked for.

use std::io::Read;
use std::num::NonZeroUsize;
use std::process::ChildStdin;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

use ffmpeg_sidecar::child::FfmpegChild;

use crate::decode::{drain_showinfo, read_full};
use crate::error::MediaError;
use crate::pixel::RawFormat;
use crate::process::{ffmpeg_exit, kill_and_reap, StderrDrain};
use crate::tools::{check_not_too_old, ffmpeg_command, spawn_ffmpeg, Tool};

/// How long to wait for ffmpeg's log line about a frame already read.
const PTS_LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// Frames of a stream written to ffmpeg's standard input (see the module
/// docs). Dropped early, ffmpeg is killed and reaped.
pub struct PipedFrameReader {
    child: Option<FfmpegChild>,
    stdout: std::process::ChildStdout,
    drain: Option<StderrDrain>,
    pts: Receiver<Option<i64>>,
    format: RawFormat,
    /// The timestamps asked for, ascending.
    wanted: Vec<i64>,
    /// How many of them were delivered.
    next: usize,
    /// The input's container format as ffmpeg names it (`-f`).
    input_format: &'static str,
}

impl PipedFrameReader {
    /// Starts ffmpeg reading a stream in `input_format` (e.g. `"matroska"`)
    /// from its standard input, returned for the caller to write to (and
    /// close). Its first video stream is decoded with `threads` decoder
    /// threads (`None`: ffmpeg's choice), timestamps kept as written
    /// (`-copyts`), and only the frames whose presentation timestamps are
    /// in `wanted` (stream time base; ascending, distinct, at most a few
    /// dozen) come out, as `format`.
    pub fn start(
        input_format: &'static str,
        wanted: &[i64],
        format: RawFormat,
        threads: Option<NonZeroUsize>,
    ) -> Result<(Self, ChildStdin), MediaError> {
        if wanted.is_empty() || wanted.windows(2).any(|w| w[0] >= w[1]) {
            return Err(MediaError::InvalidRange {
                start: 0,
                end: wanted.len() as u64,
                frame_count: wanted.len() as u64,
            });
        }
        let (mut command, path) = ffmpeg_command()?;
        command
            .args(["-nostdin", "-copyts", "-noautorotate"])
            .args(
                threads
                    .map(|t| vec!["-threads".to_string(), t.to_string()])
                    .unwrap_or_default(),
            )
            .args(["-f", input_format, "-i", "pipe:0", "-map", "0:v:0"]);
        let select: Vec<String> = wanted.iter().map(|pts| format!("eq(pts,{pts})")).collect();
        command
            .arg("-vf")
            .arg(format!("select='{}',showinfo", select.join("+")))
            .args(["-fps_mode", "passthrough"])
            .args(["-f", "rawvideo", "-pix_fmt", format.pipe_pix_fmt(), "pipe:1"]);
        let mut child = spawn_ffmpeg(&mut command, &path)?;
        let stdin = child.take_stdin().expect("ffmpeg-sidecar pipes stdin");
        let stdout = child.take_stdout().expect("ffmpeg-sidecar pipes stdout");
        let stderr = child.take_stderr().expect("ffmpeg-sidecar pipes stderr");
        let (rx, drain) = drain_showinfo(stderr);
        let reader = PipedFrameReader {
            child: Some(child),
            stdout,
            drain: Some(drain),
            pts: rx,
            format,
            wanted: wanted.to_vec(),
            next: 0,
            input_format,
        };
        Ok((reader, stdin))
    }

    /// Reads the next frame asked for into `frame` and returns its
    /// timestamp, or `None` once every frame asked for was delivered and
    /// ffmpeg ended cleanly. A frame missing, out of order or with another
    /// timestamp is an error ([`MediaError::FrameTimestamp`] or
    /// [`MediaError::FrameCount`]).
    pub fn read_frame(&mut self, frame: &mut [u8]) -> Result<Option<i64>, MediaError> {
        self.format.check_len(frame.len())?;
        if self.next == self.wanted.len() {
            self.finish()?;
            return Ok(None);
        }
        let filled = read_full(&mut self.stdout, frame).map_err(|source| MediaError::Pipe {
            action: format!("reading a frame decoded from piped {}", self.input_format),
            source,
            stderr: self.drain.as_ref().map(|d| d.snapshot()).unwrap_or_default(),
        })?;
        let expected = self.wanted[self.next];
        if filled < frame.len() {
            let stderr = self.stop();
            check_not_too_old(Tool::Ffmpeg, &stderr.0)?;
            return Err(MediaError::FrameCount {
                path: "pipe:0".into(),
                start: 0,
                end: self.wanted.len() as u64,
                expected: self.wanted.len() as u64,
                got: self.next as u64,
                stderr,
            });
        }
        let got = match self.pts.recv_timeout(PTS_LINE_TIMEOUT) {
            Ok(pts) => pts,
            Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => None,
        };
        if got != Some(expected) {
            let stderr = self.stop();
            return Err(MediaError::FrameTimestamp {
                path: "pipe:0".into(),
                index: self.next as u64,
                expected,
                got: got.map_or_else(|| "no timestamp".to_string(), |p| p.to_string()),
                attempts: 1,
                stderr,
            });
        }
        self.next += 1;
        Ok(Some(expected))
    }

    /// After the last frame: nothing more on stdout, and ffmpeg exits 0.
    fn finish(&mut self) -> Result<(), MediaError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let mut extra = [0u8; 1];
        let more = matches!(self.stdout.read(&mut extra), Ok(n) if n > 0);
        let drain = self.drain.take().expect("drained while running");
        if more {
            kill_and_reap(&mut child);
            return Err(MediaError::FrameCount {
                path: "pipe:0".into(),
                start: 0,
                end: self.wanted.len() as u64,
                expected: self.wanted.len() as u64,
                got: self.wanted.len() as u64 + 1,
                stderr: drain.finish(),
            });
        }
        let status = child.as_inner_mut().wait();
        let stderr = drain.finish();
        let action = format!(
            "decoding {} frames from piped {}",
            self.wanted.len(),
            self.input_format
        );
        ffmpeg_exit(status, action, stderr)
    }

    /// Kills ffmpeg (if running) and returns its stderr tail.
    fn stop(&mut self) -> crate::error::StderrTail {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
        self.drain.take().map(|d| d.finish()).unwrap_or_default()
    }
}

impl Drop for PipedFrameReader {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_and_reap(&mut child);
        }
    }
}

impl std::fmt::Debug for PipedFrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PipedFrameReader")
            .field("input_format", &self.input_format)
            .field("wanted", &self.wanted)
            .field("next", &self.next)
            .finish_non_exhaustive()
    }
}
