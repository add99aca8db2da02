//! Frame-exact decoding of a display-order frame range into raw frames.
//!
//! Why this is more than `ffmpeg -ss T -frames:v N`: seeking by a decimal
//! time is only as exact as the rounding of that time, MPEG-TS and other
//! index-less containers land somewhere near the target, and open-GOP or
//! B-frame streams reorder frames around keyframes. The embedder must get
//! exactly frames `start..end`, because the hidden data's placement depends
//! on the frame index. So the reader:
//!
//! 1. seeks the demuxer to the last keyframe at or before half a frame after
//!    frame `start` (`-noaccurate_seek`, `-copyts` so timestamps stay as
//!    probed): exactly frame `start` when it is a keyframe, as segment starts
//!    are, so no earlier GOP is decoded,
//! 2. selects frames by their exact integer timestamps with
//!    `trim=start_pts=..:end_pts=..` (no float rounding),
//! 3. reads each frame's timestamp from `showinfo` on stderr and checks it
//!    against the probed display order *before* handing the frame out,
//! 4. if the first frame is not the wanted one (the seek landed too late),
//!    retries from 3 s earlier, then from the start of the file. Nothing
//!    has been delivered at that point, so retrying is invisible.
//!
//! Files whose packets lack timestamps (see [`crate::TimestampSource`]) are
//! decoded from the start and frames are picked by counting them
//! (`select=gte(n,start)`), which is exact but slower for late ranges.
//!
//! Frames stream one at a time through the stdout pipe into a buffer the
//! caller owns and reuses, so memory does not grow with the video's length.

use std::io::Read;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::path::PathBuf;
use std::process::ChildStdout;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use ffmpeg_sidecar::child::FfmpegChild;

use crate::error::{MediaError, StderrTail};
use crate::pixel::RawFormat;
use crate::probe::{MediaInfo, TimestampSource};
use crate::process::{ffmpeg_exit, kill_and_reap, StderrDrain};
use crate::tools::{check_not_too_old, ffmpeg_command, spawn_ffmpeg, Tool};

/// How long to wait for ffmpeg's log line about a frame that has already
/// arrived on stdout. The line is written before the frame, so this only
/// trips if ffmpeg's log format is not understood.
const PTS_LINE_TIMEOUT: Duration = Duration::from_secs(60);

/// How much earlier the second attempt seeks.
const RETRY_SEEK_BACK_SECONDS: f64 = 3.0;

/// Decodes frames `start..end` (display order) of a video's main stream.
///
/// ```no_run
/// # use vidstega_media::*;
/// # fn demo(path: &std::path::Path) -> Result<(), MediaError> {
/// let info = probe(path)?;
/// let choice = choose_raw_format(&info.video, None);
/// let mut reader = FrameReader::open(&info, 0..info.video.frame_count, choice.format)?;
/// let mut frame = vec![0u8; choice.format.frame_len()];
/// while let Some(index) = reader.read_frame(&mut frame)? {
///     // `frame` now holds display frame `index`.
/// }
/// # Ok(()) }
/// ```
pub struct FrameReader {
    path: PathBuf,
    /// Demuxer options that must match the probe's (see [`crate::ProbeOptions`]).
    demuxer_options: Vec<&'static str>,
    stream_index: usize,
    format: RawFormat,
    range: Range<u64>,
    /// Expected pts of each frame in the range (Pts mode only).
    expected_pts: Vec<i64>,
    /// pts of frame `range.end`, the exclusive upper bound (Pts mode).
    end_pts: Option<i64>,
    /// Seek positions (seconds from the file's start) to try in turn;
    /// `None` decodes from the beginning.
    attempts: Vec<Option<f64>>,
    attempt: usize,
    /// The decoder's thread count (`-threads`); `None` lets ffmpeg choose.
    threads: Option<NonZeroUsize>,
    running: Option<Running>,
    next: u64,
    done: bool,
}

struct Running {
    child: FfmpegChild,
    stdout: ChildStdout,
    drain: StderrDrain,
    pts: Option<Receiver<Option<i64>>>,
}

impl FrameReader {
    /// Starts decoding `range` of `info`'s video stream as `format` frames.
    ///
    /// Any range works; ranges starting at a keyframe
    /// ([`crate::VideoStreamInfo::keyframe_aligned_ranges`]) decode no
    /// extra frames. ffmpeg is started immediately.
    pub fn open(info: &MediaInfo, range: Range<u64>, format: RawFormat) -> Result<Self, MediaError> {
        Self::open_with_threads(info, range, format, None)
    }

    /// [`FrameReader::open`] with the decoder limited to `threads` threads
    /// (`None`: ffmpeg's choice, one frame thread per core and one more).
    ///
    /// A run of a few frames gains nothing from frame threads, which only
    /// add start-up work and memory, and several decoders started side by
    /// side already share the cores: they then decode faster with one
    /// thread each. The frames delivered are the same either way.
    pub fn open_with_threads(
        info: &MediaInfo,
        range: Range<u64>,
        format: RawFormat,
        threads: Option<NonZeroUsize>,
    ) -> Result<Self, MediaError> {
        let video = &info.video;
        if range.start > range.end || range.end > video.frame_count {
            return Err(MediaError::InvalidRange {
                start: range.start,
                end: range.end,
                frame_count: video.frame_count,
            });
        }
        let by_pts = video.timestamps == TimestampSource::Pts;
        let (expected_pts, end_pts, attempts) = if by_pts {
            let s = range.start as usize;
            let e = range.end as usize;
            let expected = video.display_pts[s..e].to_vec();
            let end_pts = video.display_pts.get(e).copied();
            let mut attempts = Vec::new();
            if s > 0 {
                let target =
                    seek_target(&video.display_pts, s) * video.time_base.as_f64() - info.start_time_seconds;
                if target > 0.0 {
                    attempts.push(Some(target));
                }
                if target - RETRY_SEEK_BACK_SECONDS > 0.0 {
                    attempts.push(Some(target - RETRY_SEEK_BACK_SECONDS));
                }
            }
            attempts.push(None);
            (expected, end_pts, attempts)
        } else {
            (Vec::new(), None, vec![None])
        };
        // ffmpeg (unlike ffprobe) refuses options the demuxer does not have.
        let demuxer_options = if info.raw_timeline && info.format_name.contains("mov") {
            vec!["-ignore_editlist", "1"]
        } else {
            Vec::new()
        };
        let mut reader = FrameReader {
            path: info.path.clone(),
            demuxer_options,
            stream_index: video.index,
            format,
            range: range.clone(),
            expected_pts,
            end_pts,
            attempts,
            attempt: 0,
            threads,
            running: None,
            next: range.start,
            done: false,
        };
        if range.is_empty() {
            reader.done = true;
        } else {
            reader.running = Some(reader.spawn()?);
        }
        Ok(reader)
    }

    /// The layout of the frames delivered.
    pub fn format(&self) -> &RawFormat {
        &self.format
    }

    /// The frame range being decoded.
    pub fn range(&self) -> Range<u64> {
        self.range.clone()
    }

    /// Frames not yet delivered.
    pub fn frames_remaining(&self) -> u64 {
        self.range.end - self.next
    }

    /// How many ways of positioning the decoder have been tried so far (1
    /// when the first seek landed right; more when it had to start earlier).
    /// Useful to spot containers that seek badly.
    pub fn positioning_attempts(&self) -> usize {
        self.attempt + 1
    }

    /// Whether this reader decodes from the start of the file and counts
    /// frames (sources without timestamps) instead of seeking.
    pub fn counts_from_start(&self) -> bool {
        self.expected_pts.is_empty() && !self.range.is_empty()
    }

    /// Reads the next frame into `frame` (exactly [`RawFormat::frame_len`]
    /// bytes) and returns its display index, or `None` after the last frame,
    /// once ffmpeg has exited cleanly. After an error, drop the reader.
    pub fn read_frame(&mut self, frame: &mut [u8]) -> Result<Option<u64>, MediaError> {
        self.format.check_len(frame.len())?;
        if self.done {
            return Ok(None);
        }
        if self.next == self.range.end {
            self.finish_process()?;
            self.done = true;
            return Ok(None);
        }
        loop {
            if self.running.is_none() {
                self.running = Some(self.spawn()?);
            }
            let running = self.running.as_mut().expect("spawned above");
            let filled = read_full(&mut running.stdout, frame).map_err(|source| MediaError::Pipe {
                action: format!("reading frame {} of {}", self.next, self.path.display()),
                source,
                stderr: running.drain.snapshot(),
            })?;
            let nothing_delivered = self.next == self.range.start;
            let can_retry = nothing_delivered && self.attempt + 1 < self.attempts.len();
            if filled < frame.len() {
                // Output ended early: an ffmpeg too old for our options
                // (found lazily, see `locate_tools`), or, before any frame
                // was delivered, a seek that landed past the range: try an
                // earlier start.
                let stderr = self.stop();
                check_not_too_old(Tool::Ffmpeg, &stderr.0)?;
                if can_retry {
                    self.attempt += 1;
                    continue;
                }
                return Err(MediaError::FrameCount {
                    path: self.path.clone(),
                    start: self.range.start,
                    end: self.range.end,
                    expected: self.range.end - self.range.start,
                    got: self.next - self.range.start,
                    stderr,
                });
            }
            if let Some(rx) = running.pts.as_ref() {
                let expected = self.expected_pts[(self.next - self.range.start) as usize];
                let got = match rx.recv_timeout(PTS_LINE_TIMEOUT) {
                    Ok(pts) => pts,
                    Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => {
                        let stderr = self.stop();
                        return Err(MediaError::FrameTimestamp {
                            path: self.path.clone(),
                            index: self.next,
                            expected,
                            got: "no timestamp report from ffmpeg's showinfo filter (unsupported ffmpeg?)"
                                .into(),
                            attempts: self.attempt + 1,
                            stderr,
                        });
                    }
                };
                if got != Some(expected) {
                    if can_retry {
                        self.retry();
                        continue;
                    }
                    let stderr = self.stop();
                    return Err(MediaError::FrameTimestamp {
                        path: self.path.clone(),
                        index: self.next,
                        expected,
                        got: got.map_or_else(|| "no timestamp".to_string(), |p| p.to_string()),
                        attempts: self.attempt + 1,
                        stderr,
                    });
                }
            }
            let index = self.next;
            self.next += 1;
            return Ok(Some(index));
        }
    }

    fn spawn(&self) -> Result<Running, MediaError> {
        let by_pts = !self.expected_pts.is_empty();
        let seek = self.attempts[self.attempt];
        let count = self.range.end - self.range.start;
        let (mut command, ffmpeg_path) = ffmpeg_command()?;
        command.arg("-nostdin");
        if by_pts {
            command.arg("-copyts");
            if let Some(seconds) = seek {
                command
                    .args(["-noaccurate_seek", "-ss"])
                    .arg(format!("{seconds:.6}"));
            }
        }
        command
            .args(&self.demuxer_options)
            .args(crate::probe::url_input_options(&self.path))
            .arg("-noautorotate");
        if let Some(threads) = self.threads {
            command.arg("-threads").arg(threads.to_string());
        }
        command.arg("-i").arg(&self.path);
        command.arg("-map").arg(format!("0:{}", self.stream_index));
        let filter = if by_pts {
            let mut trim = format!("trim=start_pts={}", self.expected_pts[0]);
            if let Some(end) = self.end_pts {
                trim.push_str(&format!(":end_pts={end}"));
            }
            format!("{trim},showinfo")
        } else {
            format!("select='gte(n,{})'", self.range.start)
        };
        command
            .arg("-vf")
            .arg(filter)
            .args(["-fps_mode", "passthrough"])
            .arg("-frames:v")
            .arg(count.to_string())
            .args(["-f", "rawvideo", "-pix_fmt", self.format.pipe_pix_fmt(), "pipe:1"]);

        let mut child = spawn_ffmpeg(&mut command, &ffmpeg_path)?;
        let stdout = child.take_stdout().expect("ffmpeg-sidecar pipes stdout");
        let stderr = child.take_stderr().expect("ffmpeg-sidecar pipes stderr");
        drop(child.take_stdin());
        let (pts, drain) = if by_pts {
            let (rx, drain) = drain_showinfo(stderr);
            (Some(rx), drain)
        } else {
            (None, StderrDrain::plain(stderr))
        };
        Ok(Running {
            child,
            stdout,
            drain,
            pts,
        })
    }

    fn retry(&mut self) {
        self.stop();
        self.attempt += 1;
    }

    /// Kills ffmpeg (if running) and returns its stderr tail.
    fn stop(&mut self) -> StderrTail {
        match self.running.take() {
            Some(mut running) => {
                kill_and_reap(&mut running.child);
                running.drain.finish()
            }
            None => StderrTail::default(),
        }
    }

    /// After the last frame: ffmpeg must have nothing more to say and exit 0.
    fn finish_process(&mut self) -> Result<(), MediaError> {
        let Some(mut running) = self.running.take() else {
            return Ok(());
        };
        let mut extra = [0u8; 1];
        let more = matches!(running.stdout.read(&mut extra), Ok(n) if n > 0);
        if more {
            kill_and_reap(&mut running.child);
            let stderr = running.drain.finish();
            return Err(MediaError::FrameCount {
                path: self.path.clone(),
                start: self.range.start,
                end: self.range.end,
                expected: self.range.end - self.range.start,
                got: self.range.end - self.range.start + 1,
                stderr,
            });
        }
        let status = running.child.as_inner_mut().wait();
        let stderr = running.drain.finish();
        let action = format!(
            "decoding frames {}..{} of {}",
            self.range.start,
            self.range.end,
            self.path.display()
        );
        ffmpeg_exit(status, action, stderr)
    }
}

impl Drop for FrameReader {
    fn drop(&mut self) {
        if let Some(mut running) = self.running.take() {
            kill_and_reap(&mut running.child);
        }
    }
}

impl std::fmt::Debug for FrameReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FrameReader")
            .field("path", &self.path)
            .field("format", &self.format)
            .field("range", &self.range)
            .field("next", &self.next)
            .field("attempt", &self.attempt)
            .finish_non_exhaustive()
    }
}

/// Where to seek (in stream ticks) to start decoding at display frame `s`:
/// half a frame *after* frame `s`. ffmpeg's `-noaccurate_seek` lands on the
/// last keyframe at or before the target, so when `s` is a keyframe (as
/// segment starts are) decoding starts exactly there, with half a frame of
/// margin for rounding either way; a target before frame `s` would land on
/// the previous keyframe and decode a whole GOP for nothing. For the last
/// frame (no later one) the target is half a frame before it.
fn seek_target(display_pts: &[i64], s: usize) -> f64 {
    match (display_pts.get(s), display_pts.get(s + 1)) {
        (Some(&at), Some(&next)) => (at as f64 + next as f64) / 2.0,
        (Some(&at), None) if s > 0 => (display_pts[s - 1] as f64 + at as f64) / 2.0,
        (Some(&at), None) => at as f64,
        (None, _) => 0.0,
    }
}

/// Fills `buf` from `reader`; returns how many bytes were read before EOF.
pub(crate) fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Drains ffmpeg's `stderr`, sending each frame's pts from showinfo's
/// lines (see [`parse_showinfo_pts`]) and keeping showinfo's lines out of
/// the tail.
pub(crate) fn drain_showinfo<R: Read + Send + 'static>(stderr: R) -> (Receiver<Option<i64>>, StderrDrain) {
    let (tx, rx) = mpsc::channel();
    let drain = StderrDrain::start(stderr, move |line| match parse_showinfo_pts(line) {
        Some(pts) => {
            let _ = tx.send(pts);
            false
        }
        // showinfo's second line per frame (colour info) is noise too.
        None => !line.contains("Parsed_showinfo"),
    });
    (rx, drain)
}

/// From showinfo's per-frame line
/// `[Parsed_showinfo_1 @ 0x..] n:   0 pts:  12800 pts_time:1 ...`, the pts
/// (`Some(None)` for `NOPTS`); `None` for any other line.
pub(crate) fn parse_showinfo_pts(line: &str) -> Option<Option<i64>> {
    if !line.contains("Parsed_showinfo") {
        return None;
    }
    let after_n = &line[line.find("] n:")? + 4..];
    let after_pts = &after_n[after_n.find(" pts:")? + 5..];
    let token = after_pts.split_whitespace().next()?;
    Some(token.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::{parse_showinfo_pts, seek_target};

    #[test]
    fn seeks_half_a_frame_after_the_first_wanted_frame() {
        let pts = [0, 512, 1024, 1536];
        assert_eq!(seek_target(&pts, 2), 1280.0);
        assert!(seek_target(&pts, 2) > pts[2] as f64 && seek_target(&pts, 2) < pts[3] as f64);
        // The last frame has no later one: half a frame before it.
        assert_eq!(seek_target(&pts, 3), 1280.0);
        assert_eq!(seek_target(&[7], 0), 7.0);
    }

    #[test]
    fn parses_showinfo_lines() {
        let line =
            "[info] [Parsed_showinfo_1 @ 0x55d] n:   0 pts:  12800 pts_time:1       pos:  4 fmt:yuv420p";
        assert_eq!(parse_showinfo_pts(line), Some(Some(12800)));
        let neg = "[Parsed_showinfo_1 @ 0x1] n:  12 pts:  -1024 pts_time:-0.08";
        assert_eq!(parse_showinfo_pts(neg), Some(Some(-1024)));
        let nopts = "[Parsed_showinfo_1 @ 0x1] n:   3 pts:NOPTS pts_time:NOPTS";
        assert_eq!(parse_showinfo_pts(nopts), Some(None));
        assert_eq!(
            parse_showinfo_pts("[Parsed_showinfo_1 @ 0x1]   color_range:tv"),
            None
        );
        assert_eq!(parse_showinfo_pts("frame=  10 fps=0.0"), None);
    }
}
