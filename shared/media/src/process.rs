//! Draining a child's stderr on a thread and keeping its last lines.
//!
//! Why: ffmpeg writes its log to stderr while we read or write its stdin and
//! stdout. If nobody reads stderr, the pipe fills (64 KiB on Linux), ffmpeg
//! blocks, and both sides wait forever. A thread reads it continuously, hands
//! each line to a callback (the decoder uses this to learn each frame's
//! timestamp) and keeps the last [`TAIL_LINES`] lines for error messages.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use ffmpeg_sidecar::child::FfmpegChild;

use crate::error::{MediaError, StderrTail};
use crate::tools::Tool;

/// How many stderr lines errors quote.
pub(crate) const TAIL_LINES: usize = 20;

/// A thread draining one child's stderr.
pub(crate) struct StderrDrain {
    handle: Option<JoinHandle<()>>,
    tail: Arc<Mutex<VecDeque<String>>>,
}

impl StderrDrain {
    /// Starts draining `stderr`. `on_line` sees every line; lines for which it
    /// returns `false` are left out of the tail (per-frame chatter).
    pub(crate) fn start<R, F>(stderr: R, mut on_line: F) -> Self
    where
        R: Read + Send + 'static,
        F: FnMut(&str) -> bool + Send + 'static,
    {
        let tail = Arc::new(Mutex::new(VecDeque::with_capacity(TAIL_LINES + 1)));
        let thread_tail = Arc::clone(&tail);
        let handle = std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr);
            let mut raw = Vec::new();
            loop {
                raw.clear();
                match reader.read_until(b'\n', &mut raw) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&raw);
                // ffmpeg ends progress lines with '\r'; treat those as breaks too.
                for line in text.split(['\n', '\r']).filter(|l| !l.trim().is_empty()) {
                    if on_line(line) {
                        let mut tail = thread_tail.lock().unwrap_or_else(|e| e.into_inner());
                        tail.push_back(line.to_string());
                        while tail.len() > TAIL_LINES {
                            tail.pop_front();
                        }
                    }
                }
            }
        });
        StderrDrain {
            handle: Some(handle),
            tail,
        }
    }

    /// Starts draining with no per-line processing.
    pub(crate) fn plain<R: Read + Send + 'static>(stderr: R) -> Self {
        Self::start(stderr, |_| true)
    }

    /// The tail collected so far (the process may still be running).
    pub(crate) fn snapshot(&self) -> StderrTail {
        let tail = self.tail.lock().unwrap_or_else(|e| e.into_inner());
        StderrTail(tail.iter().cloned().collect::<Vec<_>>().join("\n"))
    }

    /// Waits until the child closed stderr (it exited or was killed) and
    /// returns the tail.
    pub(crate) fn finish(mut self) -> StderrTail {
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
        self.snapshot()
    }
}

/// The last [`TAIL_LINES`] non-empty lines of a captured stderr.
pub(crate) fn tail_of(text: &str) -> String {
    let lines: Vec<&str> = text
        .split(['\n', '\r'])
        .filter(|l| !l.trim().is_empty())
        .collect();
    lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
}

/// Kills a child (if still running) and reaps it so no zombie is left.
pub(crate) fn kill_and_reap(child: &mut FfmpegChild) {
    let _ = child.kill();
    let _ = child.as_inner_mut().wait();
}

/// How an ffmpeg run that was waited for ended: `Ok` on success, else
/// [`MediaError::ProcessFailed`] with its status, or [`MediaError::Pipe`]
/// when waiting failed; `action` says what it was doing.
pub(crate) fn ffmpeg_exit(
    status: std::io::Result<std::process::ExitStatus>,
    action: String,
    stderr: StderrTail,
) -> Result<(), MediaError> {
    match status {
        Ok(s) if s.success() => Ok(()),
        Ok(s) => Err(MediaError::ProcessFailed {
            tool: Tool::Ffmpeg,
            action,
            status: s.to_string(),
            stderr,
        }),
        Err(source) => Err(MediaError::Pipe {
            action,
            source,
            stderr,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_last_lines() {
        let text: String = (0..30).map(|i| format!("line {i}\n")).collect();
        let tail = tail_of(&text);
        assert!(tail.starts_with("line 10"));
        assert!(tail.ends_with("line 29"));
    }

    #[test]
    fn drain_filters_and_keeps_tail() {
        let input: Vec<u8> = b"keep 1\nskip\r\nkeep 2\n".to_vec();
        let drain = StderrDrain::start(std::io::Cursor::new(input), |l| !l.starts_with("skip"));
        assert_eq!(drain.finish().0, "keep 1\nkeep 2");
    }
}
